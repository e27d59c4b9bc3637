//! Phi-3's gated feed-forward block (SwiGLU, Shazeer 2020) with the fused `gate_up_proj`.

use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::tensor::activation::silu;
use burn::tensor::{Tensor, backend::Backend};
use phi3_attention::linear;

/// `down_proj(up · silu(gate))` where `gate_up_proj` yields `[gate | up]`.
#[derive(Module, Debug)]
pub struct Phi3Mlp<B: Backend> {
    /// `hidden → 2·intermediate`, rows: gate, then up.
    pub gate_up_proj: Linear<B>,
    /// `intermediate → hidden`.
    pub down_proj: Linear<B>,
}

impl<B: Backend> Phi3Mlp<B> {
    /// Random weights.
    pub fn init(hidden: usize, intermediate: usize, device: &B::Device) -> Self {
        Self {
            gate_up_proj: LinearConfig::new(hidden, 2 * intermediate)
                .with_bias(false)
                .init(device),
            down_proj: LinearConfig::new(intermediate, hidden)
                .with_bias(false)
                .init(device),
        }
    }

    /// # Shapes
    /// - x: `[batch, seq, hidden]` → `[batch, seq, hidden]`
    pub fn forward(&self, x: Tensor<B, 3>) -> Tensor<B, 3> {
        let gate_up = linear(&self.gate_up_proj, x);
        let intermediate = gate_up.dims()[2] / 2;
        let gate = gate_up.clone().narrow(2, 0, intermediate);
        let up = gate_up.narrow(2, intermediate, intermediate);
        linear(&self.down_proj, up * silu(gate))
    }
}
