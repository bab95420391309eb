//! Token buckets: pure, keyed, bounded in memory. Time is an argument.

use std::collections::HashMap;
use std::hash::Hash;
use std::str::FromStr;
use std::time::{Duration, Instant};

/// A rate limit as the flags write it: `BURST/PERIOD` lets `BURST` through at once and refills
/// that many over `PERIOD` (`40/3s`: a burst of 40, then 13.3 a second); `off` lets all
/// through. `BURST` may carry a binary suffix `K`, `M` or `G` (for byte limits); `PERIOD` is a
/// number and `s`, `m`, `h` or `d`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rate {
    /// No limit.
    Off,
    /// At most `burst` at once, refilled evenly over `period`.
    Every {
        /// Most taken at once (and the bucket's size).
        burst: u64,
        /// Time to refill a whole bucket.
        period: Duration,
    },
}

impl Rate {
    /// `burst` per `period`.
    pub const fn every(burst: u64, period: Duration) -> Rate {
        Rate::Every { burst, period }
    }
}

impl FromStr for Rate {
    type Err = String;

    fn from_str(text: &str) -> Result<Rate, String> {
        let text = text.trim();
        if text.eq_ignore_ascii_case("off") {
            return Ok(Rate::Off);
        }
        let bad = || format!("{text:?} is not BURST/PERIOD (like 40/3s or 2G/1d) or off");
        let (burst, period) = text.split_once('/').ok_or_else(bad)?;
        let (digits, scale) = match burst.trim().char_indices().last() {
            Some((i, 'K' | 'k')) => (&burst[..i], 1 << 10),
            Some((i, 'M' | 'm')) => (&burst[..i], 1 << 20),
            Some((i, 'G' | 'g')) => (&burst[..i], 1 << 30),
            _ => (burst.trim(), 1),
        };
        let burst = digits
            .trim()
            .parse::<u64>()
            .ok()
            .and_then(|n| n.checked_mul(scale))
            .filter(|n| *n > 0)
            .ok_or_else(bad)?;
        let period = period.trim();
        let (count, unit) = period.split_at(period.len().saturating_sub(1));
        let unit_secs = match unit {
            "s" => 1,
            "m" => 60,
            "h" => 3600,
            "d" => 86_400,
            _ => return Err(bad()),
        };
        let count = if count.is_empty() {
            1
        } else {
            count.parse::<u64>().map_err(|_| bad())?
        };
        let secs = count
            .checked_mul(unit_secs)
            .filter(|s| *s > 0)
            .ok_or_else(bad)?;
        Ok(Rate::every(burst, Duration::from_secs(secs)))
    }
}

impl std::fmt::Display for Rate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Rate::Off => f.write_str("off"),
            Rate::Every { burst, period } => write!(f, "{burst}/{}s", period.as_secs()),
        }
    }
}

/// Why a bucket refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Refused {
    /// How long until the cost would fit.
    pub(crate) retry_after: Duration,
    /// Recent refusals for this key, this one included, fading at the refill rate (a
    /// client that keeps sending far over the limit piles them up and is cut off; one that
    /// slows down sheds them, whether or not some of its sends got through meanwhile).
    pub(crate) strikes: u32,
}

#[derive(Clone, Copy, Debug)]
struct Bucket {
    /// Tokens left at `at`.
    tokens: f64,
    at: Instant,
    /// Refusals, fading at the refill rate.
    strikes: f64,
}

/// Keys tracked before full buckets are swept; past it, and after the sweep, the oldest
/// entries go. A full bucket is the same as no entry, so sweeping changes no decision; the
/// cap keeps an attacker with many keys (addresses) from growing the map without bound.
const SWEEP_AT: usize = 4096;

/// One [`Rate`] applied per key.
#[derive(Debug)]
pub(crate) struct Buckets<K> {
    rate: Rate,
    max_keys: usize,
    map: HashMap<K, Bucket>,
}

impl<K: Hash + Eq + Clone> Buckets<K> {
    /// Buckets of `rate`, tracking at most `max_keys` keys that are not full.
    pub(crate) fn new(rate: Rate, max_keys: usize) -> Buckets<K> {
        Buckets {
            rate,
            max_keys: max_keys.max(1),
            map: HashMap::new(),
        }
    }

