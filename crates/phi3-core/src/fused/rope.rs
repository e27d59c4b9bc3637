//! Rotary position embedding applied in one pass, read from any strided view (the heads of a
//! fused `qkv_proj` output) and written contiguous.

use burn::tensor::{Tensor, backend::Backend};

/// Rotates the first `2·half` values of each head row by `(cos, sin)`; the rest pass through.
///
/// # Shapes
/// - x: `[batch, heads, seq, head_dim]`, any strides
/// - cos, sin: `[1 | batch, 1, seq, half]`
/// - → `[batch, heads, seq, head_dim]`, contiguous
pub(crate) fn rotate<B: Backend>(
    x: Tensor<B, 4>,
    cos: Tensor<B, 4>,
    sin: Tensor<B, 4>,
) -> Option<Tensor<B, 4>> {
    #[cfg(feature = "flex")]
    {
        let [b, h, s, d] = x.dims();
        let [cb, _, _, half] = cos.dims();
        if 2 * half > d || (cb != 1 && cb != b) {
            return None;
        }
        let device = x.device();
        let (cos, sin) = (crate::flex::f32_values(cos)?, crate::flex::f32_values(sin)?);
        let (cos, sin) = (cos.as_slice::<f32>()?, sin.as_slice::<f32>()?);
        // `None` unless phi3's kernels run here, `x` is f32 and its view lies in its buffer.
        let x = crate::fast::f32_view(x)?;
        let ([s0, s1, s2, s3], offset, values) = (x.strides(), x.offset(), x.values());
        let mut out = vec![0f32; b * h * s * d];
        let dst = crate::quant::SharedOut(out.as_mut_ptr());
        super::for_rows(b * h * s, d, &|rows| {
            for r in rows {
                let (bi, hi, si) = (r / (h * s), r / s % h, r % s);
                let base = offset + bi * s0 + hi * s1 + si * s2;
                let at = |j: usize| values[base + j * s3];
                let table = (if cb == 1 { 0 } else { bi } * s + si) * half;
                let (c, sn) = (&cos[table..table + half], &sin[table..table + half]);
                // SAFETY: row `r` of `out` belongs to this range alone.
                let y = unsafe { dst.slice(r * d, d) };
                for j in 0..half {
                    let (x1, x2) = (at(j), at(j + half));
                    // The generic path's arithmetic, term for term: the same values.
                    y[j] = x1 * c[j] - x2 * sn[j];
                    y[j + half] = x2 * c[j] + x1 * sn[j];
                }
                for (j, y) in y.iter_mut().enumerate().skip(2 * half) {
                    *y = at(j);
                }
            }
        });
        Some(crate::fast::f32_tensor(out, [b, h, s, d], &device))
    }
    #[cfg(not(feature = "flex"))]
    {
        let _ = (x, cos, sin);
        None
    }
}
