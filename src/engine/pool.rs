//! The CPU backend's worker threads: one fork-join call splits a loop into parts, runs part 0
//! on the calling thread and the others on workers that live as long as the program.
//!
//! Why not `std::thread::scope`: starting and joining a thread costs 20–40 µs here, about what a
//! batch-128 product costs on one core, so products of a small MLP's step ran no faster on two
//! cores than on one. A parked worker wakes in a few microseconds, and one that finished a part
//! within the last `SPIN` waits for the next without sleeping (a step's products come tens of
//! microseconds apart).
//!
//! Results never depend on which thread runs a part, so callers stay bit-for-bit deterministic.
//! A call from inside a part, or while another thread's call holds the workers, runs its parts
//! one after another on the calling thread instead of waiting.

use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// How long a worker polls for the next call before it sleeps.
const SPIN: Duration = Duration::from_micros(100);

/// The threads the CPU backend splits its work over: the cores this process may use.
///
/// ```
/// assert!(shadergrad::pool::threads() >= 1);
/// ```
pub fn threads() -> usize {
    pool().map_or(1, |p| p.workers + 1)
}

/// Runs `part(0)`, …, `part(parts - 1)`, spread over [`threads`] threads, and returns when all
/// have finished; a part that panics panics here, after every other part has finished.
///
/// ```
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// let sum = AtomicUsize::new(0);
/// shadergrad::pool::run(5, |i| {
///     sum.fetch_add(i, Ordering::Relaxed);
/// });
/// assert_eq!(sum.into_inner(), 0 + 1 + 2 + 3 + 4);
/// ```
pub fn run(parts: usize, part: impl Fn(usize) + Sync) {
    let inline = || (0..parts).for_each(&part);
    let Some(pool) = pool().filter(|_| parts > 1 && !IN_PART.get()) else {
        return inline();
    };
    // A poisoned lock only says an earlier call's part panicked: the workers are idle again.
    let _owner = match pool.owner.try_lock() {
        Ok(owner) => owner,
        Err(std::sync::TryLockError::Poisoned(owner)) => owner.into_inner(),
        Err(std::sync::TryLockError::WouldBlock) => return inline(),
    };
    pool.call(parts, &part);
}

/// The parts of `len` items in `parts` contiguous ranges whose sizes are multiples of `unit`
/// (but the last), for splitting a loop over [`run`]: fewer ranges when there are too few units.
///
/// ```
/// assert_eq!(shadergrad::pool::ranges(10, 3, 4), [0..4, 4..8, 8..10]);
/// assert_eq!(shadergrad::pool::ranges(3, 2, 4), [0..3]);
/// ```
pub fn ranges(len: usize, parts: usize, unit: usize) -> Vec<std::ops::Range<usize>> {
    let unit = unit.max(1);
    let per = len.div_ceil(unit).div_ceil(parts.max(1)).max(1) * unit;
    (0..len).step_by(per).map(|s| s..(s + per).min(len)).collect()
}

/// Outputs a loop over [`split`] cuts at the same places: a mutable slice, a matrix's [`Rows`],
/// or a pair of them (nest pairs for more: `((w, m), v)`), all as many items as the first.
pub trait Pieces: Send + Sized {
    /// The items cut along.
    fn count(&self) -> usize;
    /// The first `at` items, and the rest.
    fn split_at(self, at: usize) -> (Self, Self);
}

impl<T: Send> Pieces for &mut [T] {
    fn count(&self) -> usize {
        self.len()
    }
    fn split_at(self, at: usize) -> (Self, Self) {
        self.split_at_mut(at)
    }
}

impl<A: Pieces, B: Pieces> Pieces for (A, B) {
    fn count(&self) -> usize {
        self.0.count()
    }
    fn split_at(self, at: usize) -> (Self, Self) {
        let ((a0, a1), (b0, b1)) = (self.0.split_at(at), self.1.split_at(at));
        ((a0, b0), (a1, b1))
    }
}

/// A row-major matrix's values cut along its rows: [`split`] hands each piece whole rows.
///
/// ```
/// use shadergrad::pool::{split, Rows};
/// // Each row's sum, beside the row scaled by it: 40,000 rows of 4.
/// let mut m: Vec<f32> = (0..160_000).map(|i| (i % 4) as f32).collect();
/// let mut sums = vec![0.0f32; 40_000];
/// split((Rows::new(&mut m, 4), &mut sums[..]), 1 << 12, |_, (rows, sums)| {
///     for (row, sum) in rows.into_inner().chunks_exact_mut(4).zip(sums) {
///         *sum = row.iter().sum();
///         row.iter_mut().for_each(|v| *v *= *sum);
///     }
/// });
/// assert_eq!((sums[39_999], m[159_999]), (6.0, 18.0));
/// ```
pub struct Rows<'a, T> {
    values: &'a mut [T],
    width: usize,
}

