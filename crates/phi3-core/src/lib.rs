//! # phi3-core
//!
//! The foundation of phi3: the component traits a decoder is composed from — [`Attention`],
//! [`PositionEncoding`], [`AttentionMask`], [`Norm`], [`FeedForward`], [`KvCache`] — the generic
//! decoder built from them ([`DecoderLayer`], [`DecoderModel`], [`CausalLm`]) and the
//! [`CausalModel`] seam that generation takes; the norms ([`RmsNorm`], [`LayerNorm`]), the
//! feed-forward blocks ([`SwiGlu`], [`Mlp`]), the [`Linear`] layer every projection runs through,
//! the config ([`Phi3Config`]), errors ([`ModelError`]) and devices ([`device`]).
//!
//! It depends on no other phi3 crate. The attention family lives in `phi3-attention`; the models,
//! checkpoint loading and generation in the root `phi3` crate.
//!
//! Every type is generic over a Burn [`Backend`](burn::tensor::backend::Backend), so the same code
//! runs on the Flex CPU backend and on CUDA.

mod attention;
mod cache;
#[cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]
mod config;
mod decoder;
pub mod device;
pub mod display;
mod embedding;
mod error;
pub mod fast;
mod feed_forward;
mod flex;
mod fused;
#[cfg(feature = "flex")]
mod gemm_rows;
#[cfg(feature = "flex")]
mod gemv;
mod huge_pages;
mod linear;
mod mask;
mod norm;
mod position;
mod positions;
pub mod profile;
pub mod quant;
#[cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]
pub mod text_file;

pub use attention::{Attention, AttentionStep};
pub use cache::{CachedKv, KvCache, ModelCache, NoCache};
pub use config::{Phi3Config, RopeParameters, RopeScaling, TokenIds};
pub use decoder::{BlockLayout, CausalLm, CausalModel, DecoderLayer, DecoderModel, TreePrinter};
pub use embedding::Embedding;
pub use error::{ModelError, Result};
pub use feed_forward::{Activation, FeedForward, Mlp, SwiGlu};
pub use linear::{Linear, blocks_tensor};
pub use mask::{AttentionMask, hidden_tile, masked_tensor};
pub use norm::{LayerNorm, Norm, RmsNorm};
pub use position::{PositionEncoding, Rotation};
pub use positions::Positions;

pub use burn;
