//! One decoder layer, composed from an [`Attention`] and a [`Norm`] implementation.

use std::sync::Arc;

use burn::module::Module;
use burn::tensor::{Tensor, backend::Backend};
use phi3_attention::{Attention, AttentionMask, KvCache, PositionEncoding, Positions};

use crate::mlp::Phi3Mlp;
use crate::norm::Norm;

/// Pre-norm residual block (Xiong et al., 2020), as in Phi-3 and Llama:
/// `h = x + attn(norm₁(x))`, `out = h + mlp(norm₂(h))`.
#[derive(Module, Debug)]
pub struct DecoderLayer<B: Backend, A: Module<B>, N: Module<B>> {
    /// Self-attention.
    pub self_attn: A,
    /// Feed-forward block.
    pub mlp: Phi3Mlp<B>,
    /// Norm before attention.
    pub input_layernorm: N,
    /// Norm before the MLP.
    pub post_attention_layernorm: N,
    /// Which keys each query may see in this layer.
    #[module(skip)]
    pub mask: Arc<dyn AttentionMask>,
}

impl<B: Backend, A: Attention<B>, N: Norm<B>> DecoderLayer<B, A, N> {
    /// # Shapes
    /// - x: `[batch, seq, hidden]` → `[batch, seq, hidden]`
    pub fn forward<P: PositionEncoding<B>>(
        &self,
        x: Tensor<B, 3>,
        encoding: &P,
        positions: &Positions,
        cache: Option<&mut dyn KvCache<B>>,
    ) -> Tensor<B, 3> {
        let normed = self.input_layernorm.forward(x.clone());
        let attn = self
            .self_attn
            .forward(normed, encoding, self.mask.as_ref(), positions, cache);
        let h = x + attn;
        let mlp = self
            .mlp
            .forward(self.post_attention_layernorm.forward(h.clone()));
        h + mlp
    }
}