impl<'a, T> Rows<'a, T> {
    /// `values` as rows of `width` (values past the last whole row go with the last piece).
    pub fn new(values: &'a mut [T], width: usize) -> Self {
        Rows {
            values,
            width: width.max(1),
        }
    }

    /// The values of these rows.
    pub fn into_inner(self) -> &'a mut [T] {
        self.values
    }
}

impl<T: Send> Pieces for Rows<'_, T> {
    fn count(&self) -> usize {
        self.values.len() / self.width
    }
    fn split_at(self, at: usize) -> (Self, Self) {
        let (first, rest) = self.values.split_at_mut(at * self.width);
        (Rows::new(first, self.width), Rows::new(rest, self.width))
    }
}

/// Runs `body(start, piece)` on pieces of `out` (each `start` items in) spread over
/// [`threads`], at least `grain` items a piece: for an elementwise loop whose result does not
/// depend on where it is cut.
///
/// ```
/// let x: Vec<f32> = (0..100_000).map(|i| i as f32).collect();
/// let mut y = vec![0.0f32; x.len()];
/// shadergrad::pool::split(&mut y[..], 1 << 14, |start, y| {
///     for (y, x) in y.iter_mut().zip(&x[start..]) {
///         *y = 2.0 * x;
///     }
/// });
/// assert_eq!(y[99_999], 199_998.0);
/// ```
pub fn split<P: Pieces>(out: P, grain: usize, body: impl Fn(usize, P) + Sync) {
    let len = out.count();
    let parts = (len / grain.max(1)).clamp(1, threads());
    if parts == 1 {
        return body(0, out);
    }
    // Pieces a multiple of 16 long, so that each starts on a cache line as the slices do.
    let mut pieces = Vec::with_capacity(parts);
    let mut rest = out;
    for r in ranges(len, parts, 16) {
        let (piece, after) = rest.split_at(r.len());
        pieces.push(Mutex::new(Some((r.start, piece))));
        rest = after;
    }
    run(pieces.len(), |i| {
        let taken = pieces[i].lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some((start, piece)) = taken {
            body(start, piece);
        }
    });
}

thread_local! {
    /// Whether this thread is running a part (a worker, or a caller inside [`run`]).
    static IN_PART: Cell<bool> = const { Cell::new(false) };
}

/// A call's parts: the caller's closure, its lifetime erased (the caller waits for every part
/// before the closure goes out of scope).
#[derive(Clone, Copy)]
struct Job {
    part: *const (dyn Fn(usize) + Sync),
    parts: usize,
    /// The workers and the caller: worker `w` runs parts `w`, `w + threads`, ….
    threads: usize,
}
// SAFETY: the closure is `Sync`, and it outlives every use (see `Pool::call`).
unsafe impl Send for Job {}

struct Pool {
    workers: usize,
    /// Held by the thread whose call the workers are serving.
    owner: Mutex<()>,
    shared: Arc<Shared>,
}

struct Shared {
    /// The current call, replaced under this lock with `epoch` bumped.
    job: Mutex<Option<Job>>,
    posted: Condvar,
    epoch: AtomicU64,
    /// Workers still running parts of the current call.
    busy: AtomicUsize,
    finished: Mutex<()>,
    all_finished: Condvar,
    panicked: AtomicBool,
}

fn pool() -> Option<&'static Pool> {
    static POOL: OnceLock<Option<Pool>> = OnceLock::new();
    POOL.get_or_init(|| {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        (cores > 1).then(|| Pool::start(cores - 1))
    })
    .as_ref()
}

impl Pool {
    fn start(workers: usize) -> Pool {
        let shared = Arc::new(Shared {
            job: Mutex::new(None),
            posted: Condvar::new(),
            epoch: AtomicU64::new(0),
            busy: AtomicUsize::new(0),
            finished: Mutex::new(()),
            all_finished: Condvar::new(),
            panicked: AtomicBool::new(false),
        });
        // Workers are numbered from 1 without gaps: when the system will not start one, the
        // ones started take every part.
        let mut started = 0;
        for w in 1..=workers {
            let shared = Arc::clone(&shared);
            let spawned = std::thread::Builder::new()
                .name(format!("shadergrad-cpu-{w}"))
                .spawn(move || work(w, &shared));
            if spawned.is_err() {
                break;
            }
            started = w;
        }
        Pool {
            workers: started,
            owner: Mutex::new(()),
            shared,
        }
    }

