//! Checkpoint loading: one entry point, [`Pretrained`], for a Hugging Face directory or a `.gguf`
//! file, filling any composition of parts — Phi-3's own, GPT-2's, or one built in your code.
//!
//! ```no_run
//! use phi3::device::{Cpu, cpu};
//! use phi3::load::{LoadOptions, Pretrained};
//!
//! let pretrained = Pretrained::open("tests/fixtures/mha")?;
//! let tokenizer = pretrained.tokenizer()?; // None: this checkpoint ships none
//! let model = pretrained.load::<Cpu>(&LoadOptions::new(cpu()))?;
//! # Ok::<(), phi3::Phi3Error>(())
//! ```

mod fill;
mod generation_config;
mod names;
mod progress;
mod safetensors;
mod source;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use burn::module::Module;
use burn::tensor::{DType, backend::Backend};
use phi3_core::quant::GgmlType;
use phi3_core::text_file::{SETTINGS_LIMIT, read_text};
use phi3_core::{ModelError, Phi3Config};
use phi3_tokenizer::Tokenizer;

pub use generation_config::{GENERATION_CONFIG, GenerationDefaults};
pub use names::{CheckpointNames, LinearLayout};
pub use progress::{LoadProgress, ProgressCallback};
pub use safetensors::{Checkpoint, SHARD_INDEX, SINGLE_FILE};
pub use source::WeightSource;

use crate::error::{Phi3Error, Result};
use crate::gguf::{GgufFile, GgufWeights, config_from_gguf, tokenizer_from_gguf};
use crate::models::{Phi3ForCausalLM, gpt2, phi3};

/// How the matrices (embeddings, projections, `lm_head`) are stored once loaded. Norms, biases
/// and activations are in the device's compute dtype whatever the choice (f32 unless
/// [`phi3_core::device::set_compute_dtype`] chose f16 or bf16).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WeightStorage {
    /// GGML blocks kept as the GGUF file stores them, multiplied by phi3's kernels (on the CPU
    /// backend; elsewhere dequantized); float tensors in the compute dtype. The default.
    #[default]
    AsStored,
    /// Floats of this type (`F32`, `F16` or `BF16`); GGML blocks are dequantized.
    Float(DType),
    /// Quantized at load to this block type (`Q8_0`, `Q4_0` or `Q4_1`) — a safetensors
    /// checkpoint, or a GGUF file's blocks of another type — on the CPU backend; elsewhere f32.
    /// A matrix whose rows are not whole blocks stays f32.
    Quantized(GgmlType),
}

impl std::str::FromStr for WeightStorage {
    type Err = Phi3Error;

    /// The command-line spelling the examples take: `f32`, `f16`, `bf16` (floats), `q8_0`,
    /// `q4_0`, `q4_1` (quantized at load) or `stored` (as the file holds them).
    fn from_str(s: &str) -> Result<Self> {
        Ok(match s {
            "f32" => Self::Float(DType::F32),
            "f16" => Self::Float(DType::F16),
            "bf16" => Self::Float(DType::BF16),
            "q8_0" => Self::Quantized(GgmlType::Q8_0),
            "q4_0" => Self::Quantized(GgmlType::Q4_0),
            "q4_1" => Self::Quantized(GgmlType::Q4_1),
            "stored" => Self::AsStored,
            other => {
                return Err(Phi3Error::InvalidOption {
                    option: "dtype",
                    message: format!(
                        "is {other:?}, expected f32, f16, bf16, q8_0, q4_0, q4_1 or stored"
                    ),
                });
            }
        })
    }
}

/// Where and how loaded weights are stored.
#[derive(Debug, Clone)]
pub struct LoadOptions<B: Backend> {
    /// The device of the composition [`Pretrained::load`] builds. ([`Pretrained::load_into`]
    /// fills a model on the device it was built on.)
    pub device: B::Device,
    /// How the matrices are stored.
    pub storage: WeightStorage,
    /// Called before the first tensor and after each one ([`Self::progress`]).
    pub progress: Option<ProgressCallback>,
}

impl<B: Backend> LoadOptions<B> {
    /// Weights as stored ([`WeightStorage::AsStored`]) on `device`.
    pub fn new(device: B::Device) -> Self {
        Self {
            device,
            storage: WeightStorage::AsStored,
            progress: None,
        }
    }

    /// The same options reporting the load's progress to `f`: once before the first tensor,
    /// then after each tensor read, with tensors and stored bytes done and in all.
    ///
    /// ```no_run
    /// use phi3::device::{Cpu, cpu};
    /// use phi3::load::{LoadOptions, Pretrained};
    ///
    /// let options = LoadOptions::<Cpu>::new(cpu()).progress(|p| {
    ///     eprintln!("{}/{} tensors, {}/{} bytes", p.tensors_done, p.tensors_total, p.bytes_done, p.bytes_total)
    /// });
    /// let model = Pretrained::open("tests/fixtures/gqa")?.load(&options)?;
    /// # Ok::<(), phi3::Phi3Error>(())
    /// ```
    pub fn progress(mut self, f: impl Fn(&LoadProgress) + Send + Sync + 'static) -> Self {
        self.progress = Some(ProgressCallback::new(f));
        self
    }

