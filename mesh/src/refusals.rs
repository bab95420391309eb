//! Which refusals to log: a peer failing authentication is worth a warning (a node with the
//! wrong key, or someone probing the port), but not one line per attempt. Every refusal is
//! counted; [`RefusalLog`] lets through one warning per address per [`LOG_INTERVAL`], and
//! at most [`MAX_LOGS`] in all per interval, so many addresses cannot flood the log either.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// How long after a warning about an address the next refusal from it stays silent.
pub const LOG_INTERVAL: Duration = Duration::from_secs(60);

/// Warnings per [`LOG_INTERVAL`] across all addresses.
pub const MAX_LOGS: u32 = 16;

/// Addresses remembered; past it, new addresses are logged under [`MAX_LOGS`] only.
pub const MAX_ADDRS: usize = 1024;

/// When each address was last logged. Time is passed in.
#[derive(Debug, Default)]
pub struct RefusalLog {
    /// Last warning per address.
    last: HashMap<IpAddr, Instant>,
    /// Start of the current interval of the global cap, and warnings in it.
    interval: Option<(Instant, u32)>,
}

impl RefusalLog {
    /// Whether a refusal from `ip` at `now` should be logged (and is now recorded as logged).
    pub fn should_log(&mut self, ip: IpAddr, now: Instant) -> bool {
        if self
            .last
            .get(&ip)
            .is_some_and(|at| now.saturating_duration_since(*at) < LOG_INTERVAL)
        {
            return false;
        }
        let (start, count) = match self.interval {
            Some((start, count)) if now.saturating_duration_since(start) < LOG_INTERVAL => {
                (start, count)
            }
            _ => (now, 0),
        };
        if count >= MAX_LOGS {
            return false;
        }
        self.interval = Some((start, count + 1));
        if self.last.len() >= MAX_ADDRS {
            self.last
                .retain(|_, at| now.saturating_duration_since(*at) < LOG_INTERVAL);
        }
        if self.last.len() < MAX_ADDRS {
            self.last.insert(ip, now);
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_warning_per_address_per_interval_and_a_global_cap() {
        let t0 = Instant::now();
        let mut log = RefusalLog::default();
        let a = IpAddr::from([10, 0, 0, 1]);
        assert!(log.should_log(a, t0));
        assert!(!log.should_log(a, t0 + Duration::from_secs(1)));
        assert!(!log.should_log(a, t0 + LOG_INTERVAL - Duration::from_millis(1)));
        assert!(log.should_log(a, t0 + LOG_INTERVAL));

        let mut log = RefusalLog::default();
        let logged = (0..100u8)
            .filter(|i| log.should_log(IpAddr::from([10, 0, 1, *i]), t0))
            .count();
        assert_eq!(logged, MAX_LOGS as usize);
        assert!(log.should_log(IpAddr::from([10, 0, 2, 1]), t0 + LOG_INTERVAL));
    }

    #[test]
    fn the_address_table_is_bounded() {
        let t0 = Instant::now();
        let mut log = RefusalLog::default();
        for i in 0..(MAX_ADDRS as u32 * 2) {
            let at = t0 + LOG_INTERVAL * (i / MAX_LOGS);
            log.should_log(IpAddr::from(i.to_be_bytes()), at);
            assert!(log.last.len() <= MAX_ADDRS);
        }
    }
}
