//! The executor every long-lived piece runs on, its worker threads, and
//! ownership of the tasks spawned on it.
//!
//! Libraries spawn only through a [`Spawner`] handed to them, never on a
//! global executor (smol `src/spawn.rs` keeps that one for tests and small
//! programs). Worker threads run the executor until told to stop the way
//! async-executor's own `Executor` example does: each races `run` against a
//! channel that [`Runtime`]'s drop closes.

use std::fmt;
use std::future::Future;
use std::num::NonZeroUsize;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::thread::{self, JoinHandle};

use async_channel::Sender;
use async_executor::Executor;
use futures_lite::FutureExt;

use crate::shutdown::Shutdown;

/// A handle to a spawned future; re-exported from async-executor.
///
/// Await it for the output. **Dropping it cancels the task**; call
/// [`Task::detach`] only for a task that holds a [`Shutdown`] (see
/// [`Spawner::detach_with`]), otherwise keep it in [`Tasks`].
pub use async_executor::Task;

/// Owns the executor and its worker threads.
///
/// Dropping it (or calling [`shutdown`](Self::shutdown)) stops the workers
/// and joins them; tasks still on the executor are cancelled once the last
/// [`Spawner`] is gone too.
pub struct Runtime {
    /// Shared with every [`Spawner`] and worker thread.
    executor: Arc<Executor<'static>>,
    /// Never sent on: closing it is what tells the workers to return.
    stop: Sender<()>,
    /// Joined on drop, so no worker outlives the runtime.
    workers: Vec<JoinHandle<()>>,
}

impl fmt::Debug for Runtime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Runtime")
            .field("workers", &self.workers.len())
            .field("executor", &self.executor)
            .finish()
    }
}

impl Runtime {
    /// Starts an executor driven by `threads` OS threads named
    /// `cookim-worker-N`; `0` means one per available CPU but one, because
    /// the thread in [`block_on`](Self::block_on) runs the executor too (a
    /// thread more than cores only adds context switches).
    ///
    /// # Errors
    ///
    /// The OS refused to start a thread; the ones already started are
    /// stopped and joined before this returns.
    ///
    /// # Examples
    ///
    /// ```
    /// # extern crate cookim_runtime as runtime;
    /// # fn main() -> std::io::Result<()> {
    /// let rt = runtime::Runtime::new(2)?;
    /// let task = rt.spawner().spawn(async { 6 * 7 });
    /// assert_eq!(rt.block_on(task), 42);
    /// # Ok(())
    /// # }
    /// ```
    pub fn new(threads: usize) -> std::io::Result<Runtime> {
        let threads = match threads {
            0 => thread::available_parallelism()
                .map_or(1, NonZeroUsize::get)
                .saturating_sub(1)
                .max(1),
            n => n,
        };
        let (stop, stopped) = async_channel::bounded::<()>(1);
        let mut rt = Runtime {
            executor: Arc::new(Executor::new()),
            stop,
            workers: Vec::with_capacity(threads),
        };
        for n in 0..threads {
            let executor = Arc::clone(&rt.executor);
            let stopped = stopped.clone();
            let worker = thread::Builder::new()
                .name(format!("cookim-worker-{n}"))
                .spawn(move || {
                    // `recv` only returns once `stop` is closed: nothing is
                    // ever sent on it.
                    let _closed = async_io::block_on(executor.run(stopped.recv()));
                });
            // On error `rt` drops here, which stops and joins the workers
            // already started.
            rt.workers.push(worker?);
        }
        tracing::debug!(threads, "runtime started");
        Ok(rt)
    }

    /// A handle for spawning tasks on this runtime.
    pub fn spawner(&self) -> Spawner {
        Spawner {
            executor: Arc::clone(&self.executor),
        }
    }

    /// Runs `fut` to completion on the calling thread, which also runs the
    /// executor's tasks meanwhile; this is the program's entry point.
    ///
    /// Do not call it from inside a task: it blocks the thread.
    pub fn block_on<T>(&self, fut: impl Future<Output = T>) -> T {
        async_io::block_on(self.executor.run(fut))
    }

