//! A team of spinning helper threads for the products of one decode step.
//!
//! A decode step is ~120 small products (tens of microseconds each) separated by short serial
//! work. Split with rayon, every product wakes a worker that has gone to sleep in between: the
//! wake-up costs about what the product does (docs/performance.md, entry 8). A team's helpers
//! instead spin between products for a while before parking, as llama.cpp's thread pool does,
//! so splitting a product costs a few atomic operations. [`Team::enter`] makes the calling
//! thread lead a team until the guard drops; products then split over it ([`split`]).

use std::cell::Cell;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// How long a helper spins for the next product before parking.
const SPIN: Duration = Duration::from_micros(300);

/// A job: `tasks` indices handed out by `next`, `done` counting finished ones. The counters
/// belong to the job, so a helper late for a finished job finds no task left in it.
struct Job {
    run: *const (dyn Fn(usize) + Sync),
    tasks: usize,
    next: AtomicUsize,
    done: AtomicUsize,
    /// Set when a task panicked; the leader panics in turn once all are done.
    panicked: AtomicBool,
}

// SAFETY: `run` points at a `Sync` closure that the leader keeps alive until every task is done.
unsafe impl Send for Job {}
unsafe impl Sync for Job {}

struct Shared {
    /// Bumped for every job; helpers wait for it to change.
    epoch: AtomicUsize,
    job: Mutex<Option<Arc<Job>>>,
    parked: Mutex<usize>,
    wake: Condvar,
}

/// The helper threads (one fewer than rayon's thread count), started on first use.
pub(crate) struct Team {
    shared: Arc<Shared>,
    helpers: usize,
}

thread_local! {
    static LEADING: Cell<bool> = const { Cell::new(false) };
}

/// While alive, products on this thread split over the team.
pub(crate) struct Leading;

impl Drop for Leading {
    fn drop(&mut self) {
        LEADING.with(|l| l.set(false));
    }
}

impl Team {
    fn get() -> &'static Team {
        static TEAM: OnceLock<Team> = OnceLock::new();
        TEAM.get_or_init(|| {
            let helpers = rayon::current_num_threads().saturating_sub(1);
            let shared = Arc::new(Shared {
                epoch: AtomicUsize::new(0),
                job: Mutex::new(None),
                parked: Mutex::new(0),
                wake: Condvar::new(),
            });
            for i in 0..helpers {
                let shared = shared.clone();
                std::thread::Builder::new()
                    .name(format!("phi3-team-{i}"))
                    .spawn(move || helper(&shared))
                    .expect("spawning a helper thread");
            }
            Team { shared, helpers }
        })
    }

    /// Makes this thread lead the team until the guard drops (for one decode step).
    pub(crate) fn enter() -> Leading {
        Team::get();
        LEADING.with(|l| l.set(true));
        Leading
    }
}

fn helper(shared: &Shared) {
    let mut seen = shared.epoch.load(Ordering::Acquire);
    loop {
        let start = Instant::now();
        while shared.epoch.load(Ordering::Acquire) == seen {
            if start.elapsed() > SPIN {
                let mut parked = shared.parked.lock().unwrap_or_else(|e| e.into_inner());
                *parked += 1;
                while shared.epoch.load(Ordering::Acquire) == seen {
                    parked = shared.wake.wait(parked).unwrap_or_else(|e| e.into_inner());
                }
                *parked -= 1;
                break;
            }
            std::hint::spin_loop();
        }
        seen = shared.epoch.load(Ordering::Acquire);
        let job = shared.job.lock().unwrap_or_else(|e| e.into_inner()).clone();
        if let Some(job) = job {
            work(&job);
        }
    }
}

/// Claims and runs tasks until none is left.
fn work(job: &Job) {
    loop {
        let t = job.next.fetch_add(1, Ordering::AcqRel);
        if t >= job.tasks {
            return;
        }
        // SAFETY: a task was claimed, so the job is not finished: the leader keeps the closure
        // alive until `done` reaches `tasks`.
        let run = unsafe { &*job.run };
        // A panicking task must still count as done, or the leader would wait forever.
        if catch_unwind(AssertUnwindSafe(|| run(t))).is_err() {
            job.panicked.store(true, Ordering::Release);
        }
        job.done.fetch_add(1, Ordering::AcqRel);
    }
}

