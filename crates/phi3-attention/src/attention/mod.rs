//! Self-attention: the [`Attention`] trait and its implementations.

mod gqa;
mod kernel;

pub use gqa::{AttentionShape, GroupedQueryAttention};
pub use kernel::{AttentionKernel, scaled_dot_product};

use burn::module::Module;
use burn::tensor::{Tensor, backend::Backend};

use crate::mask::AttentionMask;
use crate::position::PositionEncoding;

/// A self-attention block: projections in, scaled dot-product attention, projection out.
///
/// Implement it to plug a new attention into a decoder layer; the layer hands it the
/// normalised hidden states, the model's position encoding and the layer's mask.
pub trait Attention<B: Backend>: Module<B> {
    /// Attends over `x`, whose first token sits at absolute position `start`.
    ///
    /// # Shapes
    /// - x: `[batch, seq, hidden]` → `[batch, seq, hidden]`
    fn forward<P: PositionEncoding<B>>(
        &self,
        x: Tensor<B, 3>,
        positions: &P,
        mask: &dyn AttentionMask,
        start: usize,
    ) -> Tensor<B, 3>;
}
