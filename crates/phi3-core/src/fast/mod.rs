//! The switch between phi3's own CPU kernels and Burn's generic path.
//!
//! On Flex, phi3 runs kernels of its own where Burn's ops are slow: one-row products with float
//! weights, the fused element-wise work of a layer (RMSNorm, RoPE, SiLU·up) and attention. Each
//! is tested equal to the generic Burn path it replaces; this switch runs the generic path
//! instead — to compare the two, or to rule the kernels out when hunting a difference. Quantized
//! weights always use phi3's block kernels (their generic form is dequantizing at load:
//! `WeightStorage::Float`). Other backends always take the generic path.

use std::sync::atomic::{AtomicU8, Ordering};

/// 0: not read yet, 1: on, 2: off.
static STATE: AtomicU8 = AtomicU8::new(0);

/// Whether phi3's own kernels run where they apply: on unless [`set_enabled`] turned them off,
/// or the environment variable `PHI3_GENERIC` was set to `1` when first asked.
pub fn enabled() -> bool {
    match STATE.load(Ordering::Relaxed) {
        1 => true,
        2 => false,
        _ => {
            let on = std::env::var("PHI3_GENERIC").map_or(true, |v| v != "1");
            STATE.store(if on { 1 } else { 2 }, Ordering::Relaxed);
            on
        }
    }
}

/// Turns phi3's own kernels on or off for the whole process.
pub fn set_enabled(on: bool) {
    STATE.store(if on { 1 } else { 2 }, Ordering::Relaxed);
}

/// Whether phi3's kernels run for backend `B` now.
#[cfg_attr(not(feature = "flex"), allow(dead_code))]
pub(crate) fn applies<B: burn::tensor::backend::Backend>() -> bool {
    crate::flex::is_flex::<B>() && enabled()
}

mod exp;
mod view;

pub use exp::exp_sum;
pub use view::{F32View, f32_tensor, f32_view};

/// Runs `run(t)` for every `t < tasks` and returns when all are done: over the decode team of
/// spinning helpers when this thread leads one (a decode step), over rayon's pool otherwise.
pub fn split(tasks: usize, run: &(dyn Fn(usize) + Sync)) {
    crate::quant::split(tasks, run)
}

/// Asks Linux to back the whole 2 MiB pages inside `bytes` with huge pages: before they are first
/// written (`collapse` false: the page faults then take huge pages), or after (`collapse`: the
/// pages are copied into huge ones now). Advice only; nothing changes but speed where it is
/// declined. For loaders that fill weight buffers of their own.
pub fn advise_huge_pages(bytes: &[u8], collapse: bool) {
    crate::huge_pages::advise(bytes, collapse)
}

/// Asks the OS to back a loaded weight's memory with 2 MiB pages (the whole 2 MiB pages inside a
/// Flex tensor; Linux; a no-op elsewhere): decode streams every weight once per token, and on
/// 4 KiB pages the TLB misses can cost up to a third of the memory bandwidth. Loaders call it
/// once per weight.
pub fn use_huge_pages<B: burn::tensor::backend::Backend, const D: usize>(
    t: &burn::tensor::Tensor<B, D>,
) {
    #[cfg(feature = "flex")]
    if crate::flex::is_flex::<B>()
        && let Some(raw) = crate::flex::raw(t.clone())
        && raw.bytes().len() >= 2 << 20
    {
        crate::huge_pages::advise(raw.bytes(), true);
    }
    #[cfg(not(feature = "flex"))]
    let _ = t;
}

/// The worker threads kernels split their work over (rayon's pool).
pub fn threads() -> usize {
    rayon::current_num_threads()
}