    /// Stops the worker threads and joins them; same as dropping the
    /// runtime, spelled out for call sites where the order matters.
    pub fn shutdown(self) {
        drop(self);
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        self.stop.close();
        let me = thread::current().id();
        for worker in self.workers.drain(..) {
            // A runtime dropped from one of its own tasks cannot join the
            // thread it runs on; that thread exits once the task returns.
            if worker.thread().id() == me {
                continue;
            }
            if worker.join().is_err() {
                tracing::error!("runtime worker thread panicked");
            }
        }
        tracing::debug!("runtime stopped");
    }
}

/// A cheap, cloneable handle for spawning tasks on a [`Runtime`].
///
/// Holding one keeps the executor (not the worker threads) alive.
#[derive(Clone, Debug)]
pub struct Spawner {
    /// The runtime's executor.
    executor: Arc<Executor<'static>>,
}

impl Spawner {
    /// Spawns `fut`; the returned [`Task`] must be awaited or kept (see
    /// [`Tasks`]), since dropping it cancels the future.
    ///
    /// A panic in `fut` is caught by the executor and resumed in whoever
    /// awaits the task; actors should use
    /// [`spawn_actor`](Self::spawn_actor), which never panics outward.
    pub fn spawn<T: Send + 'static>(
        &self,
        fut: impl Future<Output = T> + Send + 'static,
    ) -> Task<T> {
        self.executor.spawn(fut)
    }

    /// Spawns an actor's task with failure isolation.
    ///
    /// An `Err` the actor returns is logged at `warn`, a panic at `error`
    /// (with its message when it has one); either way the task then ends
    /// normally, so the process and every other actor go on. The actor's
    /// [`Inbox`](crate::Inbox) is dropped with its future, so every
    /// [`Mailbox`](crate::Mailbox) to it reports
    /// [`Error::Closed`](crate::Error::Closed) from then on.
    ///
    /// `name` identifies the actor in logs and in the `actor` span.
    pub fn spawn_actor<F, E>(&self, name: &'static str, fut: F) -> Task<()>
    where
        F: Future<Output = Result<(), E>> + Send + 'static,
        E: fmt::Display + 'static,
    {
        // Boxed for the same reason as in `detach_with_grace`: `supervise` keeps its argument and
        // the future it wraps it in.
        self.executor
            .spawn(crate::actor::supervise(name, Box::pin(fut)))
    }

    /// Spawns `fut` detached: it is expected to end by itself when `shutdown`
    /// is signalled (a websocket's writer sends its close frame), and is
    /// dropped only if it has not `grace` after the signal. It holds a clone
    /// of `shutdown` until it ends, so
    /// [`ShutdownTrigger::wait_done`](crate::ShutdownTrigger::wait_done)
    /// waits for it.
    pub fn detach_with_grace<F>(&self, fut: F, shutdown: &Shutdown, grace: std::time::Duration)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let shutdown = shutdown.clone();
        // Boxed: a future captured by the block and then moved into `Or` would be laid out
        // twice in the task (one connection's task was 13 KB instead of 7).
        let fut = Box::pin(fut);
        self.executor
            .spawn(async move {
                fut.or(async {
                    shutdown.wait().await;
                    if !grace.is_zero() {
                        crate::sleep(grace).await;
                    }
                })
                .await;
                // `shutdown` is dropped only here, after `fut`: that is the
                // "done" report.
                drop(shutdown);
            })
            .detach();
    }

    /// Spawns `fut` detached, bound to `shutdown`: it is dropped (cancelled
    /// at its current await point) when the stop is signalled, and it holds
    /// a clone of `shutdown` until then, so
    /// [`ShutdownTrigger::wait_done`](crate::ShutdownTrigger::wait_done)
    /// waits for it.
    ///
    /// For work that needs its own cleanup on stop, spawn it with a
    /// [`Shutdown`] it races itself, and keep the [`Task`].
    pub fn detach_with<F>(&self, fut: F, shutdown: &Shutdown)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        self.detach_with_grace(fut, shutdown, std::time::Duration::ZERO);
    }
}

