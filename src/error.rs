//! The error every fallible call of the `phi3` crate returns. Each variant names the file, tensor
//! or parameter and what was expected.

use std::path::PathBuf;

use phi3_core::ModelError;
use phi3_sampling::SamplingError;
use phi3_tokenizer::TokenizerError;

/// Everything that can go wrong loading, running or generating with a model.
#[derive(Debug, thiserror::Error)]
pub enum Phi3Error {
    /// A config, a part, a forward pass or a device failed (`phi3-core`'s errors).
    #[error(transparent)]
    Model(#[from] ModelError),
    /// The tokenizer failed.
    #[error(transparent)]
    Tokenizer(#[from] TokenizerError),
    /// Invalid sampler settings, or logits a sampler cannot choose from (NaN).
    #[error("sampling: {0}")]
    Sampling(#[from] SamplingError),
    /// The checkpoint directory has neither `model.safetensors` nor a shard index.
    #[error("no weights in {dir}: expected model.safetensors or model.safetensors.index.json")]
    NoWeights {
        /// The directory.
        dir: PathBuf,
    },
    /// A shard named in `model.safetensors.index.json` is missing.
    #[error("{index} names shard {shard}, which does not exist")]
    MissingShard {
        /// The index file.
        index: PathBuf,
        /// The missing shard file.
        shard: PathBuf,
    },
    /// A shard index names a file outside the checkpoint directory (`../x`, an absolute path, or
    /// a symlink out): refused without opening it.
    #[error("{index} names shard {shard:?}: {reason}")]
    UnsafeShardPath {
        /// The index file.
        index: PathBuf,
        /// The name as the index gives it.
        shard: String,
        /// Why it is refused.
        reason: String,
    },
    /// A weight holds NaN or an infinity.
    #[error("tensor `{tensor}` in {file} holds NaN or inf (value {index})")]
    NonFiniteWeight {
        /// The tensor's checkpoint name.
        tensor: String,
        /// The checkpoint.
        file: PathBuf,
        /// Position of the first such value.
        index: usize,
    },
    /// A safetensors file is malformed or truncated.
    #[error("{file} is not a valid safetensors file: {message}")]
    Safetensors {
        /// The file.
        file: PathBuf,
        /// The parser's message.
        message: String,
    },
    /// A tensor the model needs is not in the checkpoint.
    #[error("tensor `{tensor}` is missing from {file} (expected shape {expected:?})")]
    MissingTensor {
        /// Checkpoint name of the tensor.
        tensor: String,
        /// Where it was looked for.
        file: PathBuf,
        /// The shape the model needs.
        expected: Vec<usize>,
    },
    /// A tensor in the checkpoint has the wrong shape.
    #[error("tensor `{tensor}` in {file} has shape {found:?}, expected {expected:?}")]
    ShapeMismatch {
        /// Checkpoint name of the tensor.
        tensor: String,
        /// The file holding it.
        file: PathBuf,
        /// Shape in the file.
        found: Vec<usize>,
        /// Shape the model needs.
        expected: Vec<usize>,
    },
    /// A tensor has a dtype the loader cannot convert.
    #[error("tensor `{tensor}` in {file} has dtype {found}, expected one of f32, f16, bf16")]
    UnsupportedDtype {
        /// Checkpoint name of the tensor.
        tensor: String,
        /// The file holding it.
        file: PathBuf,
        /// The dtype found.
        found: String,
    },
    /// The checkpoint holds tensors the model does not use (a wrong architecture or config).
    #[error("{file} holds tensors this model does not use: {tensors:?}")]
    UnexpectedTensors {
        /// One of the files holding them.
        file: PathBuf,
        /// Their names (first few).
        tensors: Vec<String>,
    },
    /// A GGUF file is malformed: bad magic or version, truncated, absurd sizes.
    #[error("{file} is not a valid GGUF file: {message}")]
    Gguf {
        /// The file.
        file: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A GGUF tensor has a GGML type this crate cannot dequantise.
    #[error(
        "tensor `{tensor}` in {file} has GGML type {type_id}, expected one of F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q4_K, Q5_K, Q6_K"
    )]
    UnsupportedTensorType {
        /// The file.
        file: PathBuf,
        /// The tensor.
        tensor: String,
        /// ggml's type id.
        type_id: u32,
    },
    /// A GGUF tensor's data runs past the end of the file.
    #[error(
        "tensor `{tensor}` in {file} ends at byte {end}, past the end of the file ({len} bytes)"
    )]
    TensorOutOfBounds {
        /// The file.
        file: PathBuf,
        /// The tensor.
        tensor: String,
        /// Where its data would end.
        end: u64,
        /// File length.
        len: u64,
    },
    /// A loading or generation option is out of range.
    #[error("invalid option `{option}`: {message}")]
    InvalidOption {
        /// The option.
        option: &'static str,
        /// What is wrong and what was expected.
        message: String,
    },
    /// Fetching from the Hugging Face hub failed (the `hub` feature), or, offline, the cache
    /// lacks the file.
    #[error("hub repository {repo} at revision {revision}{}: {message}", file.as_ref().map(|f| format!(", file {f}")).unwrap_or_default())]
    Hub {
        /// The repository id (`org/name`).
        repo: String,
        /// The revision asked for.
        revision: String,
        /// The file, when one file failed.
        file: Option<String>,
        /// What went wrong.
        message: String,
    },
    /// Prompt plus requested new tokens do not fit in the context.
    #[error(
        "prompt of {prompt_tokens} tokens + max_new_tokens {max_new_tokens} exceeds the context length of {context}"
    )]
    PromptTooLong {
        /// Tokens in the prompt.
        prompt_tokens: usize,
        /// Tokens requested.
        max_new_tokens: usize,
        /// `max_position_embeddings`.
        context: usize,
    },
}

impl Phi3Error {
    /// A file could not be read ([`ModelError::Io`]).
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        ModelError::Io {
            path: path.into(),
            source,
        }
        .into()
    }
}

/// Result alias for this crate.
pub type Result<T> = std::result::Result<T, Phi3Error>;
