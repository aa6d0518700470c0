//! Where benchmark tasks run: a tokio multi-thread runtime with two workers, or two actix
//! arbiters (actix actors are `!Send` and live on single-threaded arbiters, so two arbiters are
//! its equivalent of two workers).

use std::future::Future;
use std::sync::Arc;

use actix_rt::{Arbiter, ArbiterHandle, System, SystemRunner};
use tokio::runtime::{Handle, Runtime};
use tokio::sync::oneshot;

/// Worker threads given to every framework: tokio workers, or actix arbiters.
pub(crate) const WORKERS: usize = 2;

/// A cloneable handle that starts tasks on the benchmark's threads.
#[derive(Clone)]
pub(crate) enum Spawner {
    /// Tasks go to the tokio runtime, which decides which worker runs them.
    Tokio(Handle),
    /// Task `slot` goes to arbiter `slot % WORKERS`.
    Actix(Arc<[ArbiterHandle]>),
}

impl Spawner {
    /// Starts `task` and returns a future of its output. `slot` only matters for actix, whose
    /// tasks cannot move between threads.
    ///
    /// # Panics
    ///
    /// The returned future panics if the task panicked.
    pub(crate) fn spawn<T, F>(
        &self,
        slot: usize,
        task: F,
    ) -> impl Future<Output = T> + Send + use<T, F>
    where
        F: Future<Output = T> + Send + 'static,
        T: Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        self.start(slot, async move {
            let _ = tx.send(task.await);
        });
        async move { rx.await.expect("a benchmark task panicked") }
    }

    fn start(&self, slot: usize, task: impl Future<Output = ()> + Send + 'static) {
        match self {
            Spawner::Tokio(handle) => drop(handle.spawn(task)),
            Spawner::Actix(arbiters) => {
                let started = arbiters[slot % arbiters.len()].spawn(task);
                assert!(started, "actix arbiter {slot} is not running");
            }
        }
    }
}

/// Owns the threads of one framework's run.
pub(crate) struct Runner {
    spawner: Spawner,
    _threads: Threads,
}

enum Threads {
    Tokio {
        _runtime: Runtime,
    },
    Actix {
        _system: SystemRunner,
        arbiters: Vec<Arbiter>,
    },
}

impl Runner {
    /// A tokio multi-thread runtime with [`WORKERS`] workers.
    pub(crate) fn tokio() -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(WORKERS)
            .enable_all()
            .build()
            .expect("building the tokio runtime");
        Self {
            spawner: Spawner::Tokio(runtime.handle().clone()),
            _threads: Threads::Tokio { _runtime: runtime },
        }
    }

    /// An actix system with [`WORKERS`] arbiter threads. The system's own arbiter, on the calling
    /// thread, runs nothing: the main thread only waits for results.
    pub(crate) fn actix() -> Self {
        let system = System::new();
        let arbiters: Vec<Arbiter> = (0..WORKERS).map(|_| Arbiter::new()).collect();
        let handles: Arc<[ArbiterHandle]> = arbiters.iter().map(Arbiter::handle).collect();
        Self {
            spawner: Spawner::Actix(handles),
            _threads: Threads::Actix {
                _system: system,
                arbiters,
            },
        }
    }

    /// Runs `driver` as a task on slot 0 and blocks the calling thread until it finishes, so that
    /// all benchmark code runs on the framework's own threads.
    pub(crate) fn run<T, F>(&self, driver: impl FnOnce(Spawner) -> F) -> T
    where
        F: Future<Output = T> + Send + 'static,
        T: Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        let task = driver(self.spawner.clone());
        self.spawner.start(0, async move {
            let _ = tx.send(task.await);
        });
        rx.blocking_recv().expect("the benchmark driver panicked")
    }
}

impl Drop for Runner {
    fn drop(&mut self) {
        if let Threads::Actix { arbiters, .. } = &mut self._threads {
            for arbiter in arbiters.drain(..) {
                arbiter.stop();
                let _ = arbiter.join();
            }
        }
    }
}