/// A set of owned tasks: what a parent keeps so none of its children leak.
///
/// Dropping a `Tasks` cancels every task in it (dropping a [`Task`]
/// cancels it); the futures themselves are dropped by the executor
/// shortly after, or by [`cancel_all`](Self::cancel_all) before it
/// returns.
#[derive(Debug, Default)]
pub struct Tasks {
    /// Tasks not yet reaped; finished ones linger until [`reap`](Self::reap).
    tasks: Vec<Task<()>>,
}

impl Tasks {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Takes ownership of `task`.
    pub fn push(&mut self, task: Task<()>) {
        self.tasks.push(task);
    }

    /// How many tasks are held (finished ones included until
    /// [`reap`](Self::reap)).
    pub fn len(&self) -> usize {
        self.tasks.len()
    }

    /// Whether no task is held.
    pub fn is_empty(&self) -> bool {
        self.tasks.is_empty()
    }

    /// Drops the tasks that have finished, so a long-lived parent (an
    /// accept loop) does not accumulate handles.
    pub fn reap(&mut self) {
        self.tasks.retain(|t| !t.is_finished());
    }

    /// Waits for every task to finish on its own.
    ///
    /// A task that panicked is logged at `error` and does not stop the
    /// wait for the others.
    pub async fn join_all(self) {
        for task in self.tasks {
            if let Err(panic) = AssertUnwindSafe(task).catch_unwind().await {
                let message = crate::actor::panic_message(panic.as_ref());
                tracing::error!(panic = message, "owned task panicked");
            }
        }
    }

