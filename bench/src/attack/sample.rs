//! What is sampled while an attack runs: the node's RSS (a thread reading `/proc/<pid>/status`)
//! and the latency of `GET /ping` (a task on smol's executor), both every [`EVERY`].

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures_lite::FutureExt;

use crate::stats::{Percentiles, latency_histogram, rss_kib};
use harness::client;

/// How often each is sampled.
pub const EVERY: Duration = Duration::from_millis(100);

/// A ping slower than this is given up and counted as failed, at this latency.
pub const PING_LIMIT: Duration = Duration::from_secs(5);

/// The samplers of one attack.
#[derive(Debug)]
pub struct Sampler {
    stop: Arc<AtomicBool>,
    rss_peak_kib: Arc<AtomicU64>,
    rss: std::thread::JoinHandle<()>,
    ping: smol::Task<(Percentiles, u64)>,
}

/// What they saw.
#[derive(Clone, Debug)]
pub struct Samples {
    /// The highest RSS read, KiB.
    pub rss_peak_kib: u64,
    /// `/ping` latency.
    pub ping: Percentiles,
    /// Pings that failed or took over [`PING_LIMIT`].
    pub ping_failures: u64,
}

impl Sampler {
    /// Starts sampling node `pid` serving at `addr`.
    pub fn start(addr: SocketAddr, pid: u32) -> Sampler {
        let stop = Arc::new(AtomicBool::new(false));
        let rss_peak_kib = Arc::new(AtomicU64::new(0));
        let rss = {
            let (stop, peak) = (stop.clone(), rss_peak_kib.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    if let Some(kib) = rss_kib(pid) {
                        peak.fetch_max(kib, Ordering::Relaxed);
                    }
                    std::thread::sleep(EVERY);
                }
            })
        };
        let ping = {
            let stop = stop.clone();
            smol::spawn(async move {
                let Ok(mut histogram) = latency_histogram() else {
                    return (Percentiles::default(), 0);
                };
                let mut failures = 0;
                while !stop.load(Ordering::Relaxed) {
                    let started = Instant::now();
                    let answer = async { client::get_status(addr, "/ping").await.ok() }
                        .or(async {
                            smol::Timer::after(PING_LIMIT).await;
                            None
                        })
                        .await;
                    if answer != Some(200) {
                        failures += 1;
                    }
                    let took = started.elapsed().min(PING_LIMIT);
                    let _ = histogram.record((took.as_micros() as u64).max(1));
                    smol::Timer::after(EVERY.saturating_sub(took)).await;
                }
                (Percentiles::of(&histogram), failures)
            })
        };
        Sampler {
            stop,
            rss_peak_kib,
            rss,
            ping,
        }
    }

    /// Stops sampling and returns what was seen.
    pub async fn finish(self) -> Samples {
        self.stop.store(true, Ordering::Relaxed);
        let (ping, ping_failures) = self.ping.await;
        let _ = self.rss.join();
        Samples {
            rss_peak_kib: self.rss_peak_kib.load(Ordering::Relaxed),
            ping,
            ping_failures,
        }
    }
}
