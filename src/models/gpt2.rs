//! GPT-2 (Radford et al., 2019) built from the library's parts: learned absolute positions,
//! pre-norm LayerNorm with gains and biases, a GELU MLP, multi-head attention with a fused
//! `c_attn` and biases, and an `lm_head` tied to the token embedding.

use std::path::Path;

use burn::tensor::backend::Backend;
use phi3_attention::{AttentionShape, GroupedQueryAttention, LearnedPositions};
use phi3_core::{CausalLm, LayerNorm, Mlp, ModelError, Phi3Config, TokenIds};
use serde::Deserialize;

use crate::builder::DecoderBuilder;
use crate::error::Result;
use crate::load::{CheckpointNames, LinearLayout};

/// GPT-2 as a composition of parts (transformers' `GPT2LMHeadModel`).
pub type Gpt2LMHeadModel<B> =
    CausalLm<B, GroupedQueryAttention<B>, Mlp<B>, LayerNorm<B>, LearnedPositions<B>>;

/// GPT-2's `config.json`, field for field (transformers' `GPT2Config` names and defaults).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Gpt2Config {
    /// Vocabulary size.
    pub vocab_size: usize,
    /// Positions the learned table covers.
    pub n_positions: usize,
    /// Model width.
    pub n_embd: usize,
    /// Layers.
    pub n_layer: usize,
    /// Attention heads.
    pub n_head: usize,
    /// MLP width; `4 · n_embd` when absent.
    #[serde(default)]
    pub n_inner: Option<usize>,
    /// MLP activation.
    #[serde(default = "default_activation")]
    pub activation_function: String,
    /// LayerNorm epsilon.
    #[serde(default = "default_eps")]
    pub layer_norm_epsilon: f64,
    /// Beginning-of-sequence token.
    #[serde(default)]
    pub bos_token_id: Option<u32>,
    /// End-of-sequence token.
    #[serde(default)]
    pub eos_token_id: Option<u32>,
    /// `lm_head` shares the token embedding (GPT-2 always does).
    #[serde(default = "default_true")]
    pub tie_word_embeddings: bool,
    /// Scores divided by `sqrt(head_dim)`; only `true` is supported.
    #[serde(default = "default_true")]
    pub scale_attn_weights: bool,
    /// Scores further divided by the layer index; only `false` is supported.
    #[serde(default)]
    pub scale_attn_by_inverse_layer_idx: bool,
    /// Attention computed in f32 with reordered scaling; only `false` is supported.
    #[serde(default)]
    pub reorder_and_upcast_attn: bool,
}

fn default_activation() -> String {
    "gelu_new".into()
}
fn default_eps() -> f64 {
    1e-5
}
fn default_true() -> bool {
    true
}

impl Gpt2Config {
    /// Reads a GPT-2 `config.json`.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let text = phi3_core::text_file::read_text(path, phi3_core::text_file::SETTINGS_LIMIT)
            .map_err(|source| crate::error::Phi3Error::io(path, source))?;
        Ok(serde_json::from_str(&text).map_err(|e| ModelError::Json {
            path: path.into(),
            what: "a GPT-2 config",
            message: e.to_string(),
        })?)
    }

    /// The decoder config these settings describe (validated). The norm epsilon goes to
    /// `rms_norm_eps`, the config's one norm epsilon field.
    pub fn into_config(self) -> Result<Phi3Config> {
        let unsupported = |field: &'static str, value: bool| ModelError::Config {
            field,
            message: format!("is {value}, which this GPT-2 composition does not implement"),
        };
        if !self.scale_attn_weights {
            return Err(unsupported("scale_attn_weights", false).into());
        }
        if self.scale_attn_by_inverse_layer_idx {
            return Err(unsupported("scale_attn_by_inverse_layer_idx", true).into());
        }
        if self.reorder_and_upcast_attn {
            return Err(unsupported("reorder_and_upcast_attn", true).into());
        }
        let config = Phi3Config {
            vocab_size: self.vocab_size,
            hidden_size: self.n_embd,
            intermediate_size: self.n_inner.unwrap_or(4 * self.n_embd),
            num_hidden_layers: self.n_layer,
            num_attention_heads: self.n_head,
            num_key_value_heads: None,
            max_position_embeddings: self.n_positions,
            original_max_position_embeddings: None,
            rope_theta: None,
            rope_scaling: None,
            rope_parameters: None,
            partial_rotary_factor: None,
            sliding_window: None,
            rms_norm_eps: self.layer_norm_epsilon,
            bos_token_id: self.bos_token_id,
            eos_token_id: self.eos_token_id.map(TokenIds::One),
            pad_token_id: None,
            tie_word_embeddings: self.tie_word_embeddings,
            hidden_act: self.activation_function,
            model_type: Some("gpt2".into()),
            head_dim: None,
        };
        config.validate()?;
        Ok(config)
    }
}

/// The GPT-2 composition of `config`, with random, lazily initialised weights, built with the
/// [`DecoderBuilder`] from the library's parts.
pub fn build<B: Backend>(config: &Phi3Config, device: &B::Device) -> Result<Gpt2LMHeadModel<B>> {
    let activation = config.activation()?;
    let positions =
        LearnedPositions::new(config.max_position_embeddings, config.hidden_size, device);
    DecoderBuilder::new(config.clone())?.build(
        device,
        |_, c| {
            let shape =
                AttentionShape::new(c.hidden_size, c.num_attention_heads, c.num_attention_heads)?;
            GroupedQueryAttention::init(shape, true, device)
        },
        |c| Mlp::init(c.hidden_size, c.intermediate_size, activation, device),
        |c| LayerNorm::init(c.hidden_size, c.rms_norm_eps, device),
        positions,
    )
}

/// The names GPT-2 checkpoints give the composition's parameters. GPT-2's `Conv1D` stores its
/// weights `[in, out]` — Burn's own layout, so they are not transposed — and its `lm_head` is the
/// token embedding.
pub fn names() -> CheckpointNames {
    CheckpointNames::new()
        .rename("model.embed_tokens.", "transformer.wte.")
        .rename("model.position.", "transformer.wpe.")
        .rename("model.norm.", "transformer.ln_f.")
        .rename("model.layers.", "transformer.h.")
        .rename(".input_layernorm.", ".ln_1.")
        .rename(".post_attention_layernorm.", ".ln_2.")
        .rename(".self_attn.qkv_proj.", ".attn.c_attn.")
        .rename(".self_attn.o_proj.", ".attn.c_proj.")
        .rename(".mlp.up_proj.", ".mlp.c_fc.")
        .rename(".mlp.down_proj.", ".mlp.c_proj.")
        .tie("lm_head.weight", "model.embed_tokens.weight")
        .linear_layout(LinearLayout::InOut)
}
