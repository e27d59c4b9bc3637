//! The two-layer position-wise MLP of the original Transformer (ReLU, Vaswani et al., 2017) and
//! GPT-2 (GELU, Radford et al., 2019).

use burn::module::Module;
use burn::tensor::{Tensor, backend::Backend};

use super::{Activation, FeedForward};
use crate::linear::Linear;

/// `down_proj(act(up_proj(x)))`, both projections with biases.
///
/// Checkpoint names differ by family (GPT-2: `c_fc`, `c_proj`; PyTorch's
/// `nn.TransformerEncoderLayer`: `linear1`, `linear2`); the loader's name rules map them here.
#[derive(Module, Debug)]
pub struct Mlp<B: Backend> {
    /// `hidden → intermediate`.
    pub up_proj: Linear<B>,
    /// `intermediate → hidden`.
    pub down_proj: Linear<B>,
    /// The nonlinearity between them.
    #[module(skip)]
    pub activation: Activation,
}

impl<B: Backend> Mlp<B> {
    /// Random (lazily initialised) weights and biases.
    pub fn init(
        hidden: usize,
        intermediate: usize,
        activation: Activation,
        device: &B::Device,
    ) -> Self {
        Self {
            up_proj: Linear::init(hidden, intermediate, true, device),
            down_proj: Linear::init(intermediate, hidden, true, device),
            activation,
        }
    }

    /// The original Transformer's MLP.
    pub fn relu(hidden: usize, intermediate: usize, device: &B::Device) -> Self {
        Self::init(hidden, intermediate, Activation::Relu, device)
    }

    /// GPT-2's MLP (tanh-approximated GELU, `gelu_new`).
    pub fn gelu(hidden: usize, intermediate: usize, device: &B::Device) -> Self {
        Self::init(hidden, intermediate, Activation::GeluTanh, device)
    }
}

impl<B: Backend> FeedForward<B> for Mlp<B> {
    fn forward(&self, x: Tensor<B, 3>) -> Tensor<B, 3> {
        self.down_proj
            .forward(self.activation.apply(self.up_proj.forward(x)))
    }
}
