//! `silu(gate) · up` from a fused `gate_up` projection in one pass.

use burn::tensor::{Tensor, backend::Backend};

/// `silu(gate) · up` where `gate_up` holds `gate` then `up` along its last axis.
///
/// # Shapes
/// - gate_up: `[batch, seq, 2·f]` → `[batch, seq, f]`
pub(crate) fn silu_mul<B: Backend>(gate_up: Tensor<B, 3>) -> Option<Tensor<B, 3>> {
    #[cfg(feature = "flex")]
    {
        if !crate::fast::applies::<B>() {
            return None;
        }
        let [b, s, two_f] = gate_up.dims();
        let f = two_f / 2;
        let device = gate_up.device();
        let x = crate::flex::f32_values(gate_up)?;
        let x = x.as_slice::<f32>()?;
        let mut out = vec![0f32; b * s * f];
        let dst = crate::quant::SharedOut(out.as_mut_ptr());
        super::for_rows(b * s, two_f, &|rows| {
            for r in rows {
                let (gate, up) = x[r * two_f..(r + 1) * two_f].split_at(f);
                // SAFETY: row `r` of `out` belongs to this range alone.
                let y = unsafe { dst.slice(r * f, f) };
                for ((y, &g), &u) in y.iter_mut().zip(gate).zip(up) {
                    // Burn's silu: x · sigmoid(x), sigmoid(x) = 1 / (1 + e^-x).
                    *y = u * (g * (1.0 / (1.0 + (-g).exp())));
                }
            }
        });
        Some(crate::fast::f32_tensor(out, [b, s, f], &device))
    }
    #[cfg(not(feature = "flex"))]
    {
        let _ = gate_up;
        None
    }
}
