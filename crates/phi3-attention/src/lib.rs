//! Attention for the phi3 decoder: the [`Attention`] trait and its grouped-query implementation,
//! the [`PositionEncoding`] trait and rotary embeddings (with Phi-3's LongRoPE), and attention
//! masks as their own pluggable piece ([`AttentionMask`]).
//!
//! Every type here is generic over a Burn [`Backend`](burn::tensor::backend::Backend), so the same
//! code runs on the Flex CPU backend and on CUDA.

pub mod attention;
pub mod cache;
pub mod linear;
pub mod mask;
pub mod position;
pub mod positions;

pub use attention::{
    Attention, AttentionKernel, AttentionShape, GroupedQueryAttention, MaskInput,
    scaled_dot_product,
};
pub use cache::{CachedKv, DenseCache, KvCache, WindowCache};
pub use linear::linear;
pub use mask::{
    AttentionMask, Causal, FixedSparse, LocalGlobal, MaskSchedule, SlidingWindow, StridedSparse,
    hidden_tile, masked_tensor,
};
pub use position::{
    LearnedPositions, NoPositions, PositionEncoding, RopeScaling, RotaryEmbedding,
    RotaryEmbeddingConfig, SinusoidalPositions,
};
pub use positions::Positions;
