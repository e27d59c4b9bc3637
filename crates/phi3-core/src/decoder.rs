//! A decoder-only Transformer composed from pluggable parts: any [`Attention`], [`Norm`] and
//! [`PositionEncoding`], with a mask per layer. Phi-3 is one composition of it
//! ([`crate::Phi3ForCausalLM`]); `examples/custom_decoder.rs` builds others.

use burn::module::{Module, ModuleDisplay, Param};
use burn::nn::{Embedding, EmbeddingConfig, Linear, LinearConfig};
use burn::tensor::{DType, Int, Tensor, TensorData, backend::Backend};
use phi3_attention::{Attention, PositionEncoding, Positions};

use crate::cache::ModelCache;
use crate::config::Phi3Config;
use crate::display::{model_tree, parameter_count, thousands};
use crate::error::{Phi3Error, Result};
use crate::layer::DecoderLayer;
use crate::norm::Norm;

/// The decoder stack: embedding, position encoding, layers, final norm. Returns hidden states.
#[derive(Module, Debug)]
pub struct DecoderModel<B: Backend, A: Module<B>, N: Module<B>, P: Module<B>> {
    /// Token embedding, `[vocab, hidden]`.
    pub embed_tokens: Embedding<B>,
    /// The decoder layers.
    pub layers: Vec<DecoderLayer<B, A, N>>,
    /// Final norm (pre-norm stacks end with one; post-norm stacks usually do not).
    pub norm: Option<N>,
    /// The position encoding shared by every layer (Phi-3: rotary tables).
    pub rotary_emb: P,
}

/// A decoder stack plus `lm_head`: logits over the vocabulary.
///
/// `println!("{model}")` prints the module tree: in the form of PyTorch's `print(model)` for
/// Phi-3 and Llama, in Burn's form for other compositions, with the parameter count.
#[derive(Module, Debug)]
#[module(custom_display)]
pub struct CausalLm<B: Backend, A: Module<B>, N: Module<B>, P: Module<B>> {
    /// The decoder stack (transformers' `model.model`).
    pub model: DecoderModel<B, A, N, P>,
    /// Hidden states → vocabulary logits.
    pub lm_head: Linear<B>,
    /// Sizes, context length and special tokens (Hugging Face `config.json` field names).
    #[module(skip)]
    pub config: Phi3Config,
    /// Print as transformers' Phi-3 / Llama module tree.
    #[module(skip)]
    pub(crate) hf_tree: bool,
}

impl<B: Backend, A, N, P> ModuleDisplay for CausalLm<B, A, N, P>
where
    A: Module<B> + ModuleDisplay,
    N: Module<B> + ModuleDisplay,
    P: Module<B> + ModuleDisplay,
{
    fn format(&self, settings: burn::module::DisplaySettings) -> String {
        if self.hf_tree {
            return model_tree(&self.config);
        }
        format!(
            "CausalLm {{\n  model: {},\n  lm_head: {}\n}}\nTotal parameters: {}",
            self.model.format(settings.clone()).replace('\n', "\n  "),
            self.lm_head.format(settings),
            thousands(self.num_params())
        )
    }
}

impl<B: Backend, A: Attention<B>, N: Norm<B>, P: PositionEncoding<B>> DecoderModel<B, A, N, P> {
    /// Hidden states for an unpadded batch starting at position 0, without a cache.
    ///
    /// # Shapes
    /// - input_ids: `[batch, seq]` → `[batch, seq, hidden]`
    pub fn forward(&self, input_ids: Tensor<B, 2, Int>) -> Result<Tensor<B, 3>> {
        let [batch, seq] = input_ids.dims();
        self.forward_with(input_ids, &Positions::new(batch, 0, seq), None)
    }

    /// Hidden states for the columns `positions` describes (a padded batch, a cached decode
    /// step). With `cache`, keys and values are stored there and attention covers all it holds.
    ///
    /// # Shapes
    /// - input_ids: `[batch, positions.len]` → `[batch, positions.len, hidden]`
    pub fn forward_with(
        &self,
        input_ids: Tensor<B, 2, Int>,
        positions: &Positions,
        mut cache: Option<&mut ModelCache<B>>,
    ) -> Result<Tensor<B, 3>> {
        let [batch, seq] = input_ids.dims();
        if seq == 0 || batch == 0 {
            return Err(Phi3Error::EmptyInput);
        }
        if let Some(max) = self.rotary_emb.max_positions()
            && positions.max_len() > max
        {
            return Err(Phi3Error::ContextOverflow {
                len: positions.max_len(),
                max,
            });
        }
        // Embeddings may be stored in 16 bits; activations are f32.
        let embedded = self.embed_tokens.forward(input_ids).cast(DType::F32);
        let mut x = self.rotary_emb.embed(embedded, positions);
        for (i, layer) in self.layers.iter().enumerate() {
            let layer_cache = cache.as_deref_mut().map(|c| c.layer(i));
            x = layer.forward(x, &self.rotary_emb, positions, layer_cache);
        }
        Ok(match &self.norm {
            Some(norm) => norm.forward(x),
            None => x,
        })
    }
}

