//! Layer normalisation (Ba et al., 2016), the original Transformer's norm.

use burn::module::{Module, Param};
use burn::tensor::{DType, Tensor, backend::Backend};

use super::Norm;

/// `(x − mean) / sqrt(var + eps) · weight + bias` over the last dimension (biased variance, as
/// PyTorch's `nn.LayerNorm`).
#[derive(Module, Debug)]
pub struct LayerNorm<B: Backend> {
    /// Per-channel gain, `[hidden]`.
    pub weight: Param<Tensor<B, 1>>,
    /// Per-channel shift, `[hidden]`.
    pub bias: Param<Tensor<B, 1>>,
    /// Added to the variance.
    pub eps: f64,
}

impl<B: Backend> LayerNorm<B> {
    /// Unit gain, zero shift.
    pub fn init(hidden: usize, eps: f64, device: &B::Device) -> Self {
        Self {
            weight: Param::from_tensor(Tensor::ones([hidden], device)),
            bias: Param::from_tensor(Tensor::zeros([hidden], device)),
            eps,
        }
    }
}

impl<B: Backend> Norm<B> for LayerNorm<B> {
    /// In f32 whatever the activations' dtype (as PyTorch's half-precision kernels
    /// accumulate), cast back before the gain and shift.
    fn forward<const D: usize>(&self, x: Tensor<B, D>) -> Tensor<B, D> {
        let dtype = x.dtype();
        let x = x.cast(DType::F32);
        let centred = x.clone() - x.mean_dim(D - 1);
        let inv_std = (centred.clone().square().mean_dim(D - 1) + self.eps)
            .sqrt()
            .recip();
        (centred * inv_std).cast(dtype) * self.weight.val().cast(dtype).unsqueeze::<D>()
            + self.bias.val().cast(dtype).unsqueeze::<D>()
    }
}
