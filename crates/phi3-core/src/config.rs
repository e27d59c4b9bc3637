//! `Phi3Config`: Hugging Face's `config.json` for Phi-3, field for field, validated once at load.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{ModelError, Result};
use crate::feed_forward::Activation;

/// How rotary frequencies are rescaled for long contexts, resolved from a config.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum RopeScaling {
    /// Plain RoPE.
    None,
    /// Positions divided by `factor` (linear interpolation).
    Linear {
        /// Interpolation factor.
        factor: f64,
    },
    /// Phi-3 LongRoPE: per-frequency rescale factors, `short` while the sequence fits in
    /// `original_max_position_embeddings`, `long` beyond it; cos and sin multiplied by
    /// `attention_factor`.
    LongRope {
        /// Factors used while `end <= original_max_position_embeddings` (one per frequency).
        short_factor: Vec<f64>,
        /// Factors used past `original_max_position_embeddings`.
        long_factor: Vec<f64>,
        /// The pre-training context length.
        original_max_position_embeddings: usize,
        /// Multiplier on cos and sin (transformers' `attention_scaling`).
        attention_factor: f64,
    },
}

/// RoPE settings as written in `config.json`: the hub's `rope_scaling` object or transformers 5's
/// `rope_parameters` (which also carries `rope_theta` and `partial_rotary_factor`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RopeParameters {
    /// transformers 5 spelling of the scaling type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rope_type: Option<String>,
    /// Hub spelling of the scaling type (`longrope`, legacy `su`).
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Base wavelength (transformers 5 keeps it here).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rope_theta: Option<f64>,
    /// Fraction of each head that is rotated (transformers 5 keeps it here).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partial_rotary_factor: Option<f64>,
    /// LongRoPE factors for short sequences.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub short_factor: Option<Vec<f64>>,
    /// LongRoPE factors past `original_max_position_embeddings`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub long_factor: Option<Vec<f64>>,
    /// Linear scaling factor, or LongRoPE's context extension ratio.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub factor: Option<f64>,
    /// Explicit LongRoPE attention factor.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attention_factor: Option<f64>,
    /// Pre-training context length (transformers 5 copies it here).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub original_max_position_embeddings: Option<usize>,
}

/// `eos_token_id`: one id or a list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum TokenIds {
    /// A single id.
    One(u32),
    /// Several ids.
    Many(Vec<u32>),
}

impl TokenIds {
    /// The ids as a list.
    pub fn to_vec(&self) -> Vec<u32> {
        match self {
            Self::One(id) => vec![*id],
            Self::Many(ids) => ids.clone(),
        }
    }

    /// A list of ids: `None` when empty, `One` for one.
    pub fn from_ids(ids: Vec<u32>) -> Option<Self> {
        match ids.as_slice() {
            [] => None,
            [id] => Some(Self::One(*id)),
            _ => Some(Self::Many(ids)),
        }
    }
}