/// Runs `run(t)` for every `t < tasks`: over the team when this thread leads one, else with
/// rayon. Returns when all are done.
///
/// Two threads leading at once (two models decoding side by side) stay correct: a leader
/// claims its own job's tasks until none is left, so a job the helpers never saw (the other
/// leader replaced it in the slot) is simply done by its leader alone.
pub(crate) fn split(tasks: usize, run: &(dyn Fn(usize) + Sync)) {
    let leading = LEADING.with(|l| l.get());
    if !leading || tasks < 2 {
        use rayon::prelude::*;
        match tasks {
            0 => {}
            1 => run(0),
            _ => (0..tasks).into_par_iter().for_each(run),
        }
        return;
    }
    let team = Team::get();
    if team.helpers == 0 {
        (0..tasks).for_each(run);
        return;
    }
    let shared = &team.shared;
    // SAFETY (lifetime): `run` outlives the job, which is finished before this returns.
    let erased: *const (dyn Fn(usize) + Sync) = unsafe { std::mem::transmute(run) };
    let job = Arc::new(Job {
        run: erased,
        tasks,
        next: AtomicUsize::new(0),
        done: AtomicUsize::new(0),
        panicked: AtomicBool::new(false),
    });
    *shared.job.lock().unwrap_or_else(|e| e.into_inner()) = Some(job.clone());
    shared.epoch.fetch_add(1, Ordering::AcqRel);
    if *shared.parked.lock().unwrap_or_else(|e| e.into_inner()) > 0 {
        shared.wake.notify_all();
    }
    work(&job);
    while job.done.load(Ordering::Acquire) < tasks {
        std::hint::spin_loop();
    }
    *shared.job.lock().unwrap_or_else(|e| e.into_inner()) = None;
    // Its outputs are incomplete: never hand them on as if they were not.
    assert!(
        !job.panicked.load(Ordering::Acquire),
        "a task of a split product panicked"
    );
}

/// An output buffer that tasks write at disjoint places.
#[derive(Clone, Copy)]
pub(crate) struct SharedOut(pub(crate) *mut f32);

impl SharedOut {
    /// The address of value `at` (a method, so that closures capture the whole `SharedOut`).
    #[cfg_attr(not(feature = "flex"), allow(dead_code))]
    pub(crate) fn ptr(&self, at: usize) -> *mut f32 {
        self.0.wrapping_add(at)
    }

    /// `len` values from `at`.
    ///
    /// # Safety
    /// `at + len` is within the buffer, which outlives the tasks, and no other task touches these
    /// values while the slice lives.
    #[allow(clippy::mut_from_ref)]
    pub(crate) unsafe fn slice(&self, at: usize, len: usize) -> &mut [f32] {
        // SAFETY: as the caller promises.
        unsafe { std::slice::from_raw_parts_mut(self.0.add(at), len) }
    }
}

// SAFETY: tasks write disjoint parts of a buffer that outlives them.
unsafe impl Send for SharedOut {}
unsafe impl Sync for SharedOut {}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::{Team, split};

    /// Led or not, every task runs exactly once, across many jobs in a row (the helpers spin
    /// and park between them).
    #[test]
    fn every_task_runs_once() {
        for lead in [false, true] {
            let _leading = lead.then(Team::enter);
            for job in 0..200 {
                let tasks = job % 7;
                let counts: Vec<AtomicUsize> = (0..tasks).map(|_| AtomicUsize::new(0)).collect();
                split(tasks, &|t| {
                    counts[t].fetch_add(1, Ordering::Relaxed);
                });
                if job % 50 == 0 {
                    std::thread::sleep(std::time::Duration::from_millis(2));
                }
                assert!(counts.iter().all(|c| c.load(Ordering::Relaxed) == 1));
            }
        }
    }

    /// A panicking task is not swallowed: the leader panics once the other tasks are done.
    #[test]
    fn a_panicking_task_reaches_the_leader() {
        let result = std::panic::catch_unwind(|| {
            let _leading = Team::enter();
            split(4, &|t| assert_ne!(t, 2, "task 2 fails"));
        });
        assert!(result.is_err());
    }
}
