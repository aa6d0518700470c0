//! The reader threads of an embedded store.
//!
//! Reads run on a few threads of the store's own rather than on tokio's blocking pool: when
//! thousands of grains recover at once, they queue here instead of growing the blocking pool to
//! hundreds of threads, and tokio's workers never wait on the disk.

use std::sync::{Arc, Mutex, PoisonError, mpsc};
use std::thread::JoinHandle;

use tokio::sync::oneshot;

use super::{Engine, ReadBatch, backend};
use crate::persistence::StoreError;

type Job<E> = Box<dyn FnOnce(&E) + Send>;

/// A store's reader threads; dropping the last handle lets them finish their queue and exit.
pub(super) struct Readers<E: Engine> {
    jobs: Option<mpsc::Sender<Job<E>>>,
    threads: Vec<JoinHandle<()>>,
}

impl<E: Engine> Readers<E> {
    /// Starts one reader per core, at least two and at most eight.
    pub(super) fn start(engine: &Arc<E>) -> Self {
        let count = std::thread::available_parallelism().map_or(2, |n| n.get().clamp(2, 8));
        let (jobs, queue) = mpsc::channel::<Job<E>>();
        let queue = Arc::new(Mutex::new(queue));
        let threads = (0..count)
            .map(|index| {
                let engine = Arc::clone(engine);
                let queue = Arc::clone(&queue);
                std::thread::Builder::new()
                    .name(format!("{}-reader-{index}", E::NAME))
                    .spawn(move || {
                        loop {
                            let job = queue.lock().unwrap_or_else(PoisonError::into_inner).recv();
                            match job {
                                Ok(job) => job(&engine),
                                Err(_) => return,
                            }
                        }
                    })
                    .expect("spawning a storage reader thread")
            })
            .collect();
        Self {
            jobs: Some(jobs),
            threads,
        }
    }

    /// Runs `read` against one read view of the store on a reader thread.
    pub(super) async fn run<T: Send + 'static>(
        &self,
        read: impl FnOnce(&mut dyn ReadBatch) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let closed = || StoreError::Closed { backend: E::NAME };
        let (reply, answer) = oneshot::channel();
        let job: Job<E> = Box::new(move |engine: &E| {
            let mut read = Some(read);
            let mut outcome = None;
            let viewed = engine.read(&mut |view| {
                if let Some(read) = read.take() {
                    outcome = Some(read(view));
                }
                Ok(())
            });
            let outcome = match (viewed, outcome) {
                (Err(message), _) => Err(backend::<E>(message)),
                (Ok(()), Some(outcome)) => outcome,
                (Ok(()), None) => Err(backend::<E>("the read did not run".to_string())),
            };
            let _ = reply.send(outcome);
        });
        self.jobs
            .as_ref()
            .ok_or_else(closed)?
            .send(job)
            .map_err(|_| closed())?;
        answer.await.map_err(|_| closed())?
    }
}

impl<E: Engine> Drop for Readers<E> {
    fn drop(&mut self) {
        drop(self.jobs.take());
        for thread in self.threads.drain(..) {
            if thread.join().is_err() {
                tracing::error!(backend = E::NAME, "a storage reader thread panicked");
            }
        }
    }
}
