//! Linear layers whose weights may be stored in a narrower float type than the activations.

use burn::nn::Linear;
use burn::tensor::{Tensor, backend::Backend};
use rayon::prelude::*;

/// `x · W (+ b)` for a [`Linear`] whose weight may be f16 or bf16 while `x` is f32: the input
/// is cast to the weight's type, multiplied (a 16-bit weight is read at half the bytes, which is
/// what bounds decode speed), and the result cast back to `x`'s type.
///
/// It is also one 2-D matmul, so a weight held as a strided view (a tied `lm_head`) is read in
/// place: Burn's `Linear::forward` reshapes its weight to the input's rank, which copies views.
///
/// # Shapes
/// - x: `[..., in]` → `[..., out]`
pub fn linear<B: Backend, const D: usize>(layer: &Linear<B>, x: Tensor<B, D>) -> Tensor<B, D> {
    let weight = layer.weight.val();
    let [inp, out] = weight.dims();
    let dims = x.dims();
    let rows = dims[..D - 1].iter().product::<usize>();
    let in_dtype = x.dtype();
    let mut x = x.reshape([rows, inp]);
    if x.dtype() != weight.dtype() {
        x = x.cast(weight.dtype());
    }
    let mut y = if rows == 1 && inp * out >= SPLIT_MIN_WEIGHTS && B::name(&x.device()) == "flex" {
        split_columns(x, weight)
    } else {
        x.matmul(weight)
    };
    if y.dtype() != in_dtype {
        y = y.cast(in_dtype);
    }
    if let Some(bias) = &layer.bias {
        y = y + bias.val().cast(in_dtype).unsqueeze::<2>();
    }
    let mut out_dims = dims;
    out_dims[D - 1] = out;
    y.reshape(out_dims)
}

/// Weights below this many elements are multiplied on one thread: splitting costs more than it
/// saves.
const SPLIT_MIN_WEIGHTS: usize = 1 << 16;

/// A one-row product (a decode step) split by output columns across rayon's threads.
///
/// Flex's gemm runs a one-row product on a single core, which reads the weight at one core's
/// memory bandwidth; a decode step is nothing but such reads. Each thread multiplies by its own
/// column slice (a strided view: no copy), so all cores stream the weight at once
/// (docs/performance.md, entry 4).
fn split_columns<B: Backend>(x: Tensor<B, 2>, weight: Tensor<B, 2>) -> Tensor<B, 2> {
    let out = weight.dims()[1];
    let parts = rayon::current_num_threads().min(out / 64).max(1);
    if parts == 1 {
        return x.matmul(weight);
    }
    let chunk = out.div_ceil(parts);
    let pieces: Vec<Tensor<B, 2>> = (0..parts)
        .into_par_iter()
        .map(|i| {
            let start = i * chunk;
            x.clone()
                .matmul(weight.clone().narrow(1, start, chunk.min(out - start)))
        })
        .collect();
    Tensor::cat(pieces, 1)
}
