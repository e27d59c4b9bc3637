//! Root-mean-square norm of each row in one pass.

use burn::tensor::{Tensor, backend::Backend};

/// `x / sqrt(mean(x²) + eps) · weight` along the last axis.
///
/// # Shapes
/// - x: `[..., hidden]`, weight: `[hidden]` → `[..., hidden]`
pub(crate) fn rms_norm<B: Backend, const D: usize>(
    x: Tensor<B, D>,
    weight: Tensor<B, 1>,
    eps: f64,
) -> Option<Tensor<B, D>> {
    #[cfg(feature = "flex")]
    {
        if !crate::fast::applies::<B>() || weight.dtype() != burn::tensor::DType::F32 {
            return None;
        }
        let shape = x.dims();
        let hidden = shape[D - 1];
        let device = x.device();
        let x = crate::flex::f32_values(x)?;
        let x = x.as_slice::<f32>()?;
        let w = crate::flex::f32_values(weight)?;
        let w = w.as_slice::<f32>()?;
        let rows = x.len() / hidden.max(1);
        let mut out = vec![0f32; x.len()];
        let dst = crate::quant::SharedOut(out.as_mut_ptr());
        super::for_rows(rows, hidden, &|range| {
            for r in range {
                let row = &x[r * hidden..(r + 1) * hidden];
                let mean = row.iter().map(|v| v * v).sum::<f32>() / hidden as f32;
                let inv = 1.0 / (mean + eps as f32).sqrt();
                // SAFETY: row `r` of `out` belongs to this range alone.
                let y = unsafe { dst.slice(r * hidden, hidden) };
                for ((y, &v), &g) in y.iter_mut().zip(row).zip(w) {
                    *y = v * inv * g;
                }
            }
        });
        Some(crate::fast::f32_tensor(out, shape, &device))
    }
    #[cfg(not(feature = "flex"))]
    {
        let _ = (x, weight, eps);
        None
    }
}
