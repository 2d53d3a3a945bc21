//! The bounded pool of worker threads that runs outbound, blocking work (registries,
//! Notary, the Kubernetes API) off the event loop.
//!
//! The loop submits a job tagged with the connection it belongs to; a worker runs it and
//! sends the result back over a channel, then wakes the loop through its `mio::Waker`. The
//! loop never blocks on a worker: submission fails at once when the queue is full.

use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread;

/// A unit of outbound work producing a value of type `T`.
pub type Job<T> = Box<dyn FnOnce() -> T + Send + 'static>;

/// The pool. `K` identifies who waits for the result (a connection slot and generation).
pub struct WorkerPool<K, T> {
    jobs: Option<SyncSender<(K, Job<T>)>>,
    results: Receiver<(K, T)>,
    threads: Vec<thread::JoinHandle<()>>,
}

/// Why a job was not accepted.
#[derive(Debug, PartialEq, Eq)]
pub enum SubmitError {
    /// Every worker is busy and the queue is full; try again later or fail the request.
    QueueFull,
    /// The pool is shutting down.
    Closed,
}

impl<K: Send + 'static, T: Send + 'static> WorkerPool<K, T> {
    /// Starts `threads` workers with room for `queue` waiting jobs. `wake` is called after
    /// each result is sent (the loop passes `mio::Waker::wake`).
    pub fn new(
        threads: usize,
        queue: usize,
        wake: impl Fn() + Send + Sync + 'static,
    ) -> std::io::Result<WorkerPool<K, T>> {
        let (job_tx, job_rx) = mpsc::sync_channel::<(K, Job<T>)>(queue);
        let (result_tx, results) = mpsc::channel();
        let job_rx = Arc::new(Mutex::new(job_rx));
        let wake = Arc::new(wake);
        let mut handles = Vec::with_capacity(threads);
        for i in 0..threads.max(1) {
            let job_rx = Arc::clone(&job_rx);
            let result_tx = result_tx.clone();
            let wake = Arc::clone(&wake);
            let handle = thread::Builder::new()
                .name(format!("tastevin-worker-{i}"))
                .stack_size(256 * 1024)
                .spawn(move || loop {
                    let next = match job_rx.lock() {
                        Ok(rx) => rx.recv(),
                        Err(_) => return,
                    };
                    let Ok((key, job)) = next else { return };
                    let value = job();
                    if result_tx.send((key, value)).is_err() {
                        return;
                    }
                    wake();
                })?;
            handles.push(handle);
        }
        Ok(WorkerPool {
            jobs: Some(job_tx),
            results,
            threads: handles,
        })
    }

    /// Queues a job without blocking.
    pub fn submit(&self, key: K, job: Job<T>) -> Result<(), SubmitError> {
        let jobs = self.jobs.as_ref().ok_or(SubmitError::Closed)?;
        jobs.try_send((key, job)).map_err(|e| match e {
            TrySendError::Full(_) => SubmitError::QueueFull,
            TrySendError::Disconnected(_) => SubmitError::Closed,
        })
    }

    /// Results that have arrived, without blocking.
    pub fn finished(&self) -> impl Iterator<Item = (K, T)> + '_ {
        self.results.try_iter()
    }
}

impl<K, T> Drop for WorkerPool<K, T> {
    fn drop(&mut self) {
        // Closing the queue ends each worker after its current job.
        self.jobs = None;
        for handle in self.threads.drain(..) {
            let _ = handle.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Barrier;
    use std::time::{Duration, Instant};

    #[test]
    fn results_come_back_with_their_key_and_wake_the_loop() {
        let wakes = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&wakes);
        let pool: WorkerPool<u32, u32> = WorkerPool::new(2, 8, move || {
            counter.fetch_add(1, Ordering::SeqCst);
        })
        .unwrap();
        for k in 0..4 {
            pool.submit(k, Box::new(move || k * 10)).unwrap();
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut got = Vec::new();
        while got.len() < 4 && Instant::now() < deadline {
            got.extend(pool.finished());
            thread::sleep(Duration::from_millis(1));
        }
        got.sort();
        assert_eq!(got, vec![(0, 0), (1, 10), (2, 20), (3, 30)]);
        assert_eq!(wakes.load(Ordering::SeqCst), 4);
    }

    #[test]
    fn a_full_queue_refuses_instead_of_blocking() {
        let gate = Arc::new(Barrier::new(2));
        let pool: WorkerPool<u32, ()> = WorkerPool::new(1, 1, || {}).unwrap();
        let g = Arc::clone(&gate);
        pool.submit(
            0,
            Box::new(move || {
                g.wait();
            }),
        )
        .unwrap();
        // The worker may not have taken job 0 yet; fill until refused.
        let mut refused = false;
        for k in 1..4 {
            if pool.submit(k, Box::new(|| {})) == Err(SubmitError::QueueFull) {
                refused = true;
                break;
            }
        }
        assert!(refused);
        gate.wait();
    }
}