    /// The same options with matrices stored as floats of `dtype`.
    pub fn dtype(mut self, dtype: DType) -> Self {
        self.storage = WeightStorage::Float(dtype);
        self
    }

    /// The same options with matrices stored as `storage` says.
    pub fn storage(mut self, storage: WeightStorage) -> Self {
        self.storage = storage;
        self
    }

    /// The same options with matrices quantized at load to `ty`.
    pub fn quantized(mut self, ty: GgmlType) -> Self {
        self.storage = WeightStorage::Quantized(ty);
        self
    }
}

/// An opened checkpoint: its config, its tensors (read later, one at a time), the names it gives a
/// composition's parameters, and its tokenizer when it ships one.
pub struct Pretrained {
    config: Phi3Config,
    generation: GenerationDefaults,
    names: CheckpointNames,
    weights: Box<dyn WeightSource + Send + Sync>,
    tokenizer: TokenizerSource,
}

/// Where a checkpoint's tokenizer is, read only when asked for (its tables take tens of MB while
/// they are built, which a model-only load never pays).
enum TokenizerSource {
    Gguf(Arc<GgufFile>),
    Dir(PathBuf),
    None,
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
            let file = Arc::new(GgufFile::open(path)?);
            let mut config = config_from_gguf(&file)?;
            let generation = crate::gguf::generation_defaults(&file);
            generation.merge_into(&mut config);
            let tokenizer = match file.get("tokenizer.ggml.model") {
                Some(_) => TokenizerSource::Gguf(file.clone()),
                None => TokenizerSource::None,
            };
            return Ok(Self {
                names: phi3::names(&config),
                weights: Box::new(GgufWeights::new(file, &config)),
                config,
                generation,
                tokenizer,
            });
        }
        let config_path = path.join("config.json");
        let text = read_text(&config_path, SETTINGS_LIMIT)
            .map_err(|source| Phi3Error::io(&config_path, source))?;
        let model_type = serde_json::from_str::<serde_json::Value>(&text)
            .ok()
            .and_then(|v| v.get("model_type")?.as_str().map(str::to_string));
        let (mut config, names) = match model_type.as_deref() {
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
            true => TokenizerSource::Dir(path.into()),
            false => TokenizerSource::None,
        };
        let generation = GenerationDefaults::from_dir(path)?;
        generation.merge_into(&mut config);
        Ok(Self {
            weights: Box::new(Checkpoint::open(path)?),
            config,
            generation,
            names,
            tokenizer,
        })
    }

    /// Opens a checkpoint of the Hugging Face hub by id (`"microsoft/Phi-3-mini-4k-instruct"`),
    /// fetching what the cache lacks: [`crate::hub::snapshot`], then [`Self::open`].
    #[cfg(feature = "hub")]
    pub fn from_pretrained(repo_id: &str, hub: &crate::hub::HubOptions) -> Result<Self> {
        Self::open(crate::hub::snapshot(repo_id, hub)?)
    }

    /// The checkpoint's tokenizer, if it ships one: a directory's `tokenizer.json` (+
    /// `tokenizer_config.json`, `added_tokens.json`), or a GGUF file's `tokenizer.ggml.*`
    /// metadata. Built on each call.
    pub fn tokenizer(&self) -> Result<Option<Tokenizer>> {
        Ok(match &self.tokenizer {
            TokenizerSource::Gguf(file) => Some(tokenizer_from_gguf(file)?),
            TokenizerSource::Dir(dir) => Some(Tokenizer::from_dir(dir)?),
            TokenizerSource::None => None,
        })
    }

    /// What the checkpoint says about generating (`generation_config.json`, or a GGUF file's
    /// end-of-text ids). Its stop ids are already in [`Self::config`]'s, so generation stops
    /// there by default; [`GenerationDefaults::generation_config`] gives its sampling defaults.
    pub fn generation_defaults(&self) -> &GenerationDefaults {
        &self.generation
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
        match options.storage {
            WeightStorage::Float(DType::F32 | DType::F16 | DType::BF16) => {}
            WeightStorage::Float(other) => {
                return Err(Phi3Error::InvalidOption {
                    option: "dtype",
                    message: format!("is {other:?}, expected F32, F16 or BF16"),
                });
            }
            WeightStorage::Quantized(GgmlType::Q8_0 | GgmlType::Q4_0 | GgmlType::Q4_1) => {}
            WeightStorage::Quantized(other) => {
                return Err(Phi3Error::InvalidOption {
                    option: "quantized",
                    message: format!("is {}, expected Q8_0, Q4_0 or Q4_1", other.name()),
                });
            }
            WeightStorage::AsStored => {}
        }
        match &options.progress {
            Some(callback) => {
                let mut tracked = progress::Tracked::new(self.weights.as_mut(), callback);
                fill::fill(model, &mut tracked, &self.names, options.storage)
            }
            None => fill::fill(model, self.weights.as_mut(), &self.names, options.storage),
        }
    }
}
