//! # phi3
//!
//! Microsoft's Phi-3 language models on the [Burn](https://burn.dev) deep-learning framework, as
//! a library of interchangeable decoder parts. This crate composes the models and runs them:
//!
//! - [`models`] — the compositions: Phi-3 (and Llama), GPT-2;
//! - [`DecoderBuilder`] — your own compositions from parts;
//! - [`load`] — checkpoint loading (safetensors directories, [`gguf`] files) into any
//!   composition, through one entry point, [`Pretrained`];
//! - [`Generate`] and [`TextGenerationPipeline`] — generation for any [`CausalModel`].
//!
//! The parts come from the other crates, re-exported here so one dependency is enough:
//! [`core`] (`phi3-core`: the traits, the generic decoder, norms, feed-forward blocks, linear
//! layers, config, errors, devices), [`attention`] (`phi3-attention`: MHA / MQA / GQA, kernels,
//! masks, position encodings, KV caches), [`sampling`] and [`tokenizer`].
//!
//! ```no_run
//! use phi3::prelude::*;
//! use phi3::device::{Cpu, cpu};
//!
//! let model = Pretrained::open("tests/fixtures/gqa")?.load::<Cpu>(&LoadOptions::new(cpu()))?;
//! let ids = model.input_ids(&[5, 17, 42, 7, 99])?;
//! let hidden = model.model.forward(ids)?; // [1, 5, hidden]  (transformers' model.model)
//! let logits = model.logits(hidden);      // [1, 5, vocab]
//! println!("{:?}", logits.dims());
//! # Ok::<(), phi3::Phi3Error>(())
//! ```

mod builder;
mod error;
mod generation;
// The readers of files from strangers: no `unwrap` / `expect` outside their tests (a bad file is a
// typed error, never a panic); the few invariants the code itself establishes say why.
#[cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]
pub mod gguf;
#[cfg(feature = "hub")]
pub mod hub;
#[cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]
pub mod load;
pub mod models;
mod pipeline;

pub use builder::DecoderBuilder;
pub use error::{Phi3Error, Result};
pub use generation::{Control, Generate, Generated, GenerationConfig, StopReason, Timings};
pub use load::{
    CheckpointNames, GenerationDefaults, LoadOptions, LoadProgress, Pretrained, WeightStorage,
};
pub use models::{Phi3ForCausalLM, Phi3Model, model_tree, parameter_count};
pub use pipeline::{TextGeneration, TextGenerationPipeline};

pub use phi3_attention as attention;
pub use phi3_core as core;
pub use phi3_core::{
    Activation, Attention, AttentionMask, AttentionStep, BlockLayout, CausalLm, CausalModel,
    DecoderLayer, DecoderModel, FeedForward, KvCache, LayerNorm, Linear, Mlp, ModelCache,
    ModelError, Norm, Phi3Config, PositionEncoding, Positions, RmsNorm, Rotation, SwiGlu, burn,
    device,
};
pub use phi3_sampling as sampling;
pub use phi3_tokenizer as tokenizer;

// The README's snippets compile as doctests, so its API cannot drift from the code.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeSnippets;

/// The traits and types most programs use: `use phi3::prelude::*;`.
pub mod prelude {
    pub use crate::{
        CausalModel, Control, Generate, GenerationConfig, LoadOptions, Phi3Error, Phi3ForCausalLM,
        Pretrained, TextGenerationPipeline,
    };
}
