//! The gated feed-forward block of Phi-3 and Llama (SwiGLU, Shazeer 2020) with Phi-3's fused
//! `gate_up_proj`.

use burn::module::Module;
use burn::tensor::{Tensor, backend::Backend};

use super::{Activation, FeedForward};
use crate::linear::Linear;

/// `down_proj(up · silu(gate))` where `gate_up_proj` yields `[gate | up]`. Llama checkpoints keep
/// `gate_proj` and `up_proj` apart; the loader fuses them into `gate_up_proj`.
#[derive(Module, Debug)]
pub struct SwiGlu<B: Backend> {
    /// `hidden → 2·intermediate`, columns: gate, then up.
    pub gate_up_proj: Linear<B>,
    /// `intermediate → hidden`.
    pub down_proj: Linear<B>,
}

impl<B: Backend> SwiGlu<B> {
    /// Random (lazily initialised) weights, no biases.
    pub fn init(hidden: usize, intermediate: usize, device: &B::Device) -> Self {
        Self {
            gate_up_proj: Linear::init(hidden, 2 * intermediate, false, device),
            down_proj: Linear::init(intermediate, hidden, false, device),
        }
    }
}

impl<B: Backend> FeedForward<B> for SwiGlu<B> {
    fn forward(&self, x: Tensor<B, 3>) -> Tensor<B, 3> {
        let gate_up = self.gate_up_proj.forward(x);
        let h = match crate::fused::silu_mul(gate_up.clone()) {
            Some(h) => h,
            None => silu_mul_generic(gate_up),
        };
        self.down_proj.forward(h)
    }
}

/// `silu(gate) · up` from `gate_up` by Burn's ops on any backend (the fused kernel's reference).
///
/// # Shapes
/// - gate_up: `[batch, seq, 2·f]` → `[batch, seq, f]`
pub(crate) fn silu_mul_generic<B: Backend>(gate_up: Tensor<B, 3>) -> Tensor<B, 3> {
    let intermediate = gate_up.dims()[2] / 2;
    let gate = gate_up.clone().narrow(2, 0, intermediate);
    let up = gate_up.narrow(2, intermediate, intermediate);
    up * Activation::Silu.apply(gate)
}
