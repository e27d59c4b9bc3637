//! # phi3-attention
//!
//! The attention family, built on `phi3-core`'s traits:
//!
//! - [`GroupedQueryAttention`] — multi-head, multi-query and grouped-query attention (an
//!   [`Attention`](phi3_core::Attention)), with interchangeable scaled dot-product kernels
//!   ([`AttentionKernel`]: naive, flash-style tiled, Burn's fused op);
//! - masks ([`AttentionMask`](phi3_core::AttentionMask)): [`Causal`], [`SlidingWindow`], the
//!   sparse patterns [`StridedSparse`] and [`FixedSparse`], Longformer's [`LocalGlobal`], and a
//!   [`MaskSchedule`] giving each layer its mask;
//! - position encodings ([`PositionEncoding`](phi3_core::PositionEncoding)): [`RotaryEmbedding`]
//!   (plain, linear, LongRoPE, partial), [`SinusoidalPositions`], [`LearnedPositions`],
//!   [`NoPositions`];
//! - KV caches ([`KvCache`](phi3_core::KvCache)): [`DenseCache`] and the ring-buffer
//!   [`WindowCache`] for sliding windows.

mod cache;
mod gqa;
mod kernel;
mod mask;
mod position;

pub use cache::{DenseCache, WindowCache};
pub use gqa::{AttentionShape, GroupedQueryAttention};
pub use kernel::{AttentionKernel, MaskInput, repeat_kv, scaled_dot_product};
pub use mask::{Causal, FixedSparse, LocalGlobal, MaskSchedule, SlidingWindow, StridedSparse};
pub use position::{
    LearnedPositions, NoPositions, RotaryEmbedding, RotaryEmbeddingConfig, SinusoidalPositions,
};
