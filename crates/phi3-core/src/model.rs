//! The Phi-3 decoder: `Phi3Model` (the decoder stack, transformers' `model.model`) and
//! `Phi3ForCausalLM` (the stack plus `lm_head`).

use std::path::Path;

use burn::module::Param;
use burn::nn::{Embedding, Linear};
use burn::tensor::{DType, Tensor, backend::Backend};
use phi3_attention::{
    AttentionKernel, AttentionShape, GroupedQueryAttention, RotaryEmbedding, RotaryEmbeddingConfig,
};

use crate::builder::{DecoderBuilder, config_mask};
use crate::config::Phi3Config;
use crate::decoder::{CausalLm, DecoderModel};
use crate::error::Result;
use crate::gguf::{GgufFile, GgufWeights, config_from_gguf, tokenizer_from_gguf};
use crate::layer::{BlockLayout, DecoderLayer};
use crate::mlp::Phi3Mlp;
use crate::norm::RmsNorm;
use crate::weights::{Checkpoint, WeightSource};
use phi3_tokenizer::Tokenizer;

/// A Phi-3 decoder layer: grouped-query attention and RMSNorm.
pub type Phi3DecoderLayer<B> = DecoderLayer<B, GroupedQueryAttention<B>, RmsNorm<B>>;

/// The Phi-3 decoder stack (transformers' `Phi3Model`, `model.model`): the one composition of
/// [`DecoderModel`] with grouped-query attention, RMSNorm and rotary embeddings.
pub type Phi3Model<B> = DecoderModel<B, GroupedQueryAttention<B>, RmsNorm<B>, RotaryEmbedding<B>>;

/// Phi-3 for causal language modelling: [`Phi3Model`] then `lm_head`. Also runs Llama-family
/// checkpoints (`model_type: llama`), which differ only in keeping Q/K/V and gate/up apart.
pub type Phi3ForCausalLM<B> = CausalLm<B, GroupedQueryAttention<B>, RmsNorm<B>, RotaryEmbedding<B>>;

/// A Linear layer from a checkpoint weight stored as PyTorch does, `[out, in]`.
///
/// This is the one layout conversion of the loader: Burn's `Linear` computes `x · W` with `W`
/// as `[in, out]`, so the weight is transposed here and laid out contiguously (one tensor's copy
/// at a time). A transposed *view* would avoid that copy, but Burn's `linear` op reshapes the
/// weight to the input's rank, and on Flex reshaping a strided view copies the whole matrix on
/// every call (measured: 75% of SmolLM2's decode time; docs/performance.md).
fn linear_from_checkpoint<B: Backend>(weight: Tensor<B, 2>, dtype: DType) -> Linear<B> {
    let [out, inp] = weight.dims();
    // 16-bit weights (`load_as`) halve the bytes a decode step reads; activations stay f32.
    let weight = if weight.dtype() == dtype {
        weight
    } else {
        weight.cast(dtype)
    };
    let contiguous = weight
        .transpose()
        .reshape([1, inp, out])
        .reshape([inp, out]);
    Linear {
        weight: Param::from_tensor(contiguous),
        bias: None,
    }
}

/// The weight types the loader can store.
fn check_dtype(dtype: DType) -> Result<()> {
    match dtype {
        DType::F32 | DType::F16 | DType::BF16 => Ok(()),
        other => Err(crate::error::Phi3Error::Config {
            field: "dtype",
            message: format!("{other:?} is not a weight type; expected F32, F16 or BF16"),
        }),
    }
}

fn rotary<B: Backend>(config: &Phi3Config, device: &B::Device) -> Result<RotaryEmbedding<B>> {
    Ok(RotaryEmbeddingConfig::new(
        config.head_dim(),
        config.rotary_dim(),
        config.max_position_embeddings,
    )
    .with_theta(config.rope_theta_value())
    .with_scaling(config.rope()?)
    .init(device))
}

fn attention_shape(config: &Phi3Config) -> AttentionShape {
    AttentionShape {
        hidden: config.hidden_size,
        heads: config.num_attention_heads,
        kv_heads: config.num_key_value_heads(),
        head_dim: config.head_dim(),
    }
}

impl<B: Backend> Phi3ForCausalLM<B> {
    /// A model with random weights (Burn's default initialisers), for tests and benchmarks:
    /// the Phi-3 composition built by [`DecoderBuilder`].
    pub fn init(config: &Phi3Config, device: &B::Device) -> Result<Self> {
        let rotary_emb = rotary(config, device)?;
        let mut model = DecoderBuilder::new(config.clone())?.build(
            device,
            |_, c| GroupedQueryAttention::init(attention_shape(c), device),
            |c| RmsNorm::init(c.hidden_size, c.rms_norm_eps, device),
            rotary_emb,
        );
        model.hf_tree = true;
        Ok(model)
    }

