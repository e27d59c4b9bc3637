//! # phi3
//!
//! Microsoft's Phi-3 language models on the [Burn](https://burn.dev) deep-learning framework.
//! This facade re-exports the workspace so one dependency is enough:
//!
//! - [`core`] (`phi3-core`): config, checkpoint loading, the decoder, the module tree;
//! - [`attention`] (`phi3-attention`): the `Attention` and `PositionEncoding` traits, masks;
//! - [`sampling`] (`phi3-sampling`): the `Sampler` trait;
//! - [`tokenizer`] (`phi3-tokenizer`): text ↔ token ids.
//!
//! ```no_run
//! use phi3::{Phi3ForCausalLM, device::{Cpu, cpu}};
//!
//! let device = cpu();
//! let model = Phi3ForCausalLM::<Cpu>::from_dir("tests/fixtures/gqa", &device)?;
//! let ids = model.input_ids(&[5, 17, 42, 7, 99], &device)?;
//! let hidden = model.model.forward(ids)?;     // [1, 5, hidden]
//! let logits = model.lm_head.forward(hidden); // [1, 5, vocab]
//! println!("{:?}", logits.dims());
//! # Ok::<(), phi3::Phi3Error>(())
//! ```

pub use phi3_attention as attention;
pub use phi3_core as core;
pub use phi3_core::{
    BlockLayout, CausalLm, Checkpoint, Control, DecoderBuilder, DecoderLayer, DecoderModel,
    Generated, GenerationConfig, LayerNorm, ModelCache, Norm, Phi3Config, Phi3Error,
    Phi3ForCausalLM, Phi3Model, RmsNorm, StopReason, TextGeneration, TextGenerationPipeline,
    Timings, burn, device, model_tree, parameter_count,
};
pub use phi3_sampling as sampling;
pub use phi3_tokenizer as tokenizer;
