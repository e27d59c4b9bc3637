//! One decoder layer, composed from an [`Attention`], a [`FeedForward`] and a [`Norm`].

use std::marker::PhantomData;
use std::sync::Arc;

use burn::module::Module;
use burn::tensor::{Tensor, backend::Backend};

use crate::attention::{Attention, AttentionStep};
use crate::cache::KvCache;
use crate::feed_forward::FeedForward;
use crate::mask::AttentionMask;
use crate::norm::Norm;
use crate::position::Rotation;
use crate::positions::Positions;

/// Where the norms sit in a residual block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BlockLayout {
    /// Pre-norm (Xiong et al., 2020), as in Phi-3, Llama and GPT-2:
    /// `h = x + attn(norm₁(x))`, `out = h + mlp(norm₂(h))`. Trains stably without warm-up.
    #[default]
    PreNorm,
    /// Post-norm, as in the original Transformer (Vaswani et al., 2017) and PyTorch's
    /// `nn.TransformerEncoderLayer(norm_first=False)`: `h = norm₁(x + attn(x))`,
    /// `out = norm₂(h + mlp(h))`.
    PostNorm,
}

/// A residual block: self-attention then a feed-forward block, each with a norm and a residual
/// add. Field names are Phi-3's checkpoint names.
#[derive(Module, Debug)]
pub struct DecoderLayer<B: Backend, A: Module<B>, F: Module<B>, N: Module<B>> {
    /// Self-attention.
    pub self_attn: A,
    /// Feed-forward block.
    pub mlp: F,
    /// Norm around attention (before it when pre-norm).
    pub input_layernorm: N,
    /// Norm around the feed-forward block (before it when pre-norm).
    pub post_attention_layernorm: N,
    /// Which keys each query may see in this layer.
    #[module(skip)]
    pub mask: Arc<dyn AttentionMask>,
    /// Pre-norm or post-norm.
    #[module(skip)]
    pub layout: BlockLayout,
    _backend: PhantomData<B>,
}

impl<B: Backend, A: Attention<B>, F: FeedForward<B>, N: Norm<B>> DecoderLayer<B, A, F, N> {
    /// A layer from its parts: `norm1` around attention, `norm2` around the feed-forward block.
    pub fn new(
        self_attn: A,
        mlp: F,
        [norm1, norm2]: [N; 2],
        mask: Arc<dyn AttentionMask>,
        layout: BlockLayout,
    ) -> Self {
        Self {
            self_attn,
            mlp,
            input_layernorm: norm1,
            post_attention_layernorm: norm2,
            mask,
            layout,
            _backend: PhantomData,
        }
    }

    /// The layer over the tokens of `positions`, with the forward's `rotation` and this layer's
    /// `cache`.
    ///
    /// # Shapes
    /// - x: `[batch, seq, hidden]` → `[batch, seq, hidden]`
    pub fn forward(
        &self,
        x: Tensor<B, 3>,
        positions: &Positions,
        rotation: Option<&Rotation<B>>,
        cache: &mut dyn KvCache<B>,
    ) -> Tensor<B, 3> {
        let mut step = AttentionStep {
            positions,
            mask: self.mask.as_ref(),
            rotation,
            cache,
        };
        match self.layout {
            BlockLayout::PreNorm => {
                let normed = self.input_layernorm.forward(x.clone());
                let h = x + self.self_attn.forward(normed, &mut step);
                let mlp = self
                    .mlp
                    .forward(self.post_attention_layernorm.forward(h.clone()));
                h + mlp
            }
            BlockLayout::PostNorm => {
                let attn = self.self_attn.forward(x.clone(), &mut step);
                let h = self.input_layernorm.forward(x + attn);
                let mlp = self.mlp.forward(h.clone());
                self.post_attention_layernorm.forward(h + mlp)
            }
        }
    }
}
