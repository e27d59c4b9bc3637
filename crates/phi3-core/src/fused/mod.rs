//! Fused CPU kernels for the element-wise work of a layer, on Flex's raw slices: one pass where
//! Burn's ops take several (each with its own allocation, dispatch and, on strided views, an
//! element-by-element index walk). Each answers `None` where it does not apply — another
//! backend, another dtype, [`fast::set_enabled(false)`](crate::fast::set_enabled) — and its
//! caller keeps Burn's generic path, which the kernel is tested equal to.

mod rms_norm;
mod rope;
mod silu_mul;

#[cfg(feature = "flex")]
use std::ops::Range;

pub(crate) use rms_norm::rms_norm;
pub(crate) use rope::rotate;
pub(crate) use silu_mul::silu_mul;

/// Below this many values a kernel runs on the calling thread: splitting costs more.
#[cfg(feature = "flex")]
const PARALLEL_MIN: usize = 1 << 15;

/// Runs `f` over `rows` rows of `cols` values each, split into contiguous ranges of rows across
/// the threads (the decode team's, when this thread leads one) once the work is large enough.
#[cfg(feature = "flex")]
fn for_rows(rows: usize, cols: usize, f: &(dyn Fn(Range<usize>) + Sync)) {
    let threads = match rows * cols < PARALLEL_MIN {
        true => 1,
        false => rayon::current_num_threads().min(rows).max(1),
    };
    let per = rows.div_ceil(threads);
    crate::quant::split(threads, &|t| {
        let lo = (t * per).min(rows);
        f(lo..(lo + per).min(rows))
    });
}

#[cfg(all(test, feature = "flex"))]
mod tests {
    use burn::backend::Flex;
    use burn::tensor::{Distribution, Tensor};

    use crate::feed_forward::swiglu::silu_mul_generic;
    use crate::{RmsNorm, Rotation};

    fn random<const D: usize>(shape: [usize; D]) -> Tensor<Flex, D> {
        Tensor::random(shape, Distribution::Normal(0.0, 1.5), &Default::default())
    }

    fn max_diff<const D: usize>(a: Tensor<Flex, D>, b: Tensor<Flex, D>) -> f32 {
        assert_eq!(a.dims(), b.dims());
        (a - b).abs().max().into_scalar()
    }

    /// Small (one thread) and large (split) inputs, each fused kernel against Burn's ops.
    #[test]
    fn fused_kernels_equal_the_generic_path() {
        // This tests the kernels themselves, also in a `PHI3_GENERIC=1` run.
        crate::fast::set_enabled(true);
        for rows in [3, 700] {
            let gate_up = random([1, rows, 2 * 96]);
            let fused = super::silu_mul(gate_up.clone()).expect("applies on Flex");
            let diff = max_diff(fused, silu_mul_generic(gate_up));
            assert!(diff < 1e-5, "silu·up: {diff}");

            let norm = RmsNorm::new(random([96]), 1e-5);
            let x = random([2, rows, 96]);
            let fused = super::rms_norm(x.clone(), norm.weight.val(), norm.eps).expect("applies");
            let diff = max_diff(fused, norm.forward_generic(x));
            assert!(diff < 1e-4, "rms norm: {diff}");

            // Heads of a fused projection (a strided view), full and partial rotary, one table
            // for the batch and one per row.
            let (b, h, d) = (2, 3, 16);
            let qkv = random([b, rows, 2 * h * d]);
            let x = qkv
                .narrow(2, h * d, h * d)
                .reshape([b, rows, h, d])
                .swap_dims(1, 2);
            for (half, tables) in [(8, 1), (6, 1), (8, b)] {
                let rotation = Rotation::new(
                    random([tables, 1, rows, half]),
                    random([tables, 1, rows, half]),
                );
                let fused = super::rotate(x.clone(), rotation.cos.clone(), rotation.sin.clone())
                    .expect("applies");
                let diff = max_diff(fused, rotation.rotate_generic(x.clone()));
                assert_eq!(diff, 0.0, "rope (half {half}, tables {tables})");
            }
        }
    }
}