    /// Cancels every task and waits until each future has been dropped,
    /// so whatever they held (sockets, guards) is released on return.
    pub async fn cancel_all(self) {
        for task in self.tasks {
            task.cancel().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::Duration;

    use futures_lite::future;

    use super::*;
    use crate::shutdown::shutdown;
    use crate::timer::deadline;

    const GUARD: Duration = Duration::from_secs(10);

    type TestResult = std::result::Result<(), Box<dyn std::error::Error>>;

    /// Sets its flag when dropped, i.e. when the future owning it is gone.
    struct DropFlag(Arc<AtomicBool>);

    impl Drop for DropFlag {
        fn drop(&mut self) {
            self.0.store(true, Ordering::SeqCst);
        }
    }

    /// A lone sender is the drop guard the receiver can await: its channel
    /// closes when the future owning it is dropped.
    type DropSignal = Sender<()>;

    #[test]
    fn runtime_runs_spawned_tasks() -> TestResult {
        let rt = Runtime::new(2)?;
        let spawner = rt.spawner();
        let sum = rt.block_on(async {
            let tasks: Vec<_> = (1..=4u32)
                .map(|n| spawner.spawn(async move { n }))
                .collect();
            let mut sum = 0;
            for t in tasks {
                sum += deadline(GUARD, t).await?;
            }
            Ok::<_, crate::Error>(sum)
        })?;
        assert_eq!(sum, 10);
        Ok(())
    }

    #[test]
    fn workers_are_named_threads() -> TestResult {
        let rt = Runtime::new(2)?;
        // Await without driving the executor here, so a worker must run it.
        let task = rt
            .spawner()
            .spawn(async { thread::current().name().map(str::to_owned) });
        let name = async_io::block_on(deadline(GUARD, task))?;
        assert!(
            name.as_deref()
                .is_some_and(|n| n.starts_with("cookim-worker-")),
            "{name:?}"
        );
        Ok(())
    }

    #[test]
    fn zero_threads_means_one_per_cpu() -> TestResult {
        let rt = Runtime::new(0)?;
        assert!(!rt.workers.is_empty());
        Ok(())
    }

    #[test]
    fn drop_joins_workers() -> TestResult {
        let rt = Runtime::new(2)?;
        let dropped = Arc::new(AtomicBool::new(false));
        let flag = DropFlag(Arc::clone(&dropped));
        rt.spawner()
            .spawn(async move {
                let _flag = flag;
                future::pending::<()>().await;
            })
            .detach();
        // Every worker holds the executor until it exits; only once they
        // are all joined does the runtime's own handle drop the executor,
        // and with it the pending task, before `drop` returns.
        drop(rt);
        assert!(dropped.load(Ordering::SeqCst));
        Ok(())
    }

    #[test]
    fn dropping_tasks_cancels_them() -> TestResult {
        let rt = Runtime::new(1)?;
        let spawner = rt.spawner();
        rt.block_on(async {
            let (started_tx, started) = async_channel::bounded::<()>(1);
            let (guard_tx, guard_dropped) = async_channel::bounded::<()>(1);
            let mut tasks = Tasks::new();
            let guard: DropSignal = guard_tx;
            tasks.push(spawner.spawn(async move {
                let _guard = guard;
                let _ = started_tx.send(()).await;
                future::pending::<()>().await;
            }));
            assert_eq!(tasks.len(), 1);
            deadline(GUARD, started.recv()).await??;
            drop(tasks);
            // The guard's channel closes when the cancelled future is dropped.
            assert!(deadline(GUARD, guard_dropped.recv()).await?.is_err());
            Ok(())
        })
    }

    #[test]
    fn cancel_all_drops_futures_before_returning() -> TestResult {
        let rt = Runtime::new(2)?;
        let spawner = rt.spawner();
        let flags: Vec<_> = (0..3).map(|_| Arc::new(AtomicBool::new(false))).collect();
        let mut tasks = Tasks::new();
        for flag in &flags {
            let flag = DropFlag(Arc::clone(flag));
            tasks.push(spawner.spawn(async move {
                let _flag = flag;
                future::pending::<()>().await;
            }));
        }
        rt.block_on(deadline(GUARD, tasks.cancel_all()))?;
        assert!(flags.iter().all(|f| f.load(Ordering::SeqCst)));
        Ok(())
    }

    #[test]
    fn join_all_waits_and_survives_a_panic() -> TestResult {
        let rt = Runtime::new(1)?;
        let spawner = rt.spawner();
        let done = Arc::new(AtomicBool::new(false));
        let mut tasks = Tasks::new();
        tasks.push(spawner.spawn(async { panic!("task failed on purpose") }));
        let flag = Arc::clone(&done);
        tasks.push(spawner.spawn(async move { flag.store(true, Ordering::SeqCst) }));
        rt.block_on(deadline(GUARD, tasks.join_all()))?;
        assert!(done.load(Ordering::SeqCst));
        Ok(())
    }

    #[test]
    fn reap_drops_finished_tasks() -> TestResult {
        let rt = Runtime::new(1)?;
        let spawner = rt.spawner();
        let (release_tx, release) = async_channel::bounded::<()>(1);
        let mut quick = spawner.spawn(async {});
        // Awaiting through `&mut` completes it but keeps the handle.
        rt.block_on(deadline(GUARD, &mut quick))?;
        assert!(quick.is_finished());

        let mut tasks = Tasks::new();
        tasks.push(quick);
        tasks.push(spawner.spawn(async move {
            let _ = release.recv().await;
        }));
        tasks.reap();
        assert_eq!(tasks.len(), 1, "only the blocked task remains");
        release_tx.close();
        rt.block_on(deadline(GUARD, tasks.join_all()))?;
        Ok(())
    }

    #[test]
    fn detached_task_stops_on_shutdown_and_reports_done() -> TestResult {
        let rt = Runtime::new(2)?;
        let spawner = rt.spawner();
        let (trigger, shutdown) = shutdown();
        let (guard_tx, guard_dropped) = async_channel::bounded::<()>(1);
        let guard: DropSignal = guard_tx;
        spawner.detach_with(
            async move {
                let _guard = guard;
                future::pending::<()>().await;
            },
            &shutdown,
        );
        drop(shutdown);
        rt.block_on(async {
            trigger.wait_done(GUARD).await?;
            assert!(guard_dropped.recv().await.is_err());
            Ok(())
        })
    }
}
