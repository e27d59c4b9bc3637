//! Normalisation layers behind the [`Norm`] trait.

mod layer_norm;
mod rms;

pub use layer_norm::LayerNorm;
pub use rms::RmsNorm;

use burn::module::{Module, ModuleDisplay};
use burn::tensor::{Tensor, backend::Backend};

/// A normalisation over the last dimension.
pub trait Norm<B: Backend>: Module<B> + ModuleDisplay + Sync {
    /// Normalises `x` over its last dimension.
    ///
    /// # Shapes
    /// - x: `[..., hidden]` → `[..., hidden]`
    fn forward<const D: usize>(&self, x: Tensor<B, D>) -> Tensor<B, D>;
}