    /// Posts the call, runs its share of the parts here, and waits for the workers'.
    fn call(&self, parts: usize, part: &(dyn Fn(usize) + Sync)) {
        let s = &self.shared;
        // SAFETY: erases the closure's lifetime; we return only after every worker is done with it.
        let part_static: &'static (dyn Fn(usize) + Sync) = unsafe { std::mem::transmute(part) };
        s.panicked.store(false, Ordering::Relaxed);
        s.busy.store(self.workers, Ordering::SeqCst);
        {
            let mut job = s.job.lock().unwrap_or_else(|e| e.into_inner());
            *job = Some(Job {
                part: part_static,
                parts,
                threads: self.workers + 1,
            });
            s.epoch.fetch_add(1, Ordering::SeqCst);
            s.posted.notify_all();
        }
        IN_PART.set(true);
        let mine = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            (0..parts).step_by(self.workers + 1).for_each(part)
        }));
        IN_PART.set(false);
        let started = Instant::now();
        while s.busy.load(Ordering::SeqCst) > 0 && started.elapsed() < SPIN {
            std::hint::spin_loop();
        }
        let mut guard = s.finished.lock().unwrap_or_else(|e| e.into_inner());
        while s.busy.load(Ordering::SeqCst) > 0 {
            guard = s.all_finished.wait(guard).unwrap_or_else(|e| e.into_inner());
        }
        drop(guard);
        if let Err(panic) = mine {
            std::panic::resume_unwind(panic);
        }
        assert!(
            !s.panicked.load(Ordering::SeqCst),
            "a part of a CPU loop panicked on a worker thread"
        );
    }
}

/// Worker `w`: runs its parts of each call posted.
fn work(w: usize, s: &Shared) {
    IN_PART.set(true);
    let mut seen = 0;
    loop {
        let started = Instant::now();
        while s.epoch.load(Ordering::SeqCst) == seen && started.elapsed() < SPIN {
            std::hint::spin_loop();
        }
        let job = {
            let mut job = s.job.lock().unwrap_or_else(|e| e.into_inner());
            while s.epoch.load(Ordering::SeqCst) == seen {
                job = s.posted.wait(job).unwrap_or_else(|e| e.into_inner());
            }
            seen = s.epoch.load(Ordering::SeqCst);
            *job
        };
        if let Some(job) = job {
            // SAFETY: the caller waits in `Pool::call` until `busy` reaches zero, below.
            let part = unsafe { &*job.part };
            let ran = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                (w..job.parts).step_by(job.threads).for_each(part)
            }));
            if ran.is_err() {
                s.panicked.store(true, Ordering::SeqCst);
            }
        }
        if s.busy.fetch_sub(1, Ordering::SeqCst) == 1 {
            let _guard = s.finished.lock().unwrap_or_else(|e| e.into_inner());
            s.all_finished.notify_one();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_part_runs_once_from_many_threads_and_inside_parts() {
        let counts: Vec<AtomicUsize> = (0..37).map(|_| AtomicUsize::new(0)).collect();
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| {
                    for parts in [1, 2, 3, 37] {
                        run(parts, |i| {
                            // A nested call runs inline.
                            run(2, |_| {});
                            counts[i].fetch_add(1, Ordering::Relaxed);
                        });
                    }
                });
            }
        });
        let ran: Vec<usize> = counts.iter().map(|c| c.load(Ordering::Relaxed)).collect();
        assert_eq!(ran[..1], [16]);
        assert_eq!(ran[1..2], [12]);
        assert_eq!(ran[2..3], [8]);
        assert!(ran[3..].iter().all(|&n| n == 4), "{ran:?}");
    }

    #[test]
    fn a_panicking_part_panics_in_the_caller_after_the_others() {
        let done = AtomicUsize::new(0);
        let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            run(4, |i| {
                if i == 3 {
                    panic!("part 3");
                }
                done.fetch_add(1, Ordering::SeqCst);
            })
        }));
        assert!(caught.is_err());
        assert_eq!(done.load(Ordering::SeqCst), 3);
        // The pool still works.
        let sum = AtomicUsize::new(0);
        run(3, |i| {
            sum.fetch_add(i, Ordering::SeqCst);
        });
        assert_eq!(sum.into_inner(), 3);
    }
}
