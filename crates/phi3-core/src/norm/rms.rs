//! Root-mean-square norm.

use burn::module::{Module, Param};
use burn::tensor::{DType, Tensor, backend::Backend};

use super::Norm;

/// Root-mean-square norm (Zhang & Sennrich, 2019): `x / sqrt(mean(x²) + eps) · weight`, no
/// centring, no bias. Phi-3 and Llama use it before attention and before the MLP.
#[derive(Module, Debug)]
pub struct RmsNorm<B: Backend> {
    /// Per-channel gain, `[hidden]` (checkpoint name: `weight`).
    pub weight: Param<Tensor<B, 1>>,
    /// Added to the mean square.
    pub eps: f64,
}

impl<B: Backend> RmsNorm<B> {
    /// Wraps a loaded gain vector.
    pub fn new(weight: Tensor<B, 1>, eps: f64) -> Self {
        Self {
            weight: Param::from_tensor(weight),
            eps,
        }
    }

    /// A norm with unit gain.
    pub fn init(hidden: usize, eps: f64, device: &B::Device) -> Self {
        Self::new(Tensor::ones([hidden], device), eps)
    }
}

impl<B: Backend> Norm<B> for RmsNorm<B> {
    fn forward<const D: usize>(&self, x: Tensor<B, D>) -> Tensor<B, D> {
        match crate::fused::rms_norm(x.clone(), self.weight.val(), self.eps) {
            Some(y) => y,
            None => self.forward_generic(x),
        }
    }
}

impl<B: Backend> RmsNorm<B> {
    /// [`Norm::forward`] by Burn's ops on any backend (the fused kernel's reference).
    /// In f32 whatever the activations' dtype, as transformers' `Phi3RMSNorm` (a mean of
    /// squares overflows f16 from |x| ≈ 256), cast back before the gain.
    pub(crate) fn forward_generic<const D: usize>(&self, x: Tensor<B, D>) -> Tensor<B, D> {
        let dtype = x.dtype();
        let x = x.cast(DType::F32);
        let inv_rms = (x.clone().square().mean_dim(D - 1) + self.eps)
            .sqrt()
            .recip();
        (x * inv_rms).cast(dtype) * self.weight.val().cast(dtype).unsqueeze::<D>()
    }
}
