//! # phi3-tokenizer
//!
//! Text ↔ token ids for Phi-3: a typed wrapper over Hugging Face's `tokenizers` crate that also
//! reads `tokenizer_config.json` (special tokens, chat template), renders chat templates with a
//! real Jinja engine (`minijinja`), and decodes a stream of tokens into text without ever
//! emitting a broken UTF-8 character ([`StreamDecoder`]).
// Tokenizer files come from strangers: a bad one is a typed error, never a panic.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

mod chat;
mod gguf;
mod stream;

pub use chat::{ChatMessage, PHI3_CHAT_TEMPLATE};
pub use gguf::GgufVocab;
pub use stream::StreamDecoder;

use std::path::{Path, PathBuf};

use serde::Deserialize;

/// Tokenizer failures, naming the file or input.
#[derive(Debug, thiserror::Error)]
pub enum TokenizerError {
    /// `tokenizer.json` or `tokenizer_config.json` is missing or malformed.
    #[error("cannot load tokenizer from {path}: {message}")]
    Load {
        /// The file.
        path: PathBuf,
        /// Why.
        message: String,
    },
    /// Encoding or decoding failed.
    #[error("tokenizer failed: {0}")]
    Codec(String),
    /// The chat template did not parse or render.
    #[error("chat template: {0}")]
    Template(String),
}

/// `tokenizer_config.json`, the fields this crate uses.
#[derive(Debug, Clone, Default, Deserialize)]
struct TokenizerConfig {
    #[serde(default)]
    chat_template: Option<ChatTemplateField>,
    /// Tokens by id (transformers' `added_tokens_decoder`): Phi-3's published file adds its
    /// special tokens 32000–32010 here.
    #[serde(default)]
    added_tokens_decoder: std::collections::BTreeMap<String, AddedEntry>,
    /// `LlamaTokenizer` (Phi-3's): transformers rebuilds the pre-tokenization (below).
    #[serde(default)]
    tokenizer_class: Option<String>,
    #[serde(default)]
    legacy: Option<bool>,
    #[serde(default)]
    add_prefix_space: Option<bool>,
    #[serde(default)]
    bos_token: Option<TokenField>,
    #[serde(default)]
    eos_token: Option<TokenField>,
}

/// One token of `added_tokens_decoder`, with how it matches (`rstrip`: the whitespace after it
/// belongs to it — Phi-3's `<|end|>` and `<|user|>` are so).
#[derive(Debug, Clone, Deserialize)]
struct AddedEntry {
    content: String,
    #[serde(default)]
    special: bool,
    #[serde(default)]
    lstrip: bool,
    #[serde(default)]
    rstrip: bool,
    #[serde(default)]
    normalized: bool,
    #[serde(default)]
    single_word: bool,
}

/// `chat_template`: one template, or a list of named ones (the `default` is used).
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum ChatTemplateField {
    One(String),
    Named(Vec<NamedTemplate>),
}

#[derive(Debug, Clone, Deserialize)]
struct NamedTemplate {
    name: String,
    template: String,
}

/// A special token written as a string or as an `AddedToken` object.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum TokenField {
    Text(String),
    Object { content: String },
}

impl TokenField {
    fn text(&self) -> &str {
        match self {
            Self::Text(s) | Self::Object { content: s } => s,
        }
    }
}

/// A tokenizer with its chat template.
#[derive(Clone)]
pub struct Tokenizer {
    inner: tokenizers::Tokenizer,
    chat_template: String,
    bos_token: Option<String>,
    eos_token: Option<String>,
}

/// The largest `tokenizer.json` read (real ones: 2–35 MB) and the largest settings file
/// (`tokenizer_config.json`, `added_tokens.json`: kilobytes to a few megabytes).
const TOKENIZER_LIMIT: u64 = 256 << 20;
const SETTINGS_LIMIT: u64 = 16 << 20;

/// The file at `path` as text, refused when it holds more than `limit` bytes (read at most
/// `limit + 1`: a symlink to an endless file is an error, not an endless read).
fn read_text(path: &Path, limit: u64) -> Result<String, TokenizerError> {
    use std::io::Read;
    let mut text = String::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(limit + 1).read_to_string(&mut text))
        .map_err(|e| load_error(path, e))?;
    if text.len() as u64 > limit {
        return Err(load_error(path, format!("more than {limit} bytes")));
    }
    Ok(text)
}

