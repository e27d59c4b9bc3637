//! The decoder stack ([`DecoderModel`]) and the causal language model on top of it
//! ([`CausalLm`]): every inherent method of both, and their [`CausalModel`] implementation.

use std::collections::HashSet;

use burn::module::{Module, ModuleDisplay, ModuleVisitor, Param, ParamId};
use burn::tensor::{Int, Tensor, backend::Backend};

use super::causal_model::CausalModel;
use super::layer::DecoderLayer;
use crate::attention::Attention;
use crate::cache::{KvCache, ModelCache, NoCache};
use crate::config::Phi3Config;
use crate::display::thousands;
use crate::embedding::Embedding;
use crate::error::{ModelError, Result};
use crate::feed_forward::FeedForward;
use crate::flex::is_flex;
use crate::linear::Linear;
use crate::norm::Norm;
use crate::position::PositionEncoding;
use crate::positions::Positions;

/// The decoder stack (transformers' `model.model`): embedding, position encoding, layers, final
/// norm. Returns hidden states.
#[derive(Module, Debug)]
pub struct DecoderModel<B: Backend, A: Module<B>, F: Module<B>, N: Module<B>, P: Module<B>> {
    /// Token embedding, `[vocab, hidden]`.
    pub embed_tokens: Embedding<B>,
    /// The decoder layers.
    pub layers: Vec<DecoderLayer<B, A, F, N>>,
    /// Final norm (pre-norm stacks end with one; post-norm stacks usually do not).
    pub norm: Option<N>,
    /// The position encoding shared by every layer.
    pub position: P,
}

/// Prints a composition's module tree (e.g. in the form of PyTorch's `print(model)`).
pub type TreePrinter = fn(&Phi3Config) -> String;

/// A decoder stack plus `lm_head`: logits over the vocabulary. Any composition of an
/// [`Attention`], a [`FeedForward`], a [`Norm`] and a [`PositionEncoding`]; Phi-3 is one.
///
/// `println!("{model}")` prints the module tree: the composition's own form when it has one
/// ([`Self::with_tree`]), Burn's otherwise, with the parameter count.
#[derive(Module, Debug)]
#[module(custom_display)]
pub struct CausalLm<B: Backend, A: Module<B>, F: Module<B>, N: Module<B>, P: Module<B>> {
    /// The decoder stack (transformers' `model.model`).
    pub model: DecoderModel<B, A, F, N, P>,
    /// Hidden states → vocabulary logits. A tied head is a transposed view of the embedding.
    pub lm_head: Linear<B>,
    /// Sizes, context length and special tokens (Hugging Face `config.json` field names).
    #[module(skip)]
    pub config: Phi3Config,
    #[module(skip)]
    tree: Option<TreePrinter>,
}

impl<B, A, F, N, P> DecoderModel<B, A, F, N, P>
where
    B: Backend,
    A: Attention<B>,
    F: FeedForward<B>,
    N: Norm<B>,
    P: PositionEncoding<B>,
{
    /// Every id of a raw id tensor inside the vocabulary: its minimum and maximum, read back
    /// together (a gather past the table would read other memory or fail inside Burn).
    fn check_ids(&self, ids: &Tensor<B, 2, Int>) -> Result<()> {
        let vocab = self.embed_tokens.dims()[0];
        let bounds: Vec<i64> = Tensor::cat(
            vec![
                ids.clone().min().reshape([1]),
                ids.clone().max().reshape([1]),
            ],
            0,
        )
        .into_data()
        .convert::<i64>()
        .into_vec()?;
        match *bounds.as_slice() {
            [min, _] if min < 0 => Err(ModelError::TokenOutOfRange { id: min, vocab }),
            [_, max] if max >= vocab as i64 => Err(ModelError::TokenOutOfRange { id: max, vocab }),
            _ => Ok(()),
        }
    }

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
            return Err(ModelError::EmptyInput);
        }
        if positions.len != seq || positions.batch() != batch {
            return Err(ModelError::part(
                "DecoderModel",
                "positions",
                format!(
                    "describe {} rows of {} columns, the ids are [{batch}, {seq}]",
                    positions.batch(),
                    positions.len
                ),
            ));
        }
        self.check_ids(&input_ids)?;
        if let Some(max) = self.position.max_positions()
            && positions.max_len() > max
        {
            return Err(ModelError::ContextOverflow {
                len: positions.max_len(),
                max,
            });
        }
        let device = input_ids.device();
        // Embeddings may be stored in another dtype than the device computes in.
        let embedded = self
            .embed_tokens
            .forward(input_ids)?
            .cast(crate::device::compute_dtype::<B>(&device));
        let mut x = self.position.embed(embedded, positions);
        let rotation = self.position.rotation(positions, &device);
        let mut no_cache = NoCache;
        for (i, layer) in self.layers.iter().enumerate() {
            let layer_cache: &mut dyn KvCache<B> = match cache.as_deref_mut() {
                Some(c) => c.layer(i),
                None => &mut no_cache,
            };
            x = layer.forward(x, positions, rotation.as_ref(), layer_cache);
        }
        Ok(match &self.norm {
            Some(norm) => norm.forward(x),
            None => x,
        })
    }
}

