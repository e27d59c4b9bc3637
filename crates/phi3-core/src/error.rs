//! Typed errors. Each names the file, tensor or parameter and what was expected.

use std::path::PathBuf;

/// Everything that can go wrong loading or running a model.
#[derive(Debug, thiserror::Error)]
pub enum Phi3Error {
    /// A file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// A JSON file (config or shard index) did not parse.
    #[error("{path} is not valid JSON for {what}: {message}")]
    Json {
        /// The file.
        path: PathBuf,
        /// What the file should contain.
        what: &'static str,
        /// serde's message.
        message: String,
    },
    /// A config value is out of range, inconsistent or unknown.
    #[error("invalid config: `{field}` {message}")]
    Config {
        /// The config.json field.
        field: &'static str,
        /// What is wrong and what was expected.
        message: String,
    },
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
    /// The input is longer than the model's position tables.
    #[error(
        "sequence of {len} tokens exceeds the context length of {max} (max_position_embeddings)"
    )]
    ContextOverflow {
        /// Tokens requested.
        len: usize,
        /// The model's limit.
        max: usize,
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
    /// Invalid sampler settings or logits (NaN).
    #[error("sampling: {0}")]
    Sampling(String),
    /// The tokenizer failed.
    #[error(transparent)]
    Tokenizer(#[from] phi3_tokenizer::TokenizerError),
    /// A token id is outside the vocabulary.
    #[error("token id {id} is outside the vocabulary of {vocab}")]
    TokenOutOfRange {
        /// The offending id.
        id: u32,
        /// `vocab_size`.
        vocab: usize,
    },
    /// The input has no tokens.
    #[error("input has no tokens")]
    EmptyInput,
    /// The requested device cannot be used on this machine.
    #[error("device {device} is unavailable: {reason}")]
    DeviceUnavailable {
        /// The device asked for.
        device: String,
        /// Why not.
        reason: String,
    },
}

/// Result alias for this crate.
pub type Result<T> = std::result::Result<T, Phi3Error>;
