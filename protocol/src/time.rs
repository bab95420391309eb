//! CookIM's `timestr`: `MM-dd HH:mm:ss` in the server's time zone, no year (§0 of the spec).
//! Times are epoch milliseconds passed in by the caller, with the zone as a UTC offset: this
//! crate reads no clock.

/// Milliseconds since the Unix epoch, as stored.
pub type Millis = i64;

/// Formats `epoch_ms` as a `timestr` for a zone `utc_offset_secs` east of UTC.
///
/// ```
/// // 2024-03-18 21:44:51 UTC
/// assert_eq!(cookim_protocol::time::timestr(1_710_798_291_000, 0), "03-18 21:44:51");
/// assert_eq!(cookim_protocol::time::timestr(1_710_798_291_000, 3600), "03-18 22:44:51");
/// ```
pub fn timestr(epoch_ms: Millis, utc_offset_secs: i32) -> String {
    let secs = epoch_ms.div_euclid(1000) + i64::from(utc_offset_secs);
    let days = secs.div_euclid(86_400);
    let of_day = secs.rem_euclid(86_400);
    let (_, month, day) = civil_from_days(days);
    format!(
        "{month:02}-{day:02} {:02}:{:02}:{:02}",
        of_day / 3600,
        of_day % 3600 / 60,
        of_day % 60
    )
}

/// Year, month (1-12) and day (1-31) of a day count since 1970-01-01 (proleptic Gregorian;
/// Howard Hinnant's `civil_from_days` algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    // Both are in range by construction (1..=31, 1..=12).
    (
        year,
        u32::try_from(month).unwrap_or(1),
        u32::try_from(day).unwrap_or(1),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_dates() {
        assert_eq!(timestr(0, 0), "01-01 00:00:00");
        assert_eq!(timestr(-1000, 0), "12-31 23:59:59");
        // 2000-02-29 12:00:00 UTC, a leap day.
        assert_eq!(timestr(951_825_600_000, 0), "02-29 12:00:00");
        // 2026-11-25 15:40:46 UTC, minus eight hours.
        assert_eq!(timestr(1_795_621_246_000, -8 * 3600), "11-25 07:40:46");
    }

    #[test]
    fn days_round_trip_over_centuries() {
        let mut last = (1969, 12, 31);
        for d in 0..200_000 {
            let now = civil_from_days(d);
            assert!(now > last, "{now:?} after {last:?}");
            last = now;
        }
    }
}
