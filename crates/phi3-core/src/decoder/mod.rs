//! The generic decoder: layers composed from pluggable parts, the stack, the causal language
//! model on top, and the [`CausalModel`] seam everything downstream takes.

mod causal_model;
mod layer;
mod model;

pub use causal_model::CausalModel;
pub use layer::{BlockLayout, DecoderLayer};
pub use model::{CausalLm, DecoderModel, TreePrinter};