    /// Loads a model from a Hugging Face checkpoint directory (Phi-3 or Llama: `config.json` +
    /// safetensors) or a `.gguf` file (architectures `phi3` and `llama`), with f32 weights.
    pub fn load(path: impl AsRef<Path>, device: &B::Device) -> Result<Self> {
        Self::load_as(path, device, DType::F32)
    }

    /// [`Self::load`] with the matrices (embedding, projections, `lm_head`) stored as `dtype`:
    /// `F32`, `F16` or `BF16`. Norms and activations stay f32.
    pub fn load_as(path: impl AsRef<Path>, device: &B::Device, dtype: DType) -> Result<Self> {
        Ok(Self::load_with_tokenizer_as(path, device, dtype)?.0)
    }

    /// [`Self::load`] plus the model's tokenizer when it has one: a GGUF file's
    /// `tokenizer.ggml.*` metadata, or a directory's `tokenizer.json` (+ `tokenizer_config.json`).
    pub fn load_with_tokenizer(
        path: impl AsRef<Path>,
        device: &B::Device,
    ) -> Result<(Self, Option<Tokenizer>)> {
        Self::load_with_tokenizer_as(path, device, DType::F32)
    }

    /// [`Self::load_with_tokenizer`] with matrices stored as `dtype` (see [`Self::load_as`]).
    pub fn load_with_tokenizer_as(
        path: impl AsRef<Path>,
        device: &B::Device,
        dtype: DType,
    ) -> Result<(Self, Option<Tokenizer>)> {
        check_dtype(dtype)?;
        let path = path.as_ref();
        if path.is_file()
            && path
                .extension()
                .is_some_and(|e| e.eq_ignore_ascii_case("gguf"))
        {
            let file = GgufFile::open(path)?;
            let tokenizer = match file.get("tokenizer.ggml.model") {
                Some(_) => Some(tokenizer_from_gguf(&file)?),
                None => None,
            };
            Ok((Self::from_gguf_as(&file, device, dtype)?, tokenizer))
        } else {
            let tokenizer = match path.join("tokenizer.json").is_file() {
                true => Some(Tokenizer::from_dir(path)?),
                false => None,
            };
            Ok((Self::from_dir_as(path, device, dtype)?, tokenizer))
        }
    }

    /// Loads `config.json` and the safetensors weights from a Hugging Face checkpoint directory.
    pub fn from_dir(dir: impl AsRef<Path>, device: &B::Device) -> Result<Self> {
        Self::from_dir_as(dir, device, DType::F32)
    }

    /// [`Self::from_dir`] with matrices stored as `dtype` (see [`Self::load_as`]).
    pub fn from_dir_as(dir: impl AsRef<Path>, device: &B::Device, dtype: DType) -> Result<Self> {
        let dir = dir.as_ref();
        let config = Phi3Config::from_file(dir.join("config.json"))?;
        let mut checkpoint = Checkpoint::open(dir)?;
        let model = Self::from_weights_as(&config, &mut checkpoint, device, dtype)?;
        checkpoint.finish()?;
        Ok(model)
    }

    /// Loads a model from an opened GGUF file, dequantising each tensor to f32 as it goes.
    pub fn from_gguf(file: &GgufFile, device: &B::Device) -> Result<Self> {
        Self::from_gguf_as(file, device, DType::F32)
    }

    /// [`Self::from_gguf`] with matrices stored as `dtype` (see [`Self::load_as`]).
    pub fn from_gguf_as(file: &GgufFile, device: &B::Device, dtype: DType) -> Result<Self> {
        let config = config_from_gguf(file)?;
        let mut weights = GgufWeights::new(file, &config);
        let model = Self::from_weights_as(&config, &mut weights, device, dtype)?;
        weights.finish()?;
        Ok(model)
    }

    /// [`Self::from_weights_as`] with f32 weights.
    pub fn from_weights<S: WeightSource>(
        config: &Phi3Config,
        src: &mut S,
        device: &B::Device,
    ) -> Result<Self> {
        Self::from_weights_as(config, src, device, DType::F32)
    }

