//! Self-attention: the [`Attention`] trait and its implementations.

mod gqa;
mod kernel;

pub use gqa::{AttentionShape, GroupedQueryAttention};
pub use kernel::{AttentionKernel, MaskInput, repeat_kv, scaled_dot_product};

use burn::module::{Module, ModuleDisplay};
use burn::tensor::{Tensor, backend::Backend};

use crate::cache::KvCache;
use crate::mask::AttentionMask;
use crate::position::PositionEncoding;
use crate::positions::Positions;

/// A self-attention block: projections in, scaled dot-product attention, projection out.
///
/// Implement it to plug a new attention into a decoder layer; the layer hands it the
/// normalised hidden states, the model's position encoding and the layer's mask.
pub trait Attention<B: Backend>: Module<B> + ModuleDisplay {
    /// Attends over `x`, the tokens of `positions`. With a `cache`, the new keys/values are stored
    /// in it and the queries attend over everything it holds; without one, over `x` alone.
    ///
    /// # Shapes
    /// - x: `[batch, seq, hidden]` → `[batch, seq, hidden]`
    fn forward<P: PositionEncoding<B>>(
        &self,
        x: Tensor<B, 3>,
        encoding: &P,
        mask: &dyn AttentionMask,
        positions: &Positions,
        cache: Option<&mut dyn KvCache<B>>,
    ) -> Tensor<B, 3>;
}
