//! Typed errors of the foundation: configs, parts, forward passes, devices. Each names the file,
//! field or part and what was expected.

use std::path::PathBuf;

/// Everything `phi3-core` can fail with. The root `phi3` crate wraps it in `Phi3Error::Model`.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// A file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// A JSON file (a config, a shard index) did not parse.
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
    /// A part was asked for with sizes it cannot have (heads that do not divide, a zero width).
    #[error("invalid {part}: `{parameter}` {message}")]
    Part {
        /// The part's type, e.g. `GroupedQueryAttention`.
        part: &'static str,
        /// The offending argument.
        parameter: &'static str,
        /// What is wrong and what was expected.
        message: String,
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
    /// A token id is outside the vocabulary.
    #[error("token id {id} is outside the vocabulary of {vocab}")]
    TokenOutOfRange {
        /// The offending id (negative ones come from raw id tensors).
        id: i64,
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
    /// A tensor could not be read back to the host as the element type asked for.
    #[error("reading a tensor back to the host: {0}")]
    Readback(#[from] burn::tensor::DataError),
}

/// Result alias for this crate.
pub type Result<T> = std::result::Result<T, ModelError>;

impl ModelError {
    /// A [`ModelError::Part`]: `part` cannot take `parameter`, because `message`.
    pub fn part(part: &'static str, parameter: &'static str, message: impl Into<String>) -> Self {
        Self::Part {
            part,
            parameter,
            message: message.into(),
        }
    }
}