impl<B, A, F, N, P> CausalLm<B, A, F, N, P>
where
    B: Backend,
    A: Attention<B>,
    F: FeedForward<B>,
    N: Norm<B>,
    P: PositionEncoding<B>,
{
    /// Assembles a model from its parts. `config` gives the vocabulary, context length and
    /// special tokens generation uses; the parts must agree with its sizes.
    pub fn from_parts(
        config: Phi3Config,
        embed_tokens: Embedding<B>,
        layers: Vec<DecoderLayer<B, A, F, N>>,
        norm: Option<N>,
        position: P,
        lm_head: Linear<B>,
    ) -> Self {
        Self {
            model: DecoderModel {
                embed_tokens,
                layers,
                norm,
                position,
            },
            lm_head,
            config,
            tree: None,
        }
    }

    /// The same model, printed by `tree` (which also gives the parameter count it prints).
    pub fn with_tree(mut self, tree: TreePrinter) -> Self {
        self.tree = Some(tree);
        self
    }

    /// The same model with every layer's attention passed through `f` (e.g. to choose a kernel).
    pub fn map_attention(mut self, mut f: impl FnMut(A) -> A) -> Self {
        self.model.layers = self
            .model
            .layers
            .into_iter()
            .map(|mut layer| {
                layer.self_attn = f(layer.self_attn);
                layer
            })
            .collect();
        self
    }

    /// Logits for `input_ids` (the decoder stack, then `lm_head`).
    ///
    /// # Shapes
    /// - input_ids: `[batch, seq]` → `[batch, seq, vocab]`
    pub fn forward(&self, input_ids: Tensor<B, 2, Int>) -> Result<Tensor<B, 3>> {
        Ok(self.logits(self.model.forward(input_ids)?))
    }

    /// `lm_head` applied to hidden states (a tied head is read in place, never copied).
    ///
    /// # Shapes
    /// - hidden: `[batch, seq, hidden]` → `[batch, seq, vocab]`
    pub fn logits(&self, hidden: Tensor<B, 3>) -> Tensor<B, 3> {
        self.lm_head.forward(hidden)
    }
}

impl<B, A, F, N, P> CausalLm<B, A, F, N, P>
where
    B: Backend,
    A: Module<B> + ModuleDisplay,
    F: Module<B> + ModuleDisplay,
    N: Module<B> + ModuleDisplay,
    P: Module<B> + ModuleDisplay,
{
    /// Parameters as PyTorch counts them: a parameter shared by two modules (a tied `lm_head`)
    /// once. Lazily initialised weights are counted from their shapes, never allocated.
    pub fn parameter_count(&self) -> usize {
        #[derive(Default)]
        struct Count {
            seen: HashSet<ParamId>,
            total: usize,
        }
        impl<B: Backend> ModuleVisitor<B> for Count {
            fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
                if self.seen.insert(param.id) {
                    self.total += param.lazy_shape().num_elements();
                }
            }
        }
        let mut count = Count::default();
        self.visit(&mut count);
        count.total
    }
}

impl<B, A, F, N, P> CausalModel<B> for CausalLm<B, A, F, N, P>
where
    B: Backend,
    A: Attention<B>,
    F: FeedForward<B>,
    N: Norm<B>,
    P: PositionEncoding<B>,
{
    fn config(&self) -> &Phi3Config {
        &self.config
    }

    fn device(&self) -> B::Device {
        self.lm_head.weight.lazy_device()
    }

    fn hidden_states(
        &self,
        input_ids: Tensor<B, 2, Int>,
        positions: &Positions,
        cache: Option<&mut ModelCache<B>>,
    ) -> Result<Tensor<B, 3>> {
        // On Flex every product splits across rayon's pool. Called from outside the pool, each
        // split would hand its work to the pool and wait (a wake-up per product, hundreds per
        // token); run the whole forward on a pool thread instead, where splits are local.
        // Measured on SmolLM2 (Q4_0, 2 threads): decode 89 → 107 tokens/s.
        match (is_flex::<B>(), positions.len) {
            // A decode step's products split over a team of spinning helpers instead.
            (true, 1) => {
                let _leading = crate::quant::Team::enter();
                self.model.forward_with(input_ids, positions, cache)
            }
            (true, _) => rayon::scope(|_| self.model.forward_with(input_ids, positions, cache)),
            (false, _) => self.model.forward_with(input_ids, positions, cache),
        }
    }

    fn logits(&self, hidden: Tensor<B, 3>) -> Tensor<B, 3> {
        CausalLm::logits(self, hidden)
    }

    fn new_cache(&self, capacity: usize) -> ModelCache<B> {
        ModelCache::new(
            self.model
                .layers
                .iter()
                .map(|layer| layer.self_attn.new_cache(capacity, layer.mask.as_ref()))
                .collect(),
        )
    }

    fn cache_epoch(&self, max_len: usize) -> usize {
        self.model.position.cache_epoch(max_len)
    }
}

impl<B, A, F, N, P> ModuleDisplay for CausalLm<B, A, F, N, P>
where
    B: Backend,
    A: Module<B> + ModuleDisplay,
    F: Module<B> + ModuleDisplay,
    N: Module<B> + ModuleDisplay,
    P: Module<B> + ModuleDisplay,
{
    fn format(&self, settings: burn::module::DisplaySettings) -> String {
        if let Some(tree) = self.tree {
            return tree(&self.config);
        }
        format!(
            "CausalLm {{\n  model: {},\n  lm_head: {}\n}}\nTotal parameters: {}",
            self.model.format(settings.clone()).replace('\n', "\n  "),
            self.lm_head.format(settings),
            thousands(self.parameter_count())
        )
    }
}
