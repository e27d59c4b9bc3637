//! Position encodings (implementations of [`PositionEncoding`](phi3_core::PositionEncoding)):
//! rotary embeddings with LongRoPE and partial rotary, the original Transformer's sinusoids,
//! GPT-2's learned positions, and none at all.

mod absolute;
mod rope;

pub use absolute::{LearnedPositions, NoPositions, SinusoidalPositions};
pub use rope::{RotaryEmbedding, RotaryEmbeddingConfig};
