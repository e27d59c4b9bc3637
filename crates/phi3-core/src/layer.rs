//! One decoder layer, composed from an [`Attention`] and a [`Norm`] implementation.

use std::sync::Arc;

use burn::module::Module;
use burn::tensor::{Tensor, backend::Backend};
use phi3_attention::{Attention, AttentionMask, KvCache, PositionEncoding, Positions};

use crate::mlp::Phi3Mlp;
use crate::norm::Norm;

/// Where the norms sit in a residual block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BlockLayout {
    /// Pre-norm (Xiong et al., 2020), as in Phi-3, Llama and GPT-2:
    /// `h = x + attn(norm₁(x))`, `out = h + mlp(norm₂(h))`. Trains stably without warm-up.
    #[default]
    PreNorm,
    /// Post-norm, as in the original Transformer (Vaswani et al., 2017):
    /// `h = norm₁(x + attn(x))`, `out = norm₂(h + mlp(h))`.
    PostNorm,
}

/// A residual block: self-attention then a gated MLP, each with a norm and a residual add.
#[derive(Module, Debug)]
pub struct DecoderLayer<B: Backend, A: Module<B>, N: Module<B>> {
    /// Self-attention.
    pub self_attn: A,
    /// Feed-forward block.
    pub mlp: Phi3Mlp<B>,
    /// Norm around attention (before it when pre-norm).
    pub input_layernorm: N,
    /// Norm around the MLP (before it when pre-norm).
    pub post_attention_layernorm: N,
    /// Which keys each query may see in this layer.
    #[module(skip)]
    pub mask: Arc<dyn AttentionMask>,
    /// Pre-norm or post-norm.
    #[module(skip)]
    pub layout: BlockLayout,
}

impl<B: Backend, A: Module<B>, N: Module<B>> DecoderLayer<B, A, N> {
    /// A pre-norm layer.
    pub fn new(
        self_attn: A,
        mlp: Phi3Mlp<B>,
        norm1: N,
        norm2: N,
        mask: Arc<dyn AttentionMask>,
    ) -> Self {
        Self {
            self_attn,
            mlp,
            input_layernorm: norm1,
            post_attention_layernorm: norm2,
            mask,
            layout: BlockLayout::PreNorm,
        }
    }

    /// The same layer with another block layout.
    pub fn with_layout(mut self, layout: BlockLayout) -> Self {
        self.layout = layout;
        self
    }
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
        let mask = self.mask.as_ref();
        match self.layout {
            BlockLayout::PreNorm => {
                let normed = self.input_layernorm.forward(x.clone());
                let h = x + self
                    .self_attn
                    .forward(normed, encoding, mask, positions, cache);
                let mlp = self
                    .mlp
                    .forward(self.post_attention_layernorm.forward(h.clone()));
                h + mlp
            }
            BlockLayout::PostNorm => {
                let attn = self
                    .self_attn
                    .forward(x.clone(), encoding, mask, positions, cache);
                let h = self.input_layernorm.forward(x + attn);
                let mlp = self.mlp.forward(h.clone());
                self.post_attention_layernorm.forward(h + mlp)
            }
        }
    }
}