    /// Takes `cost` from `key`'s bucket at `now`, or says why not. A cost above the whole
    /// bucket is always refused.
    pub(crate) fn take(&mut self, key: &K, cost: u64, now: Instant) -> Result<(), Refused> {
        let Rate::Every { burst, period } = self.rate else {
            return Ok(());
        };
        let capacity = burst as f64;
        let per_sec = capacity / period.as_secs_f64();
        if self.map.len() >= SWEEP_AT.min(self.max_keys) && !self.map.contains_key(key) {
            self.sweep(now, capacity, per_sec);
        }
        let bucket = self.map.entry(key.clone()).or_insert(Bucket {
            tokens: capacity,
            at: now,
            strikes: 0.0,
        });
        let elapsed = now.saturating_duration_since(bucket.at).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * per_sec).min(capacity);
        bucket.strikes = (bucket.strikes - elapsed * per_sec).max(0.0);
        bucket.at = now;
        let cost = cost as f64;
        if cost <= bucket.tokens {
            bucket.tokens -= cost;
            return Ok(());
        }
        bucket.strikes += 1.0;
        let missing = (cost - bucket.tokens).min(capacity);
        Err(Refused {
            retry_after: Duration::from_secs_f64(missing / per_sec),
            strikes: bucket.strikes.ceil() as u32,
        })
    }

    /// Drops buckets that have refilled (as good as absent), then, if still at the cap, the
    /// ones that refill soonest.
    fn sweep(&mut self, now: Instant, capacity: f64, per_sec: f64) {
        let level =
            |b: &Bucket| b.tokens + now.saturating_duration_since(b.at).as_secs_f64() * per_sec;
        self.map.retain(|_, b| level(b) < capacity);
        if self.map.len() >= self.max_keys {
            let mut levels: Vec<(f64, K)> = self
                .map
                .iter()
                .map(|(k, b)| (level(b), k.clone()))
                .collect();
            levels.sort_by(|a, b| b.0.total_cmp(&a.0));
            let excess = self.map.len() + 1 - self.max_keys;
            for (_, key) in levels.into_iter().take(excess) {
                self.map.remove(&key);
            }
        }
    }

    /// Keys tracked now (for tests and counters).
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type TestResult = Result<(), String>;

    #[test]
    fn parses_the_flag_forms() -> TestResult {
        assert_eq!("off".parse::<Rate>()?, Rate::Off);
        assert_eq!(
            "40/3s".parse::<Rate>()?,
            Rate::every(40, Duration::from_secs(3))
        );
        assert_eq!(
            "2G/1d".parse::<Rate>()?,
            Rate::every(2 << 30, Duration::from_secs(86_400))
        );
        assert_eq!(
            "30/m".parse::<Rate>()?,
            Rate::every(30, Duration::from_secs(60))
        );
        for bad in ["", "40", "0/1s", "40/0s", "40/3x", "x/1s", "40/3", "-1/1s"] {
            assert!(bad.parse::<Rate>().is_err(), "{bad:?} should be refused");
        }
        Ok(())
    }

    #[test]
    fn a_person_is_never_limited_by_the_text_default() {
        // Ten texts a second for a minute, or a burst of twenty, always pass `40/3s`.
        let mut b = Buckets::new(Rate::every(40, Duration::from_secs(3)), 100);
        let start = Instant::now();
        for i in 0..600u64 {
            let now = start + Duration::from_millis(i * 100);
            assert_eq!(b.take(&"u", 1, now), Ok(()), "text {i}");
        }
        let mut b = Buckets::new(Rate::every(40, Duration::from_secs(3)), 100);
        for i in 0..20 {
            assert_eq!(b.take(&"u", 1, start), Ok(()), "burst {i}");
        }
    }

    #[test]
    fn refuses_at_burst_plus_one_and_refills() {
        let mut b = Buckets::new(Rate::every(5, Duration::from_secs(5)), 100);
        let t0 = Instant::now();
        for _ in 0..5 {
            assert_eq!(b.take(&1, 1, t0), Ok(()));
        }
        let refused = b.take(&1, 1, t0);
        assert!(matches!(refused, Err(Refused { strikes: 1, .. })));
        assert_eq!(b.take(&1, 1, t0).map_err(|r| r.strikes), Err(2));
        assert_eq!(b.take(&2, 1, t0), Ok(()), "another key has its own bucket");
        assert_eq!(b.take(&1, 1, t0 + Duration::from_secs(1)), Ok(()));
        assert!(b.take(&1, 6, t0 + Duration::from_secs(60)).is_err());
    }

    #[test]
    fn strikes_pile_up_under_a_flood_even_when_some_get_through() {
        // 5 a second, burst 5: a client sending 50 a second for 3 s gets some through as the
        // bucket refills, yet its strikes climb far past the burst.
        let mut b = Buckets::new(Rate::every(5, Duration::from_secs(1)), 100);
        let t0 = Instant::now();
        let mut strikes = 0;
        for i in 0..150u64 {
            if let Err(r) = b.take(&0, 1, t0 + Duration::from_millis(i * 20)) {
                strikes = r.strikes;
            }
        }
        assert!(strikes > 50, "{strikes}");
        // A client that backs off sheds them.
        let later = t0 + Duration::from_secs(60);
        assert_eq!(b.take(&0, 1, later), Ok(()));
        for _ in 0..4 {
            assert_eq!(b.take(&0, 1, later), Ok(()));
        }
        assert_eq!(b.take(&0, 1, later).map_err(|r| r.strikes), Err(1));
    }

    #[test]
    fn memory_stays_bounded_under_many_keys() {
        let mut b = Buckets::new(Rate::every(1, Duration::from_secs(3600)), 1000);
        let t0 = Instant::now();
        for key in 0..100_000u32 {
            let _ = b.take(&key, 1, t0);
        }
        assert!(b.len() <= 1000, "{} keys kept", b.len());
    }

    #[test]
    fn off_lets_everything_through() {
        let mut b = Buckets::new(Rate::Off, 1);
        let t0 = Instant::now();
        for _ in 0..10_000 {
            assert_eq!(b.take(&0, 1_000_000, t0), Ok(()));
        }
    }
}
