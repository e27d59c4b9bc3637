//! Many-row products (a prefill) with float weights held as a checkpoint stores them, `[out, in]`
//! (the loader hands `Linear` their transposed view), on Flex's raw slices: panels of output rows
//! split over the threads, each panel widened to f32 once (f16, bf16) or read in place (f32), and
//! multiplied by gemm's f32 micro-kernels. Activations stay f32: Burn's path would round them to
//! the weight's 16 bits, and its bf16 product converts both operands whole on every call.

use std::sync::atomic::{AtomicUsize, Ordering};

use crate::gemv::Wide;
use crate::quant::{SharedOut, split};

/// f32 values per widened panel: a panel stays in the L2 cache while gemm packs it.
const PANEL_VALUES: usize = 64 * 1024;

/// `x · Wᵀ` for `x` `[rows, inp]` and `W` `[out, inp]` held in `w` from `offset`, row `o` at
/// `offset + o · row_stride`, values contiguous; `None` if that does not fit in `w`.
///
/// # Shapes
/// - x: `[rows, inp]` → `[rows, out]`
pub(crate) fn gemm_rows<W: Wide>(
    x: &[f32],
    rows: usize,
    w: &[W::Elem],
    (offset, row_stride): (usize, usize),
    out: usize,
) -> Option<Vec<f32>> {
    let inp = x.len().checked_div(rows)?;
    if out == 0 || inp == 0 || offset + (out - 1) * row_stride + inp > w.len() {
        return None;
    }
    let panel = (PANEL_VALUES / inp).clamp(16, 512) / 16 * 16;
    let panels = out.div_ceil(panel);
    let threads = rayon::current_num_threads().min(panels).max(1);
    let mut y = vec![0f32; rows * out];
    let (ys, next) = (SharedOut(y.as_mut_ptr()), AtomicUsize::new(0));
    split(threads, &|_| {
        let mut widened = Vec::new();
        loop {
            let p = next.fetch_add(1, Ordering::Relaxed);
            if p >= panels {
                break;
            }
            let (lo, hi) = (p * panel, ((p + 1) * panel).min(out));
            let (weights, stride): (&[f32], usize) = match W::as_f32(w) {
                Some(w) => (&w[offset + lo * row_stride..], row_stride),
                None => {
                    widened.clear();
                    for o in lo..hi {
                        let row = &w[offset + o * row_stride..offset + o * row_stride + inp];
                        crate::gemv::kernels::widen::<W>(row, &mut widened);
                    }
                    (&widened, inp)
                }
            };
            // SAFETY: gemm reads `x` (rows × inp), `hi - lo` weight rows of `inp` values at
            // `stride` (checked above, or the widened panel), and writes columns lo..hi of `y`,
            // which this task alone owns.
            unsafe {
                gemm::gemm(
                    rows,
                    hi - lo,
                    inp,
                    ys.ptr(lo),
                    1,
                    out as isize,
                    false,
                    x.as_ptr(),
                    1,
                    inp as isize,
                    weights.as_ptr(),
                    stride as isize,
                    1,
                    0.0f32,
                    1.0f32,
                    false,
                    false,
                    false,
                    gemm::Parallelism::None,
                );
            }
        }
    });
    Some(y)
}