/// Phi-3's `config.json`, and the sizes every decoder composition is built from. Field names are
/// Hugging Face's; defaults are `Phi3Config`'s in transformers. Build it with
/// [`Phi3Config::from_file`] or [`Phi3Config::from_json`], which validate it. Other checkpoint
/// families convert their own `config.json` into it (the root crate's `models::gpt2`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Phi3Config {
    /// Rows of the embedding and of `lm_head`.
    pub vocab_size: usize,
    /// Model width.
    pub hidden_size: usize,
    /// MLP width (`gate_up_proj` has twice as many rows).
    pub intermediate_size: usize,
    /// Decoder layers.
    pub num_hidden_layers: usize,
    /// Query heads.
    pub num_attention_heads: usize,
    /// Key/value heads; defaults to `num_attention_heads`.
    #[serde(default)]
    pub num_key_value_heads: Option<usize>,
    /// Context length the position tables cover.
    #[serde(default = "default_max_positions")]
    pub max_position_embeddings: usize,
    /// Pre-training context length (LongRoPE switches factors past it).
    #[serde(default)]
    pub original_max_position_embeddings: Option<usize>,
    /// RoPE base (hub spelling).
    #[serde(default)]
    pub rope_theta: Option<f64>,
    /// RoPE scaling (hub spelling).
    #[serde(default)]
    pub rope_scaling: Option<RopeParameters>,
    /// RoPE settings (transformers 5 spelling).
    #[serde(default)]
    pub rope_parameters: Option<RopeParameters>,
    /// Fraction of each head that is rotated.
    #[serde(default)]
    pub partial_rotary_factor: Option<f64>,
    /// Sliding attention window, if any.
    #[serde(default)]
    pub sliding_window: Option<usize>,
    /// RMSNorm epsilon.
    #[serde(default = "default_eps")]
    pub rms_norm_eps: f64,
    /// Beginning-of-sequence token.
    #[serde(default)]
    pub bos_token_id: Option<u32>,
    /// End-of-sequence token(s).
    #[serde(default)]
    pub eos_token_id: Option<TokenIds>,
    /// Padding token (the embedding's `padding_idx`).
    #[serde(default)]
    pub pad_token_id: Option<u32>,
    /// `lm_head` shares the embedding matrix.
    #[serde(default)]
    pub tie_word_embeddings: bool,
    /// Feed-forward activation (transformers' names: `silu`, `gelu`, `gelu_new`, `relu`, ...);
    /// Phi-3 uses `silu`.
    #[serde(default = "default_act")]
    pub hidden_act: String,
    /// The checkpoint family (`phi3`, `llama`, `gpt2`): which names its tensors have.
    #[serde(default)]
    pub model_type: Option<String>,
    /// Explicit head size (Llama configs write it); must equal `hidden_size / num_attention_heads`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub head_dim: Option<usize>,
}

fn default_max_positions() -> usize {
    4096
}
fn default_eps() -> f64 {
    1e-5
}
fn default_act() -> String {
    "silu".into()
}

/// `x > 0`, false for NaN.
/// A finite number above zero (NaN and infinities are not).
fn positive(x: f64) -> bool {
    x > 0.0 && x.is_finite()
}

/// The largest sizes a config may name: far above every published model (Phi-3-medium: 40
/// layers, 5120 wide, 17920 MLP, 32064 tokens, 131072 positions), low enough that what they
/// allocate up front — rotary tables of `max_position_embeddings` rows, per-layer lists — stays
/// bounded when a config comes from a stranger. Sizes are also checked to multiply without
/// overflow.
pub const LIMITS: [(&str, usize); 6] = [
    ("vocab_size", 1 << 22),
    ("hidden_size", 1 << 16),
    ("intermediate_size", 1 << 20),
    ("num_hidden_layers", 1 << 10),
    ("num_attention_heads", 1 << 10),
    ("max_position_embeddings", 1 << 20),
];

fn bad(field: &'static str, message: impl Into<String>) -> ModelError {
    ModelError::Config {
        field,
        message: message.into(),
    }
}

