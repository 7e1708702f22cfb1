//! Jobs 0..n run on worker threads, results handed out in job order, with at most `window` jobs started
//! but not yet handed out: memory stays bounded however many jobs there are, and what a job produces
//! cannot depend on which thread ran it or when. Each result lives in a buffer of type `T` that returns
//! to a free list when the consumer drops it, so buffers are allocated only while the pipeline fills up.

use std::collections::BTreeMap;
use std::ops::{Deref, DerefMut};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;

use crate::{Error, Result};

/// Buffer counts of a pool: what the bounded-memory promise is checked against.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PoolStats {
    /// Buffers ever allocated (none is freed before the pool ends: these are the live buffers).
    pub allocated: usize,
    /// Most buffers the consumer held at once.
    pub peak_held: usize,
}

struct State<T> {
    next: usize,
    end: usize,
    delivered: usize,
    window: usize,
    ready: BTreeMap<usize, Result<T>>,
    free: Vec<T>,
    held: usize,
    stats: PoolStats,
    cancelled: bool,
}

struct Shared<T> {
    state: Mutex<State<T>>,
    changed: Condvar,
}

impl<T> Shared<T> {
    fn lock(&self) -> MutexGuard<'_, State<T>> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The running pool; dropping it stops and joins the workers.
pub(crate) struct Ordered<T: Send + 'static> {
    shared: Arc<Shared<T>>,
    threads: Vec<JoinHandle<()>>,
}

/// A result on loan from the pool; its buffer goes back when it is dropped.
pub(crate) struct Lease<T: Send + 'static> {
    value: Option<T>,
    shared: Arc<Shared<T>>,
}

impl<T: Send + 'static> Ordered<T> {
    /// Start `workers` threads running `work(job, worker_state, buffer)` for jobs `first..end`, each
    /// thread with its own state from `init()`, buffers from `T::default()`.
    pub fn start<S, I, W>(first: usize, end: usize, workers: usize, window: usize, init: I, work: W) -> Ordered<T>
    where
        T: Default,
        I: Fn() -> S + Send + Sync + 'static,
        W: Fn(usize, &mut S, &mut T) -> Result<()> + Send + Sync + 'static,
    {
        let state = State {
            next: first,
            end,
            delivered: first,
            window: window.max(1),
            ready: BTreeMap::new(),
            free: Vec::new(),
            held: 0,
            stats: PoolStats::default(),
            cancelled: false,
        };
        let shared = Arc::new(Shared { state: Mutex::new(state), changed: Condvar::new() });
        let (init, work) = (Arc::new(init), Arc::new(work));
        let threads = (0..workers.max(1))
            .map(|_| {
                let (shared, init, work) = (shared.clone(), init.clone(), work.clone());
                std::thread::spawn(move || worker(&shared, &*init, &*work))
            })
            .collect();
        Ordered { shared, threads }
    }

    /// The next result in job order (None after the last job, or after an error was handed out).
    pub fn next(&mut self) -> Option<Result<Lease<T>>> {
        let mut st = self.shared.lock();
        loop {
            if st.cancelled || st.delivered >= st.end {
                return None;
            }
            let job = st.delivered;
            if let Some(result) = st.ready.remove(&job) {
                st.delivered += 1;
                self.shared.changed.notify_all();
                return Some(match result {
                    Ok(value) => {
                        st.held += 1;
                        st.stats.peak_held = st.stats.peak_held.max(st.held);
                        Ok(Lease { value: Some(value), shared: self.shared.clone() })
                    }
                    Err(e) => {
                        st.cancelled = true;
                        Err(e)
                    }
                });
            }
            st = self.shared.changed.wait(st).unwrap_or_else(|e| e.into_inner());
        }
    }

    pub fn stats(&self) -> PoolStats {
        self.shared.lock().stats
    }
}

fn worker<T, S>(shared: &Shared<T>, init: &dyn Fn() -> S, work: &dyn Fn(usize, &mut S, &mut T) -> Result<()>)
where
    T: Default + Send,
{
    let mut local = init();
    loop {
        let (job, mut buffer) = {
            let mut st = shared.lock();
            loop {
                if st.cancelled || st.next >= st.end {
                    return;
                }
                if st.next < st.delivered + st.window {
                    break;
                }
                st = shared.changed.wait(st).unwrap_or_else(|e| e.into_inner());
            }
            let job = st.next;
            st.next += 1;
            let buffer = st.free.pop().unwrap_or_else(|| {
                st.stats.allocated += 1;
                T::default()
            });
            (job, buffer)
        };
        let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| work(job, &mut local, &mut buffer)));
        let result = match caught {
            Ok(Ok(())) => Ok(buffer),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(Error::data("input worker", format!("panicked on job {job} (a bug: please report it)"))),
        };
        let mut st = shared.lock();
        st.ready.insert(job, result);
        shared.changed.notify_all();
    }
}

impl<T: Send + 'static> Drop for Ordered<T> {
    fn drop(&mut self) {
        self.shared.lock().cancelled = true;
        self.shared.changed.notify_all();
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

impl<T: Send + 'static> Deref for Lease<T> {
    type Target = T;
    fn deref(&self) -> &T {
        self.value.as_ref().expect("a lease holds its value until dropped")
    }
}

impl<T: Send + 'static> DerefMut for Lease<T> {
    fn deref_mut(&mut self) -> &mut T {
        self.value.as_mut().expect("a lease holds its value until dropped")
    }
}

impl<T: Send + 'static> Drop for Lease<T> {
    fn drop(&mut self) {
        if let Some(v) = self.value.take() {
            let mut st = self.shared.lock();
            st.held -= 1;
            st.free.push(v);
        }
    }
}
