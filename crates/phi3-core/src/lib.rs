//! # phi3-core
//!
//! Phi-3 on Burn: the config ([`Phi3Config`]), checkpoint loading ([`Checkpoint`]), the decoder
//! ([`Phi3Model`], [`Phi3ForCausalLM`]) built from the pluggable parts of [`phi3_attention`]
//! and the [`Norm`] trait, and the printable module tree.
//!
//! ```no_run
//! use phi3_core::{Phi3ForCausalLM, device::{Cpu, cpu}};
//!
//! let device = cpu();
//! let model = Phi3ForCausalLM::<Cpu>::from_dir("tests/fixtures/mha", &device)?;
//! println!("{model}"); // the PyTorch-style tree
//! let ids = model.input_ids(&[5, 17, 42], &device)?;
//! let hidden = model.model.forward(ids)?;   // [1, 3, hidden]
//! let logits = model.lm_head.forward(hidden); // [1, 3, vocab]
//! # Ok::<(), phi3_core::Phi3Error>(())
//! ```

pub mod builder;
pub mod cache;
pub mod config;
pub mod decoder;
pub mod device;
pub mod display;
pub mod error;
pub mod generation;
pub mod gguf;
pub mod layer;
pub mod mlp;
pub mod model;
pub mod norm;
pub mod pipeline;
pub mod weights;

pub use builder::DecoderBuilder;
pub use cache::ModelCache;
pub use config::{Phi3Config, RopeParameters, TokenIds};
pub use decoder::{CausalLm, DecoderModel};
pub use display::{model_tree, parameter_count};
pub use error::{Phi3Error, Result};
pub use generation::{Control, Generated, GenerationConfig, StopReason, Timings};
pub use layer::{BlockLayout, DecoderLayer};
pub use mlp::Phi3Mlp;
pub use model::{Phi3DecoderLayer, Phi3ForCausalLM, Phi3Model};
pub use norm::{LayerNorm, Norm, RmsNorm};
pub use pipeline::{TextGeneration, TextGenerationPipeline};
pub use weights::{Checkpoint, WeightSource};

pub use burn;
pub use phi3_attention as attention;
pub use phi3_sampling as sampling;
pub use phi3_tokenizer as tokenizer;
