//! Position encodings: how a decoder learns where each token sits.
//!
//! Two hooks cover both families: absolute encodings add a vector to the token embeddings
//! ([`PositionEncoding::embed`]); rotary encodings hand the layers a [`Rotation`] for the
//! forward's positions ([`PositionEncoding::rotation`]), computed once and applied to queries and
//! keys in every attention layer. An implementation overrides the hook it needs.

use burn::module::{Module, ModuleDisplay};
use burn::tensor::{Tensor, backend::Backend};

use crate::positions::Positions;

/// A position encoding; [`Positions`] says where each input token sits.
pub trait PositionEncoding<B: Backend>: Module<B> + ModuleDisplay + Sync {
    /// Adds absolute position information to token embeddings; identity by default.
    ///
    /// # Shapes
    /// - x: `[batch, seq, hidden]` → `[batch, seq, hidden]`
    fn embed(&self, x: Tensor<B, 3>, _positions: &Positions) -> Tensor<B, 3> {
        x
    }

    /// The rotation of queries and keys at `positions`, or `None` (the default) for encodings
    /// that do not rotate. Called once per forward pass; every layer applies the result.
    fn rotation(&self, _positions: &Positions, _device: &B::Device) -> Option<Rotation<B>> {
        None
    }

    /// Keys cached under one epoch are invalid under another. LongRoPE switches frequency tables
    /// once a sequence grows past `original_max_position_embeddings`; like transformers, the
    /// generator then rebuilds the cache from the whole sequence. Constant by default.
    fn cache_epoch(&self, _max_len: usize) -> usize {
        0
    }

    /// The largest number of positions this encoding supports, if bounded.
    fn max_positions(&self) -> Option<usize> {
        None
    }
}

/// Rotary position embedding (Su et al., 2021) for one forward pass: the cos and sin of every
/// token's angles, applied in the half-split `rotate_half` layout that Phi-3 and Llama checkpoints
/// are trained with — pairs are `(x[i], x[i + r/2])`, not interleaved `(x[2i], x[2i+1])` as in
/// `burn::nn::RotaryEncoding`. Only the first `r = 2 · cos.dims()[3]` dimensions of each head
/// turn (partial rotary); the rest pass through.
#[derive(Debug, Clone)]
pub struct Rotation<B: Backend> {
    pub(crate) cos: Tensor<B, 4>,
    pub(crate) sin: Tensor<B, 4>,
}

impl<B: Backend> Rotation<B> {
    /// # Shapes
    /// - cos, sin: `[batch or 1, 1, seq, rotary_dim / 2]`
    pub fn new(cos: Tensor<B, 4>, sin: Tensor<B, 4>) -> Self {
        Self { cos, sin }
    }

    /// Rotates queries or keys by their positions.
    ///
    /// # Shapes
    /// - x: `[batch, heads, seq, head_dim]` → `[batch, heads, seq, head_dim]`
    pub fn rotate(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        match crate::fused::rotate(x.clone(), self.cos.clone(), self.sin.clone()) {
            Some(y) => y,
            None => self.rotate_generic(x),
        }
    }

    /// [`Self::rotate`] by Burn's ops on any backend (the fused kernel's reference).
    pub(crate) fn rotate_generic(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        let head_dim = x.dims()[3];
        let half = self.cos.dims()[3];
        let x1 = x.clone().narrow(3, 0, half);
        let x2 = x.clone().narrow(3, half, half);
        let r1 = x1.clone() * self.cos.clone() - x2.clone() * self.sin.clone();
        let r2 = x2 * self.cos.clone() + x1 * self.sin.clone();
        if 2 * half == head_dim {
            Tensor::cat(vec![r1, r2], 3)
        } else {
            let pass = x.narrow(3, 2 * half, head_dim - 2 * half);
            Tensor::cat(vec![r1, r2, pass], 3)
        }
    }
}
