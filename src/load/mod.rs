//! Checkpoint loading: one entry point, [`Pretrained`], for a Hugging Face directory or a `.gguf`
//! file, filling any composition of parts — Phi-3's own, GPT-2's, or one built in your code.
//!
//! ```no_run
//! use phi3::device::{Cpu, cpu};
//! use phi3::load::{LoadOptions, Pretrained};
//!
//! let mut pretrained = Pretrained::open("tests/fixtures/mha")?;
//! let tokenizer = pretrained.tokenizer.take();
//! let model = pretrained.load::<Cpu>(&LoadOptions::new(cpu()))?;
//! # Ok::<(), phi3::Phi3Error>(())
//! ```

mod fill;
mod names;
mod safetensors;
mod source;

use std::path::Path;

use burn::module::Module;
use burn::tensor::{DType, backend::Backend};
use phi3_core::{ModelError, Phi3Config};
use phi3_tokenizer::Tokenizer;

pub use names::{CheckpointNames, LinearLayout};
pub use safetensors::{Checkpoint, SHARD_INDEX, SINGLE_FILE};
pub use source::WeightSource;

use crate::error::{Phi3Error, Result};
use crate::gguf::{GgufFile, GgufWeights, config_from_gguf, tokenizer_from_gguf};
use crate::models::{Phi3ForCausalLM, gpt2, phi3};

/// Where and how loaded weights are stored.
#[derive(Debug, Clone)]
pub struct LoadOptions<B: Backend> {
    /// The device of the composition [`Pretrained::load`] builds. ([`Pretrained::load_into`]
    /// fills a model on the device it was built on.)
    pub device: B::Device,
    /// The type of the matrices (embeddings, projections, `lm_head`): `F32`, `F16` or `BF16`.
    /// Norms, biases and activations stay f32.
    pub dtype: DType,
}

impl<B: Backend> LoadOptions<B> {
    /// f32 weights on `device`.
    pub fn new(device: B::Device) -> Self {
        Self {
            device,
            dtype: DType::F32,
        }
    }

    /// The same options with matrices stored as `dtype`.
    pub fn dtype(mut self, dtype: DType) -> Self {
        self.dtype = dtype;
        self
    }
}

/// An opened checkpoint: its config, its tensors (read later, one at a time), the names it gives a
/// composition's parameters, and its tokenizer when it ships one.
pub struct Pretrained {
    config: Phi3Config,
    names: CheckpointNames,
    weights: Box<dyn WeightSource>,
    /// The checkpoint's tokenizer: a directory's `tokenizer.json` (+ `tokenizer_config.json`), or
    /// a GGUF file's `tokenizer.ggml.*` metadata.
    pub tokenizer: Option<Tokenizer>,
}

impl Pretrained {
    /// Opens a Hugging Face checkpoint directory (`config.json` + safetensors: Phi-3, Llama or
    /// GPT-2) or a `.gguf` file (architectures `phi3` and `llama`). Reads headers and metadata
    /// only; tensors are read by [`Self::load`] / [`Self::load_into`].
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        if path.is_file()
            && path
                .extension()
                .is_some_and(|e| e.eq_ignore_ascii_case("gguf"))
        {
            let file = GgufFile::open(path)?;
            let config = config_from_gguf(&file)?;
            let tokenizer = match file.get("tokenizer.ggml.model") {
                Some(_) => Some(tokenizer_from_gguf(&file)?),
                None => None,
            };
            return Ok(Self {
                names: phi3::names(&config),
                weights: Box::new(GgufWeights::new(file, &config)),
                config,
                tokenizer,
            });
        }
        let config_path = path.join("config.json");
        let text = std::fs::read_to_string(&config_path)
            .map_err(|source| Phi3Error::io(&config_path, source))?;
        let model_type = serde_json::from_str::<serde_json::Value>(&text)
            .ok()
            .and_then(|v| v.get("model_type")?.as_str().map(str::to_string));
        let (config, names) = match model_type.as_deref() {
            None | Some("phi3" | "llama") => {
                let config = Phi3Config::from_file(&config_path)?;
                let names = phi3::names(&config);
                (config, names)
            }
            Some("gpt2") => (
                gpt2::Gpt2Config::from_file(&config_path)?.into_config()?,
                gpt2::names(),
            ),
            Some(other) => {
                return Err(ModelError::Config {
                    field: "model_type",
                    message: format!("is {other:?}, expected one of phi3, llama, gpt2"),
                }
                .into());
            }
        };
        let tokenizer = match path.join("tokenizer.json").is_file() {
            true => Some(Tokenizer::from_dir(path)?),
            false => None,
        };
        Ok(Self {
            weights: Box::new(Checkpoint::open(path)?),
            config,
            names,
            tokenizer,
        })
    }

    /// The checkpoint's config (to build a composition of its sizes).
    pub fn config(&self) -> &Phi3Config {
        &self.config
    }

    /// The names the checkpoint gives a composition's parameters (by its `model_type`).
    pub fn names(&self) -> &CheckpointNames {
        &self.names
    }

    /// The same checkpoint read with other names (a composition whose checkpoint family the
    /// loader does not know).
    pub fn with_names(mut self, names: CheckpointNames) -> Self {
        self.names = names;
        self
    }

    /// The Phi-3 composition of the checkpoint's config (Phi-3 and Llama checkpoints), filled with
    /// its weights.
    pub fn load<B: Backend>(self, options: &LoadOptions<B>) -> Result<Phi3ForCausalLM<B>> {
        if self.config.model_type.as_deref() == Some("gpt2") {
            return Err(Phi3Error::InvalidOption {
                option: "model_type",
                message: "a gpt2 checkpoint has its own composition: load it with \
                          `load_into(phi3::models::gpt2::build(config, device)?, options)`"
                    .into(),
            });
        }
        let model = phi3::build(&self.config, &options.device)?;
        self.load_into(model, options)
    }

    /// Fills `model` — any composition of parts, built (with lazily initialised weights) from
    /// [`Self::config`] — with the checkpoint's tensors, by [`Self::names`]. Every parameter
    /// must be found with the shape the model expects, and every tensor of the checkpoint used.
    pub fn load_into<B: Backend, M: Module<B>>(
        mut self,
        model: M,
        options: &LoadOptions<B>,
    ) -> Result<M> {
        if !matches!(options.dtype, DType::F32 | DType::F16 | DType::BF16) {
            return Err(Phi3Error::InvalidOption {
                option: "dtype",
                message: format!("is {:?}, expected F32, F16 or BF16", options.dtype),
            });
        }
        fill::fill(model, self.weights.as_mut(), &self.names, options.dtype)
    }
}