impl<B: Backend, A: Attention<B>, N: Norm<B>, P: PositionEncoding<B>> CausalLm<B, A, N, P> {
    /// Assembles a model from its parts. `config` gives the vocabulary, context length and
    /// special tokens generation uses; the parts must agree with its sizes.
    pub fn from_parts(
        config: Phi3Config,
        embed_tokens: Embedding<B>,
        layers: Vec<DecoderLayer<B, A, N>>,
        norm: Option<N>,
        rotary_emb: P,
        lm_head: Linear<B>,
    ) -> Self {
        Self {
            model: DecoderModel {
                embed_tokens,
                layers,
                norm,
                rotary_emb,
            },
            lm_head,
            config,
            hf_tree: false,
        }
    }

    /// A random embedding and `lm_head` sized by `config` (tied when it says so), for
    /// [`Self::from_parts`].
    pub fn random_embedding_and_head(
        config: &Phi3Config,
        device: &B::Device,
    ) -> (Embedding<B>, Linear<B>) {
        let embed = EmbeddingConfig::new(config.vocab_size, config.hidden_size).init(device);
        let head = if config.tie_word_embeddings {
            let [v, h] = embed.weight.dims();
            Linear {
                weight: Param::from_tensor(
                    embed
                        .weight
                        .val()
                        .transpose()
                        .reshape([1, h, v])
                        .reshape([h, v]),
                ),
                bias: None,
            }
        } else {
            LinearConfig::new(config.hidden_size, config.vocab_size)
                .with_bias(false)
                .init(device)
        };
        (embed, head)
    }

    /// Logits for `input_ids` (the decoder stack, then `lm_head`).
    ///
    /// # Shapes
    /// - input_ids: `[batch, seq]` → `[batch, seq, vocab]`
    pub fn forward(&self, input_ids: Tensor<B, 2, Int>) -> Result<Tensor<B, 3>> {
        Ok(self.logits(self.model.forward(input_ids)?))
    }

    /// `lm_head` applied to hidden states, as one 2-D matmul. Same numbers as
    /// `self.lm_head.forward(hidden)`, but a tied `lm_head` (a transposed view of the embedding,
    /// which the library keeps instead of a second copy) is read in place: Burn's `linear`
    /// reshapes its weight, which on Flex copies a strided view on every call.
    ///
    /// # Shapes
    /// - hidden: `[batch, seq, hidden]` → `[batch, seq, vocab]`
    pub fn logits(&self, hidden: Tensor<B, 3>) -> Tensor<B, 3> {
        phi3_attention::linear(&self.lm_head, hidden)
    }

    /// An empty cache for up to `capacity` columns: a ring buffer for every layer whose mask
    /// never looks back further than a window narrower than `capacity`, a dense cache otherwise.
    pub fn new_cache(&self, capacity: usize) -> ModelCache<B> {
        let windows = self
            .model
            .layers
            .iter()
            .map(|l| l.mask.window())
            .collect::<Vec<_>>();
        ModelCache::for_windows(&windows, capacity)
    }

    /// The cache epoch a sequence of `max_len` tokens needs (changes when LongRoPE switches to
    /// its long factors).
    pub fn cache_epoch(&self, max_len: usize) -> usize {
        self.model.rotary_emb.cache_epoch(max_len)
    }

    /// Checks token ids against the vocabulary and makes a `[1, len]` batch of them.
    pub fn input_ids(&self, ids: &[u32], device: &B::Device) -> Result<Tensor<B, 2, Int>> {
        if ids.is_empty() {
            return Err(Phi3Error::EmptyInput);
        }
        if let Some(&id) = ids
            .iter()
            .find(|&&id| id as usize >= self.config.vocab_size)
        {
            return Err(Phi3Error::TokenOutOfRange {
                id,
                vocab: self.config.vocab_size,
            });
        }
        let data: Vec<i64> = ids.iter().map(|&id| id as i64).collect();
        Ok(Tensor::from_data(
            TensorData::new(data, [1, ids.len()]),
            device,
        ))
    }

    /// Parameter count as PyTorch reports it (tied weights counted once) for Phi-3 / Llama
    /// compositions; Burn's count of every parameter otherwise.
    pub fn parameter_count(&self) -> usize {
        if self.hf_tree {
            parameter_count(&self.config)
        } else {
            self.num_params()
        }
    }
}
