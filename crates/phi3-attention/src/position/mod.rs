//! Position encodings: how a decoder learns where each token sits.
//!
//! Two hooks cover both families: absolute encodings add a vector to the token embeddings
//! ([`PositionEncoding::embed`]); rotary encodings rotate queries and keys inside every attention
//! layer ([`PositionEncoding::rotate`]). An implementation overrides the hook it needs.

mod absolute;
mod rope;

pub use absolute::{LearnedPositions, NoPositions, SinusoidalPositions};
pub use rope::{RopeScaling, RotaryEmbedding, RotaryEmbeddingConfig};

use burn::module::{Module, ModuleDisplay};
use burn::tensor::{Tensor, backend::Backend};

use crate::positions::Positions;

/// A position encoding; [`Positions`] says where each input token sits.
pub trait PositionEncoding<B: Backend>: Module<B> + ModuleDisplay {
    /// Adds absolute position information to token embeddings; identity by default.
    ///
    /// # Shapes
    /// - x: `[batch, seq, hidden]` → `[batch, seq, hidden]`
    fn embed(&self, x: Tensor<B, 3>, _positions: &Positions) -> Tensor<B, 3> {
        x
    }

    /// Rotates queries and keys by their positions; identity by default.
    ///
    /// # Shapes
    /// - q: `[batch, heads, seq, head_dim]`, k: `[batch, kv_heads, seq, head_dim]`; both unchanged.
    fn rotate(
        &self,
        q: Tensor<B, 4>,
        k: Tensor<B, 4>,
        _positions: &Positions,
    ) -> (Tensor<B, 4>, Tensor<B, 4>) {
        (q, k)
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
