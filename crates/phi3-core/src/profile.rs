//! Where a forward pass's time goes, for benchmarks: the wall-clock time spent inside
//! [`Linear::forward`](crate::Linear) (the weight products), counted only while enabled — off by
//! default, one relaxed atomic load per product. Everything else a step does (norms, RoPE,
//! attention, copies, sampling) is the step's time minus this. CPU backends only: on a GPU the
//! products return before their kernels finish.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

static ENABLED: AtomicBool = AtomicBool::new(false);
static LINEAR_NANOS: AtomicU64 = AtomicU64::new(0);
static LINEAR_CALLS: AtomicU64 = AtomicU64::new(0);

/// Starts (or stops) counting.
pub fn enable(on: bool) {
    ENABLED.store(on, Ordering::Relaxed);
}

/// The time spent in linear products, and their number, since the last call; resets both.
pub fn take() -> (Duration, u64) {
    let nanos = LINEAR_NANOS.swap(0, Ordering::Relaxed);
    let calls = LINEAR_CALLS.swap(0, Ordering::Relaxed);
    (Duration::from_nanos(nanos), calls)
}

/// Counts the time until it is dropped, when counting is enabled.
pub(crate) struct LinearTimer(Option<Instant>);

impl LinearTimer {
    pub(crate) fn start() -> Self {
        Self(ENABLED.load(Ordering::Relaxed).then(Instant::now))
    }
}

impl Drop for LinearTimer {
    fn drop(&mut self) {
        if let Some(start) = self.0 {
            LINEAR_NANOS.fetch_add(start.elapsed().as_nanos() as u64, Ordering::Relaxed);
            LINEAR_CALLS.fetch_add(1, Ordering::Relaxed);
        }
    }
}