fn load_error(path: &Path, message: impl ToString) -> TokenizerError {
    TokenizerError::Load {
        path: path.into(),
        message: message.to_string(),
    }
}

impl Tokenizer {
    /// Loads a `tokenizer.json`, with Phi-3's chat format as the template.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self, TokenizerError> {
        let path = path.as_ref();
        let text = read_text(path, TOKENIZER_LIMIT)?;
        let inner = text
            .parse::<tokenizers::Tokenizer>()
            .map_err(|e| load_error(path, e))?;
        Ok(Self {
            inner,
            chat_template: PHI3_CHAT_TEMPLATE.into(),
            bos_token: None,
            eos_token: None,
        })
    }

    /// Loads `tokenizer.json` from `dir`, plus `tokenizer_config.json` (chat template, BOS/EOS)
    /// when present.
    pub fn from_dir(dir: impl AsRef<Path>) -> Result<Self, TokenizerError> {
        let dir = dir.as_ref();
        let mut tokenizer = Self::from_file(dir.join("tokenizer.json"))?;
        let config_path = dir.join("tokenizer_config.json");
        if config_path.exists() {
            let text = read_text(&config_path, SETTINGS_LIMIT)?;
            tokenizer = tokenizer.with_config_json(&text, &config_path)?;
        }
        let added_path = dir.join("added_tokens.json");
        if added_path.exists() {
            tokenizer.add_tokens_file(&added_path)?;
        }
        Ok(tokenizer)
    }

    /// Applies a `tokenizer_config.json`'s contents (`text`; `path` names it in errors): chat
    /// template, BOS/EOS, Llama pre-tokenization, `added_tokens_decoder`.
    pub fn with_config_json(mut self, text: &str, path: &Path) -> Result<Self, TokenizerError> {
        let config: TokenizerConfig =
            serde_json::from_str(text).map_err(|e| load_error(path, e))?;
        if let Some(template) = config.chat_template {
            self.chat_template = match template {
                ChatTemplateField::One(t) => t,
                ChatTemplateField::Named(list) => list
                    .into_iter()
                    .find(|t| t.name == "default")
                    .map(|t| t.template)
                    .ok_or_else(|| load_error(path, "no `default` chat template"))?,
            };
        }
        self.bos_token = config.bos_token.map(|t| t.text().to_string());
        self.eos_token = config.eos_token.map(|t| t.text().to_string());
        if matches!(
            config.tokenizer_class.as_deref(),
            Some("LlamaTokenizer" | "LlamaTokenizerFast")
        ) {
            self.llama_pre_tokenization(config.legacy, config.add_prefix_space);
        }
        let mut added = Vec::with_capacity(config.added_tokens_decoder.len());
        for (id, entry) in config.added_tokens_decoder {
            let id = id.parse::<u32>().map_err(|_| {
                load_error(
                    path,
                    format!("added_tokens_decoder key {id:?} is not an id"),
                )
            })?;
            let token = tokenizers::AddedToken::from(entry.content, entry.special)
                .lstrip(entry.lstrip)
                .rstrip(entry.rstrip)
                .normalized(entry.normalized)
                .single_word(entry.single_word);
            added.push((id, token));
        }
        self.add_tokens(path, added)?;
        Ok(self)
    }

    /// What transformers' `LlamaTokenizer` does to a `tokenizer.json` it loads, whatever that
    /// file says: no normalizer, and a Metaspace pre-tokenizer that marks word starts with `▁` —
    /// prepending one to the first piece of the text only, unless `legacy` is `true` (then to
    /// every piece between special tokens) or `add_prefix_space` is `false` (then never).
    /// Phi-3's published `tokenizer_config.json` has `legacy: false`: after `<|user|>` the text
    /// `What` is the piece "What", not "▁What" (the published `tokenizer.json`'s own normalizer
    /// would prepend one).
    fn llama_pre_tokenization(&mut self, legacy: Option<bool>, add_prefix_space: Option<bool>) {
        use tokenizers::pre_tokenizers::metaspace::{Metaspace, PrependScheme};
        let scheme = match (add_prefix_space.unwrap_or(true), legacy.unwrap_or(false)) {
            (false, _) => PrependScheme::Never,
            (true, true) => PrependScheme::Always,
            (true, false) => PrependScheme::First,
        };
        self.inner
            .with_normalizer(None::<tokenizers::NormalizerWrapper>)
            .with_pre_tokenizer(Some(Metaspace::new('▁', scheme, false)));
    }

    /// Adds the special tokens of an `added_tokens.json` (`{"<|end|>": 32007, ...}`) that the
    /// vocabulary lacks.
    fn add_tokens_file(&mut self, path: &Path) -> Result<(), TokenizerError> {
        let text = read_text(path, SETTINGS_LIMIT)?;
        let tokens: std::collections::BTreeMap<String, u32> =
            serde_json::from_str(&text).map_err(|e| load_error(path, e))?;
        let added = tokens
            .into_iter()
            .map(|(t, id)| (id, tokenizers::AddedToken::from(t, true)))
            .collect();
        self.add_tokens(path, added)
    }

    /// Adds the tokens the vocabulary lacks, in order of id; each must land on its stated id, and
    /// one the vocabulary has must have that id already (`path` names the file in errors).
    fn add_tokens(
        &mut self,
        path: &Path,
        mut tokens: Vec<(u32, tokenizers::AddedToken)>,
    ) -> Result<(), TokenizerError> {
        tokens.sort_by_key(|(id, _)| *id);
        let mut missing = Vec::new();
        for (id, token) in tokens {
            match self.inner.token_to_id(&token.content) {
                Some(existing) if existing == id => {}
                Some(existing) => {
                    return Err(load_error(
                        path,
                        format!(
                            "`{}` is id {existing} in tokenizer.json, {id} here",
                            token.content
                        ),
                    ));
                }
                None => missing.push((id, token)),
            }
        }
        // Added in runs of one kind (special or not), one call per run: the tokenizer rebuilds
        // its matcher on every call, so token by token would cost the square of their number.
        for run in missing.chunk_by(|a, b| a.1.special == b.1.special) {
            let batch: Vec<tokenizers::AddedToken> = run.iter().map(|(_, t)| t.clone()).collect();
            match batch[0].special {
                true => self.inner.add_special_tokens(&batch),
                false => self.inner.add_tokens(&batch),
            };
        }
        for (id, token) in &missing {
            let got = self.inner.token_to_id(&token.content);
            if got != Some(*id) {
                return Err(load_error(
                    path,
                    format!("`{}` should be id {id}, got {got:?}", token.content),
                ));
            }
        }
        Ok(())
    }

    /// Token ids of `text`; `add_special_tokens` applies the tokenizer's post-processor (BOS).
    pub fn encode(&self, text: &str, add_special_tokens: bool) -> Result<Vec<u32>, TokenizerError> {
        let encoding = self
            .inner
            .encode(text, add_special_tokens)
            .map_err(|e| TokenizerError::Codec(e.to_string()))?;
        Ok(encoding.get_ids().to_vec())
    }

    /// Text of `ids`.
    pub fn decode(&self, ids: &[u32], skip_special_tokens: bool) -> Result<String, TokenizerError> {
        self.inner
            .decode(ids, skip_special_tokens)
            .map_err(|e| TokenizerError::Codec(e.to_string()))
    }

    /// Id of a token string such as `<|end|>`.
    pub fn token_id(&self, token: &str) -> Option<u32> {
        self.inner.token_to_id(token)
    }

    /// Number of tokens in the vocabulary, added tokens included.
    pub fn vocab_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }

    /// The chat template in use.
    pub fn chat_template(&self) -> &str {
        &self.chat_template
    }

    /// Replaces the chat template.
    pub fn with_chat_template(mut self, template: impl Into<String>) -> Self {
        self.chat_template = template.into();
        self
    }

    /// Renders `messages` with the chat template; `add_generation_prompt` appends the
    /// assistant's header so the model answers next.
    pub fn apply_chat_template(
        &self,
        messages: &[ChatMessage],
        add_generation_prompt: bool,
    ) -> Result<String, TokenizerError> {
        chat::render(
            &self.chat_template,
            messages,
            add_generation_prompt,
            self.bos_token.as_deref(),
            self.eos_token.as_deref(),
        )
    }

    /// A streaming decoder over this tokenizer.
    pub fn stream(&self, skip_special_tokens: bool) -> StreamDecoder<'_> {
        StreamDecoder::new(self, skip_special_tokens)
    }
}

#[cfg(test)]
mod tests;
