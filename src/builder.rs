//! Composing decoders in code: pick an attention, a feed-forward block, a norm, a position
//! encoding, a mask per layer and a block layout; get a [`CausalLm`] that loads a checkpoint
//! ([`crate::load::Pretrained::load_into`]), prints and generates like Phi-3.

use std::sync::{Arc, OnceLock};

use burn::module::{Param, ParamId};
use burn::tensor::{Distribution, Tensor, backend::Backend};
use phi3_attention::{Causal, MaskSchedule, SlidingWindow};
use phi3_core::{
    Attention, AttentionMask, BlockLayout, CausalLm, DecoderLayer, Embedding, FeedForward, Linear,
    Norm, Phi3Config, PositionEncoding,
};

use crate::error::Result;

/// A random embedding and an `lm_head` that is its transpose: one parameter (one id, counted and
/// loaded once) seen from two modules. Both are lazy: the one random table is made the first time
/// either is read, and never when a checkpoint fills them.
fn tied<B: Backend>(vocab: usize, hidden: usize, device: &B::Device) -> (Embedding<B>, Linear<B>) {
    let table: Arc<OnceLock<Tensor<B, 2>>> = Arc::default();
    let random = move |device: &B::Device| {
        let normal = Distribution::Normal(0.0, 1.0);
        table
            .get_or_init(|| Tensor::random([vocab, hidden], normal, device))
            .clone()
    };
    let transposed = random.clone();
    let id = ParamId::new();
    let mut embed = Embedding::init(vocab, hidden, device);
    embed.weight = Param::uninitialized(
        id,
        move |device, _| random(device),
        device.clone(),
        false,
        [vocab, hidden].into(),
    );
    let mut head = Linear::init(hidden, vocab, false, device);
    head.weight = Param::uninitialized(
        id,
        move |device, _| transposed(device).transpose(),
        device.clone(),
        false,
        [hidden, vocab].into(),
    );
    (embed, head)
}

/// The mask a config describes: its `sliding_window`, or plain causal attention.
fn config_mask(config: &Phi3Config) -> Arc<dyn AttentionMask> {
    match config.sliding_window {
        Some(window) => Arc::new(SlidingWindow { window }),
        None => Arc::new(Causal),
    }
}

/// Builds decoders from parts, with random weights that are created lazily: a decoder built to be
/// filled from a checkpoint never allocates them.
///
/// ```no_run
/// use phi3::{BlockLayout, DecoderBuilder, LayerNorm, Mlp, Phi3Config, device::{Cpu, cpu}};
/// use phi3::attention::{GroupedQueryAttention, SinusoidalPositions};
///
/// let config = Phi3Config::from_json(r#"{"vocab_size": 256, "hidden_size": 64,
///     "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4}"#)?;
/// let device = cpu();
/// // The original Transformer's block: post-norm LayerNorm, ReLU MLP, sinusoidal positions, MHA.
/// let model = DecoderBuilder::new(config)?
///     .layout(BlockLayout::PostNorm)
///     .build::<Cpu, _, _, _, _>(
///         &device,
///         |_, c| GroupedQueryAttention::mha(c.hidden_size, c.num_attention_heads, &device),
///         |c| Mlp::relu(c.hidden_size, c.intermediate_size, &device),
///         |c| LayerNorm::init(c.hidden_size, 1e-5, &device),
///         SinusoidalPositions::new(128, 64, &device),
///     )?;
/// println!("{model}");
/// # Ok::<(), phi3::Phi3Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct DecoderBuilder {
    config: Phi3Config,
    masks: MaskSchedule,
    layout: BlockLayout,
    final_norm: Option<bool>,
}

impl DecoderBuilder {
    /// Sizes, context length and special tokens from `config` (validated); causal masks (or the
    /// config's sliding window), pre-norm blocks.
    pub fn new(config: Phi3Config) -> Result<Self> {
        config.validate()?;
        let masks = MaskSchedule::uniform(config_mask(&config));
        Ok(Self {
            config,
            masks,
            layout: BlockLayout::PreNorm,
            final_norm: None,
        })
    }

    /// The mask of each layer.
    pub fn masks(mut self, masks: MaskSchedule) -> Self {
        self.masks = masks;
        self
    }

    /// Pre-norm or post-norm blocks.
    pub fn layout(mut self, layout: BlockLayout) -> Self {
        self.layout = layout;
        self
    }

    /// Whether the stack ends with a norm (default: yes for pre-norm, no for post-norm, whose
    /// last block already ends with one).
    pub fn final_norm(mut self, yes: bool) -> Self {
        self.final_norm = Some(yes);
        self
    }

    /// The config the model will carry.
    pub fn config(&self) -> &Phi3Config {
        &self.config
    }

    /// Builds the model. `attention(layer, config)` makes each layer's attention (sizes are
    /// checked, so it may fail), `feed_forward(config)` and `norm(config)` the other parts of
    /// each layer — your own implementations of the traits work the same way — and `position`
    /// is shared by all layers. The embedding is `[vocab, hidden]`; `lm_head` its transposed view
    /// when the config ties them.
    pub fn build<B, A, F, N, P>(
        &self,
        device: &B::Device,
        mut attention: impl FnMut(usize, &Phi3Config) -> phi3_core::Result<A>,
        mut feed_forward: impl FnMut(&Phi3Config) -> F,
        mut norm: impl FnMut(&Phi3Config) -> N,
        position: P,
    ) -> Result<CausalLm<B, A, F, N, P>>
    where
        B: Backend,
        A: Attention<B>,
        F: FeedForward<B>,
        N: Norm<B>,
        P: PositionEncoding<B>,
    {
        let c = &self.config;
        let layers = (0..c.num_hidden_layers)
            .map(|i| {
                Ok(DecoderLayer::new(
                    attention(i, c)?,
                    feed_forward(c),
                    [norm(c), norm(c)],
                    self.masks.mask(i),
                    self.layout,
                ))
            })
            .collect::<Result<Vec<_>>>()?;
        let final_norm = self
            .final_norm
            .unwrap_or(self.layout == BlockLayout::PreNorm)
            .then(|| norm(c));
        let (embed, lm_head) = match c.tie_word_embeddings {
            true => tied(c.vocab_size, c.hidden_size, device),
            false => (
                Embedding::init(c.vocab_size, c.hidden_size, device),
                Linear::init(c.hidden_size, c.vocab_size, false, device),
            ),
        };
        Ok(CausalLm::from_parts(
            c.clone(),
            embed,
            layers,
            final_norm,
            position,
            lm_head,
        ))
    }
}
