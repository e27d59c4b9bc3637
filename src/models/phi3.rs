//! Phi-3 (and the Llama family): the composition of grouped-query attention, SwiGLU, RMSNorm
//! and rotary embeddings, and the names Phi-3 and Llama checkpoints give its parameters.

use burn::tensor::backend::Backend;
use phi3_attention::{
    AttentionShape, GroupedQueryAttention, RotaryEmbedding, RotaryEmbeddingConfig,
};
use phi3_core::{
    Activation, CausalLm, DecoderLayer, DecoderModel, ModelError, Phi3Config, RmsNorm, SwiGlu,
};

use super::print::model_tree;
use crate::builder::DecoderBuilder;
use crate::error::Result;
use crate::load::CheckpointNames;

/// A Phi-3 decoder layer: grouped-query attention, SwiGLU and RMSNorm.
pub type Phi3DecoderLayer<B> = DecoderLayer<B, GroupedQueryAttention<B>, SwiGlu<B>, RmsNorm<B>>;

/// The Phi-3 decoder stack (transformers' `Phi3Model`, `model.model`).
pub type Phi3Model<B> =
    DecoderModel<B, GroupedQueryAttention<B>, SwiGlu<B>, RmsNorm<B>, RotaryEmbedding<B>>;

/// Phi-3 for causal language modelling: [`Phi3Model`] then `lm_head`. Also runs Llama-family
/// checkpoints (`model_type: llama`), which differ only in keeping Q/K/V and gate/up apart.
pub type Phi3ForCausalLM<B> =
    CausalLm<B, GroupedQueryAttention<B>, SwiGlu<B>, RmsNorm<B>, RotaryEmbedding<B>>;

/// The Phi-3 composition of `config` with random weights, created lazily: a model built to be
/// filled from a checkpoint ([`crate::load::Pretrained`]) never allocates them. Prints as
/// transformers' `Phi3ForCausalLM` (or `LlamaForCausalLM` for `model_type: llama`).
pub fn build<B: Backend>(config: &Phi3Config, device: &B::Device) -> Result<Phi3ForCausalLM<B>> {
    if config.activation()? != Activation::Silu {
        return Err(ModelError::Config {
            field: "hidden_act",
            message: format!("is {:?}; Phi-3 and Llama use \"silu\"", config.hidden_act),
        }
        .into());
    }
    let rotary = RotaryEmbeddingConfig::new(
        config.head_dim(),
        config.rotary_dim(),
        config.max_position_embeddings,
    )
    .with_theta(config.rope_theta_value())
    .with_scaling(config.rope()?)
    .init(device);
    let model = DecoderBuilder::new(config.clone())?.build(
        device,
        |_, c| {
            let shape = AttentionShape {
                hidden: c.hidden_size,
                heads: c.num_attention_heads,
                kv_heads: c.num_key_value_heads(),
                head_dim: c.head_dim(),
            };
            GroupedQueryAttention::init(shape, false, device)
        },
        |c| SwiGlu::init(c.hidden_size, c.intermediate_size, device),
        |c| RmsNorm::init(c.hidden_size, c.rms_norm_eps, device),
        rotary,
    )?;
    Ok(model.with_tree(model_tree))
}

/// The names Phi-3 and Llama checkpoints (safetensors, and GGUF through its own name table) give
/// the composition's parameters: its module paths, with Llama's separate `q_proj`, `k_proj`,
/// `v_proj` and `gate_proj`, `up_proj` fused at load, and a tied `lm_head` when the config says
/// so and the checkpoint has none.
pub fn names(config: &Phi3Config) -> CheckpointNames {
    let names = CheckpointNames::new()
        .fuse("qkv_proj", &["q_proj", "k_proj", "v_proj"])
        .fuse("gate_up_proj", &["gate_proj", "up_proj"]);
    match config.tie_word_embeddings {
        true => names.tie("lm_head.weight", "model.embed_tokens.weight"),
        false => names,
    }
}