impl Phi3Config {
    /// Reads and validates a `config.json`.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let text = crate::text_file::read_text(path, crate::text_file::SETTINGS_LIMIT).map_err(
            |source| ModelError::Io {
                path: path.into(),
                source,
            },
        )?;
        Self::from_json(&text).map_err(|e| match e {
            ModelError::Json { message, what, .. } => ModelError::Json {
                path: path.into(),
                what,
                message,
            },
            other => other,
        })
    }

    /// Parses and validates `config.json` text.
    pub fn from_json(text: &str) -> Result<Self> {
        let config: Self = serde_json::from_str(text).map_err(|e| ModelError::Json {
            path: "<config.json>".into(),
            what: "a Phi-3 config",
            message: e.to_string(),
        })?;
        config.validate()?;
        Ok(config)
    }

    /// Checks every invariant the model relies on.
    pub fn validate(&self) -> Result<()> {
        for (field, value) in [
            ("vocab_size", self.vocab_size),
            ("hidden_size", self.hidden_size),
            ("intermediate_size", self.intermediate_size),
            ("num_hidden_layers", self.num_hidden_layers),
            ("num_attention_heads", self.num_attention_heads),
            ("max_position_embeddings", self.max_position_embeddings),
        ] {
            if value == 0 {
                return Err(bad(field, "must be positive"));
            }
            let limit = LIMITS
                .iter()
                .find(|(f, _)| *f == field)
                .map_or(usize::MAX, |l| l.1);
            if value > limit {
                return Err(bad(
                    field,
                    format!("is {value}, above this library's limit of {limit}"),
                ));
            }
        }
        // The largest matrices' element counts (embedding, MLP) must not wrap around, and the
        // rotary tables built up front (max_position_embeddings × head_dim / 2, twice) stay
        // below 2^26 values each (Phi-3-128k: 6.3M).
        let rotary = self
            .max_position_embeddings
            .saturating_mul(self.hidden_size / self.num_attention_heads.max(1) / 2);
        if rotary > 1 << 26 {
            return Err(bad(
                "max_position_embeddings",
                format!(
                    "× head_dim / 2 = {rotary}: rotary tables above this library's 2^26 values"
                ),
            ));
        }
        for (field, product) in [
            ("vocab_size", self.vocab_size.checked_mul(self.hidden_size)),
            (
                "intermediate_size",
                self.intermediate_size.checked_mul(2 * self.hidden_size),
            ),
        ] {
            if product.is_none_or(|n| n > 1 << 40) {
                return Err(bad(field, "gives a matrix of more than 2^40 elements"));
            }
        }
        if !self.hidden_size.is_multiple_of(self.num_attention_heads) {
            return Err(bad(
                "num_attention_heads",
                format!(
                    "({}) must divide hidden_size ({})",
                    self.num_attention_heads, self.hidden_size
                ),
            ));
        }
        if let Some(d) = self.head_dim
            && d != self.hidden_size / self.num_attention_heads
        {
            return Err(bad(
                "head_dim",
                format!(
                    "is {d}; only hidden_size / num_attention_heads = {} is supported",
                    self.hidden_size / self.num_attention_heads
                ),
            ));
        }
        let kv = self.num_key_value_heads();
        if kv == 0 || !self.num_attention_heads.is_multiple_of(kv) {
            return Err(bad(
                "num_key_value_heads",
                format!(
                    "({kv}) must be positive and divide num_attention_heads ({})",
                    self.num_attention_heads
                ),
            ));
        }
        self.activation()?;
        if !positive(self.rms_norm_eps) {
            return Err(bad("rms_norm_eps", "must be positive"));
        }
        if self.sliding_window == Some(0) {
            return Err(bad("sliding_window", "must be positive or null"));
        }
        let factor = self.partial_rotary_factor_value();
        if !(positive(factor) && factor <= 1.0) {
            return Err(bad(
                "partial_rotary_factor",
                format!("is {factor}, expected (0, 1]"),
            ));
        }
        if self.rotary_dim() == 0 || !self.rotary_dim().is_multiple_of(2) {
            return Err(bad(
                "partial_rotary_factor",
                format!(
                    "gives {} rotary dims, expected a positive even number",
                    self.rotary_dim()
                ),
            ));
        }
        // Below 1 the frequencies θ^(-2i/d) grow instead of falling: angles overflow to NaN.
        let theta = self.rope_theta_value();
        if !(positive(theta) && theta > 1.0) {
            return Err(bad(
                "rope_theta",
                format!("is {theta}, expected a number > 1"),
            ));
        }
        // A top-level value that the RoPE object overrides would be ignored in silence.
        if let Some(params) = self.rope_params() {
            for (field, top, inner) in [
                ("rope_theta", self.rope_theta, params.rope_theta),
                (
                    "partial_rotary_factor",
                    self.partial_rotary_factor,
                    params.partial_rotary_factor,
                ),
            ] {
                if let (Some(a), Some(b)) = (top, inner)
                    && a != b
                {
                    return Err(bad(
                        field,
                        format!("is {a} here and {b} in the RoPE parameters; keep one"),
                    ));
                }
            }
        }
        if let (Some(a), Some(b)) = (&self.rope_parameters, &self.rope_scaling)
            && a != b
        {
            return Err(bad(
                "rope_scaling",
                "conflicts with rope_parameters (both given, different); keep one",
            ));
        }
        if self.original_max_position_embeddings() == 0 {
            return Err(bad("original_max_position_embeddings", "must be positive"));
        }
        if self.original_max_position_embeddings() > self.max_position_embeddings {
            return Err(bad(
                "original_max_position_embeddings",
                format!(
                    "({}) exceeds max_position_embeddings ({})",
                    self.original_max_position_embeddings(),
                    self.max_position_embeddings
                ),
            ));
        }
        if let Some(TokenIds::Many(ids)) = &self.eos_token_id
            && ids.is_empty()
        {
            return Err(bad("eos_token_id", "is an empty list"));
        }
        self.rope().map(|_| ())
    }

    /// The RoPE parameters from whichever spelling the file used.
    fn rope_params(&self) -> Option<&RopeParameters> {
        self.rope_parameters.as_ref().or(self.rope_scaling.as_ref())
    }

    /// The feed-forward activation `hidden_act` names.
    pub fn activation(&self) -> Result<Activation> {
        Activation::from_hf(&self.hidden_act).ok_or_else(|| {
            bad(
                "hidden_act",
                format!(
                    "is {:?}, expected one of {}",
                    self.hidden_act,
                    Activation::HF_NAMES.join(", ")
                ),
            )
        })
    }

    /// Key/value heads.
    pub fn num_key_value_heads(&self) -> usize {
        self.num_key_value_heads.unwrap_or(self.num_attention_heads)
    }

    /// Size of one attention head.
    pub fn head_dim(&self) -> usize {
        self.hidden_size / self.num_attention_heads
    }

    /// Fraction of each head that is rotated.
    pub fn partial_rotary_factor_value(&self) -> f64 {
        self.rope_params()
            .and_then(|r| r.partial_rotary_factor)
            .or(self.partial_rotary_factor)
            .unwrap_or(1.0)
    }

    /// Rotated dimensions per head (`int(head_dim * partial_rotary_factor)`, as transformers).
    pub fn rotary_dim(&self) -> usize {
        (self.head_dim() as f64 * self.partial_rotary_factor_value()) as usize
    }

    /// RoPE base.
    pub fn rope_theta_value(&self) -> f64 {
        self.rope_params()
            .and_then(|r| r.rope_theta)
            .or(self.rope_theta)
            .unwrap_or(10000.0)
    }

    /// Pre-training context length; the top-level field wins, as in transformers.
    pub fn original_max_position_embeddings(&self) -> usize {
        self.original_max_position_embeddings
            .or(self
                .rope_params()
                .and_then(|r| r.original_max_position_embeddings))
            .unwrap_or(self.max_position_embeddings)
    }

    /// End-of-sequence ids as a list.
    pub fn eos_token_ids(&self) -> Vec<u32> {
        self.eos_token_id.as_ref().map_or(vec![], TokenIds::to_vec)
    }

    /// The frequency scaling, resolved and checked.
    ///
    /// `su` and `yarn` are legacy names of `longrope` in Phi-3 configs (transformers' Phi3Config
    /// maps both); the attention factor defaults to `sqrt(1 + ln(s) / ln(original))` with
    /// `s = max_position_embeddings / original_max_position_embeddings` when `s > 1`.
    pub fn rope(&self) -> Result<RopeScaling> {
        let Some(params) = self.rope_params() else {
            return Ok(RopeScaling::None);
        };
        let kind = params
            .rope_type
            .as_deref()
            .or(params.kind.as_deref())
            .unwrap_or("default");
        match kind {
            "default" => Ok(RopeScaling::None),
            "linear" => match params.factor {
                Some(factor) if positive(factor) => Ok(RopeScaling::Linear { factor }),
                other => Err(bad(
                    "rope_scaling",
                    format!("linear needs a positive `factor`, got {other:?}"),
                )),
            },
            "longrope" | "su" | "yarn" => {
                let half = self.rotary_dim() / 2;
                let check = |name: &str, f: &Option<Vec<f64>>| -> Result<Vec<f64>> {
                    match f {
                        Some(v) if v.len() == half && v.iter().all(|x| positive(*x)) => {
                            Ok(v.clone())
                        }
                        Some(v) => Err(bad(
                            "rope_scaling",
                            format!(
                                "{name} has {} entries, expected rotary_dim / 2 = {half} positive numbers",
                                v.len()
                            ),
                        )),
                        None => Err(bad("rope_scaling", format!("longrope needs `{name}`"))),
                    }
                };
                let short_factor = check("short_factor", &params.short_factor)?;
                let long_factor = check("long_factor", &params.long_factor)?;
                let original = self.original_max_position_embeddings();
                let attention_factor = match params.attention_factor {
                    Some(a) => a,
                    None => {
                        let s = params
                            .factor
                            .unwrap_or(self.max_position_embeddings as f64 / original as f64);
                        if s <= 1.0 {
                            1.0
                        } else {
                            (1.0 + s.ln() / (original as f64).ln()).sqrt()
                        }
                    }
                };
                if !positive(attention_factor) {
                    return Err(bad(
                        "rope_scaling",
                        format!(
                            "gives attention_factor {attention_factor}, expected a finite number > 0"
                        ),
                    ));
                }
                Ok(RopeScaling::LongRope {
                    short_factor,
                    long_factor,
                    original_max_position_embeddings: original,
                    attention_factor,
                })
            }
            other => Err(bad(
                "rope_scaling",
                format!(
                    "has unknown type {other:?}, expected one of default, linear, longrope (or su)"
                ),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINI: &str =
        include_str!("../../../tests/fixtures/configs/phi-3-mini-4k-instruct.config.json");

    #[test]
    fn reads_phi3_mini_hub_config() {
        let c = Phi3Config::from_json(MINI).unwrap();
        assert_eq!(c.head_dim(), 96);
        assert_eq!(c.num_key_value_heads(), 32);
        assert_eq!(c.sliding_window, Some(2047));
        assert_eq!(c.rope().unwrap(), RopeScaling::None);
        assert_eq!(c.eos_token_ids(), vec![32000]);
    }

    fn longrope_hub(kind: &str, factors: usize) -> String {
        let f = vec!["1.0"; factors].join(",");
        format!(
            r#"{{"vocab_size": 100, "hidden_size": 64, "intermediate_size": 32,
            "num_hidden_layers": 1, "num_attention_heads": 4, "max_position_embeddings": 131072,
            "original_max_position_embeddings": 4096, "rope_theta": 10000.0,
            "eos_token_id": [32000, 32007],
            "rope_scaling": {{"type": "{kind}", "short_factor": [{f}], "long_factor": [{f}]}}}}"#
        )
    }

    #[test]
    fn longrope_hub_spelling_and_legacy_su() {
        for kind in ["longrope", "su"] {
            let c = Phi3Config::from_json(&longrope_hub(kind, 8)).unwrap();
            let RopeScaling::LongRope {
                attention_factor,
                original_max_position_embeddings,
                ..
            } = c.rope().unwrap()
            else {
                panic!("expected longrope");
            };
            assert_eq!(original_max_position_embeddings, 4096);
            // Phi-3-mini-128k's factor: sqrt(1 + ln(32) / ln(4096)).
            assert!((attention_factor - (1.0f64 + 32f64.ln() / 4096f64.ln()).sqrt()).abs() < 1e-12);
            assert_eq!(c.eos_token_ids(), vec![32000, 32007]);
        }
    }

    #[test]
    fn rejects_wrong_factor_length() {
        let err = Phi3Config::from_json(&longrope_hub("longrope", 7)).unwrap_err();
        assert!(err.to_string().contains("rotary_dim / 2 = 8"), "{err}");
    }

    #[test]
    fn rejects_unknown_rope_type() {
        let err = Phi3Config::from_json(&longrope_hub("dynamic-ntk", 8)).unwrap_err();
        assert!(
            matches!(
                err,
                ModelError::Config {
                    field: "rope_scaling",
                    ..
                }
            ),
            "{err}"
        );
        assert!(err.to_string().contains("dynamic-ntk"), "{err}");
    }

    #[test]
    fn rejects_kv_heads_not_dividing_heads() {
        let text = MINI.replace("\"num_key_value_heads\": 32", "\"num_key_value_heads\": 5");
        let err = Phi3Config::from_json(&text).unwrap_err();
        assert!(
            matches!(
                err,
                ModelError::Config {
                    field: "num_key_value_heads",
                    ..
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn rejects_heads_not_dividing_hidden() {
        let text = MINI
            .replace("\"num_attention_heads\": 32", "\"num_attention_heads\": 7")
            .replace("\"num_key_value_heads\": 32", "\"num_key_value_heads\": 7");
        let err = Phi3Config::from_json(&text).unwrap_err();
        assert!(
            matches!(
                err,
                ModelError::Config {
                    field: "num_attention_heads",
                    ..
                }
            ),
            "{err}"
        );
    }
}