    /// Builds the model from a weight source, one tensor at a time, matrices stored as `dtype`. Tensor names are Hugging
    /// Face's and live only here. Llama checkpoints keep Q, K, V and gate, up apart; they are
    /// fused here (one layer at a time) into the `qkv_proj` and `gate_up_proj` the decoder runs.
    pub fn from_weights_as<S: WeightSource>(
        config: &Phi3Config,
        src: &mut S,
        device: &B::Device,
        dtype: DType,
    ) -> Result<Self> {
        config.validate()?;
        check_dtype(dtype)?;
        let (v, h, i) = (
            config.vocab_size,
            config.hidden_size,
            config.intermediate_size,
        );
        let shape = attention_shape(config);
        let (q_rows, kv_rows) = (
            shape.heads * shape.head_dim,
            shape.kv_heads * shape.head_dim,
        );
        let eps = config.rms_norm_eps;
        let norm = |src: &mut S, name: &str| -> Result<RmsNorm<B>> {
            Ok(RmsNorm::new(src.tensor(name, [h], device)?, eps))
        };
        let matrix = |src: &mut S, name: &str, out: usize, inp: usize| -> Result<Tensor<B, 2>> {
            src.tensor(name, [out, inp], device)
        };
        let fused =
            |src: &mut S, p: &str, fused: &str, parts: &[(&str, usize)]| -> Result<Tensor<B, 2>> {
                let name = format!("{p}.{fused}.weight");
                if src.contains(&name)
                    || parts
                        .iter()
                        .any(|(part, _)| !src.contains(&format!("{p}.{part}.weight")))
                {
                    let rows = parts.iter().map(|(_, r)| r).sum();
                    return matrix(src, &name, rows, h);
                }
                let pieces = parts
                    .iter()
                    .map(|(part, rows)| matrix(src, &format!("{p}.{part}.weight"), *rows, h))
                    .collect::<Result<Vec<_>>>()?;
                Ok(Tensor::cat(pieces, 0))
            };

        let embed = src.tensor::<B, 2>("model.embed_tokens.weight", [v, h], device)?;
        let embed = if dtype == DType::F32 {
            embed
        } else {
            embed.cast(dtype)
        };
        let mut layers = Vec::with_capacity(config.num_hidden_layers);
        for n in 0..config.num_hidden_layers {
            let p = format!("model.layers.{n}");
            let attn = format!("{p}.self_attn");
            let mlp = format!("{p}.mlp");
            let qkv = fused(
                src,
                &attn,
                "qkv_proj",
                &[("q_proj", q_rows), ("k_proj", kv_rows), ("v_proj", kv_rows)],
            )?;
            let o = matrix(src, &format!("{attn}.o_proj.weight"), h, q_rows)?;
            let gate_up = fused(
                src,
                &mlp,
                "gate_up_proj",
                &[("gate_proj", i), ("up_proj", i)],
            )?;
            layers.push(DecoderLayer {
                self_attn: GroupedQueryAttention::new(
                    shape,
                    linear_from_checkpoint(qkv, dtype),
                    linear_from_checkpoint(o, dtype),
                ),
                mlp: Phi3Mlp {
                    gate_up_proj: linear_from_checkpoint(gate_up, dtype),
                    down_proj: linear_from_checkpoint(
                        matrix(src, &format!("{mlp}.down_proj.weight"), h, i)?,
                        dtype,
                    ),
                },
                input_layernorm: norm(src, &format!("{p}.input_layernorm.weight"))?,
                post_attention_layernorm: norm(
                    src,
                    &format!("{p}.post_attention_layernorm.weight"),
                )?,
                mask: config_mask(config),
                layout: BlockLayout::PreNorm,
            });
        }
        let final_norm = norm(src, "model.norm.weight")?;
        // Tied checkpoints usually omit lm_head.weight; when one is present anyway it is used.
        // A tied head is a transposed view of the embedding, not a second copy: `CausalLm::logits`
        // multiplies by it in place.
        let lm_head = if config.tie_word_embeddings && !src.contains("lm_head.weight") {
            Linear {
                weight: Param::from_tensor(embed.clone().transpose()),
                bias: None,
            }
        } else {
            linear_from_checkpoint(matrix(src, "lm_head.weight", v, h)?, dtype)
        };
        Ok(Self {
            model: DecoderModel {
                embed_tokens: Embedding {
                    weight: Param::from_tensor(embed),
                },
                layers,
                norm: Some(final_norm),
                rotary_emb: rotary(config, device)?,
            },
            lm_head,
            config: config.clone(),
            hf_tree: true,
        })
    }

    /// Runs every layer's scaled dot-product with `kernel` (naive by default).
    pub fn with_attention_kernel(mut self, kernel: AttentionKernel) -> Self {
        self.model.layers = self
            .model
            .layers
            .into_iter()
            .map(|mut layer| {
                layer.self_attn = layer.self_attn.with_kernel(kernel);
                layer
            })
            .collect();
        self
    }
}
