//! Password hashing on a few dedicated threads of low priority, behind a bounded queue.
//!
//! argon2 takes 19 MiB and tens of milliseconds of CPU a hash. On the shared blocking pool,
//! 300 concurrent anonymous logins once took 5 GB, and even a bounded number kept growing the
//! process: glibc gives each thread that frees a large buffer an arena that keeps it, and the
//! blocking pool has many threads. Here `hash_workers` threads (one per core but one by
//! default) do every hash, so at most that many buffers are ever kept, and they run at a lower
//! priority (nice 10), so a login flood slows logins, not the chats on the same cores. At most
//! `hash_queue` hashes wait; more are refused at once ([`Busy`]).

use std::thread::JoinHandle;

/// A hash to run, and where its answer goes.
type Job = Box<dyn FnOnce() + Send>;

/// How much lower than the executor the hashing threads run (`nice` 10: the scheduler gives
/// a busy executor thread about ten times their share).
const NICENESS: i32 = 10;

/// The hashing threads and their queue. Dropping it lets the threads finish what is queued
/// and end.
#[derive(Debug)]
pub(crate) struct HashPool {
    jobs: async_channel::Sender<Job>,
    /// Kept so the threads are owned; they end when `jobs` closes.
    _threads: Vec<JoinHandle<()>>,
}

/// The hashing queue is full (or the pool is gone).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Busy;

impl HashPool {
    /// Starts `workers` threads (at least one) with a queue of `queued` jobs (at least one).
    ///
    /// # Errors
    /// The OS's, if a thread cannot be started.
    pub(crate) fn new(workers: usize, queued: usize) -> std::io::Result<HashPool> {
        let (jobs, queue) = async_channel::bounded::<Job>(queued.max(1));
        let threads = (0..workers.max(1))
            .map(|i| {
                let queue = queue.clone();
                std::thread::Builder::new()
                    .name(format!("cookim-hash-{i}"))
                    .spawn(move || {
                        // On Linux this lowers this thread only; if refused, hash at the
                        // normal priority.
                        if let Err(e) = rustix::process::nice(NICENESS) {
                            tracing::debug!(error = %e, "hashing thread keeps its priority");
                        }
                        while let Ok(job) = queue.recv_blocking() {
                            job();
                        }
                    })
            })
            .collect::<std::io::Result<Vec<_>>>()?;
        Ok(HashPool {
            jobs,
            _threads: threads,
        })
    }

    /// Runs `work` on a hashing thread and waits for its answer.
    ///
    /// # Errors
    /// [`Busy`] if `hash_queue` hashes are already waiting.
    pub(crate) async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, Busy> {
        let (answer, answered) = async_channel::bounded(1);
        let job: Job = Box::new(move || {
            // The caller may have gone (its request cancelled): nobody to tell.
            let _ = answer.try_send(work());
        });
        self.jobs.try_send(job).map_err(|_| Busy)?;
        answered.recv().await.map_err(|_| Busy)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_run_on_the_pool_and_the_queue_is_bounded() -> Result<(), Busy> {
        let pool = HashPool::new(1, 1).map_err(|_| Busy)?;
        smol::block_on(async {
            let name = pool
                .run(|| std::thread::current().name().map(str::to_owned))
                .await?;
            assert_eq!(name.as_deref(), Some("cookim-hash-0"));
            // Hold the only thread, so one job waits in the queue and fills it.
            let (release, held) = async_channel::bounded::<()>(1);
            let (started, running) = async_channel::bounded::<()>(1);
            let blocker = pool.run(move || {
                let _ = started.send_blocking(());
                let _ = held.recv_blocking();
            });
            let mut blocker = std::pin::pin!(blocker);
            assert!(
                futures_lite::future::poll_once(&mut blocker)
                    .await
                    .is_none()
            );
            running.recv().await.map_err(|_| Busy)?;
            let waiting = pool.run(|| 1);
            let mut waiting = std::pin::pin!(waiting);
            assert!(
                futures_lite::future::poll_once(&mut waiting)
                    .await
                    .is_none()
            );
            assert_eq!(pool.run(|| 2).await, Err(Busy), "the queue is full");
            release.send(()).await.map_err(|_| Busy)?;
            blocker.await?;
            assert_eq!(
                waiting.await?,
                1,
                "the queued one runs once the thread is free"
            );
            Ok(())
        })
    }
}
