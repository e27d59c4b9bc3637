//! Linear layers whose weights may be stored in a narrower float type than the activations.

use burn::nn::Linear;
use burn::tensor::{Tensor, backend::Backend};

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
    let mut y = x.matmul(weight);
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
