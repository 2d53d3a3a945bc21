//! The bounded pool of worker threads that runs outbound, blocking work (registries,
//! Notary, the Kubernetes API) off the event loop.
//!
//! The loop submits a job tagged with the connection it belongs to; a worker runs it and
//! sends the result back over a channel, then wakes the loop through its `mio::Waker`. The
//! loop never blocks on a worker: submission fails at once when the queue is full.
//!
//! The queue's bound is a count of waiting jobs, not a ring allocated up front: a ring for
//! `workers × 64` jobs would be 160 KiB of memory touched at start-up, a third of the idle
//! webhook's own heap.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::thread;

/// A unit of outbound work producing a value of type `T`.
pub type Job<T> = Box<dyn FnOnce() -> T + Send + 'static>;

/// Jobs waiting for a worker, shared by the workers.
type Queue<K, T> = Arc<Mutex<Receiver<(K, Job<T>)>>>;

/// The pool. `K` identifies who waits for the result (a connection slot and generation).
///
/// Threads are started on demand, up to the bound, when a job arrives and none is idle: an
/// idle webhook that only answers static policies keeps no worker threads at all.
pub struct WorkerPool<K, T> {
    jobs: Option<Sender<(K, Job<T>)>>,
    queue: Queue<K, T>,
    /// Jobs submitted and not yet taken by a worker, at most `max_waiting`.
    waiting: Arc<AtomicUsize>,
    max_waiting: usize,
    result_sender: Sender<(K, T)>,
    results: Receiver<(K, T)>,
    wake: Arc<dyn Fn() + Send + Sync>,
    idle: Arc<AtomicUsize>,
    max_threads: usize,
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
    /// A pool of at most `threads` workers with room for `queue` waiting jobs. `wake` is
    /// called after each result is sent (the loop passes `mio::Waker::wake`).
    pub fn new(
        threads: usize,
        queue: usize,
        wake: impl Fn() + Send + Sync + 'static,
    ) -> WorkerPool<K, T> {
        let (job_tx, job_rx) = mpsc::channel::<(K, Job<T>)>();
        let (result_sender, results) = mpsc::channel();
        WorkerPool {
            jobs: Some(job_tx),
            queue: Arc::new(Mutex::new(job_rx)),
            waiting: Arc::new(AtomicUsize::new(0)),
            max_waiting: queue.max(1),
            result_sender,
            results,
            wake: Arc::new(wake),
            idle: Arc::new(AtomicUsize::new(0)),
            max_threads: threads.max(1),
            threads: Vec::new(),
        }
    }

    /// Queues a job without blocking, starting a worker if none is idle and the bound allows.
    pub fn submit(&mut self, key: K, job: Job<T>) -> Result<(), SubmitError> {
        let jobs = self.jobs.as_ref().ok_or(SubmitError::Closed)?;
        // Only this thread adds to `waiting`, so a count read below the bound stays below it.
        if self.waiting.load(Ordering::Acquire) >= self.max_waiting {
            return Err(SubmitError::QueueFull);
        }
        self.waiting.fetch_add(1, Ordering::AcqRel);
        if jobs.send((key, job)).is_err() {
            self.waiting.fetch_sub(1, Ordering::AcqRel);
            return Err(SubmitError::Closed);
        }
        if self.idle.load(Ordering::Acquire) == 0 && self.threads.len() < self.max_threads {
            // A failed spawn leaves the job queued for the workers that exist.
            if let Ok(handle) = self.spawn_worker() {
                self.threads.push(handle);
            }
        }
        Ok(())
    }

    fn spawn_worker(&self) -> std::io::Result<thread::JoinHandle<()>> {
        let queue = Arc::clone(&self.queue);
        let results = self.result_sender.clone();
        let wake = Arc::clone(&self.wake);
        let idle = Arc::clone(&self.idle);
        let waiting = Arc::clone(&self.waiting);
        thread::Builder::new()
            .name(format!("tastevin-worker-{}", self.threads.len()))
            .stack_size(512 * 1024)
            .spawn(move || loop {
                idle.fetch_add(1, Ordering::AcqRel);
                let next = match queue.lock() {
                    Ok(rx) => rx.recv(),
                    Err(_) => return,
                };
                idle.fetch_sub(1, Ordering::AcqRel);
                let Ok((key, job)) = next else { return };
                waiting.fetch_sub(1, Ordering::AcqRel);
                let value = job();
                if results.send((key, value)).is_err() {
                    return;
                }
                wake();
            })
    }

    /// Number of worker threads started so far.
    pub fn threads(&self) -> usize {
        self.threads.len()
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
    use std::sync::Barrier;
    use std::time::{Duration, Instant};

    #[test]
    fn results_come_back_with_their_key_and_wake_the_loop() {
        let wakes = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&wakes);
        let mut pool: WorkerPool<u32, u32> = WorkerPool::new(2, 8, move || {
            counter.fetch_add(1, Ordering::SeqCst);
        });
        assert_eq!(pool.threads(), 0, "no thread before the first job");
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
        assert!(pool.threads() >= 1 && pool.threads() <= 2);
    }

    /// A pool of one worker and one waiting place whose job 0 runs until the barrier is
    /// passed a second time.
    fn pool_held_by_job_0() -> (WorkerPool<u32, ()>, Arc<Barrier>) {
        let gate = Arc::new(Barrier::new(2));
        let mut pool: WorkerPool<u32, ()> = WorkerPool::new(1, 1, || {});
        let g = Arc::clone(&gate);
        pool.submit(
            0,
            Box::new(move || {
                g.wait();
            }),
        )
        .unwrap();
        (pool, gate)
    }

    #[test]
    fn a_full_queue_refuses_instead_of_blocking() {
        let (mut pool, gate) = pool_held_by_job_0();
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

    #[test]
    fn the_bound_counts_jobs_waiting_not_jobs_running() {
        let (mut pool, gate) = pool_held_by_job_0();
        // Once the only worker runs job 0, the queue has its one place free again.
        let deadline = Instant::now() + Duration::from_secs(5);
        while pool.waiting.load(Ordering::Acquire) != 0 && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(pool.submit(1, Box::new(|| {})), Ok(()));
        assert_eq!(pool.submit(2, Box::new(|| {})), Err(SubmitError::QueueFull));
        gate.wait();
        let mut done = Vec::new();
        while done.len() < 2 && Instant::now() < deadline {
            done.extend(pool.finished().map(|(k, ())| k));
            thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(done, vec![0, 1]);
        assert_eq!(pool.submit(3, Box::new(|| {})), Ok(()));
    }
}
