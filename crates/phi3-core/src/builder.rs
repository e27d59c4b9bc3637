//! Composing decoders in code: pick an attention, a norm, a position encoding, a mask per layer
//! and a block layout; get a [`CausalLm`] that loads, prints and generates like Phi-3.

use std::sync::Arc;

use burn::tensor::backend::Backend;
use phi3_attention::{
    Attention, AttentionMask, Causal, MaskSchedule, PositionEncoding, SlidingWindow,
};

use crate::config::Phi3Config;
use crate::decoder::CausalLm;
use crate::error::Result;
use crate::layer::{BlockLayout, DecoderLayer};
use crate::mlp::Phi3Mlp;
use crate::norm::Norm;

/// The mask a config describes: its `sliding_window`, or plain causal attention.
pub(crate) fn config_mask(config: &Phi3Config) -> Arc<dyn AttentionMask> {
    match config.sliding_window {
        Some(window) => Arc::new(SlidingWindow { window }),
        None => Arc::new(Causal),
    }
}

/// Builds decoders with random weights from parts.
///
/// ```no_run
/// use phi3_core::builder::DecoderBuilder;
/// use phi3_core::{BlockLayout, LayerNorm, Phi3Config, device::{Cpu, cpu}};
/// use phi3_core::attention::{GroupedQueryAttention, SinusoidalPositions};
///
/// let config = Phi3Config::from_json(r#"{"vocab_size": 256, "hidden_size": 64,
///     "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4}"#)?;
/// let device = cpu();
/// // The original Transformer's block: post-norm LayerNorm, sinusoidal positions, MHA.
/// let model = DecoderBuilder::new(config)?
///     .layout(BlockLayout::PostNorm)
///     .build::<Cpu, _, _, _>(
///         &device,
///         |_, c| GroupedQueryAttention::mha(c.hidden_size, c.num_attention_heads, &device),
///         |c| LayerNorm::init(c.hidden_size, 1e-5, &device),
///         SinusoidalPositions::new(128, 64, &device),
///     );
/// println!("{model}");
/// # Ok::<(), phi3_core::Phi3Error>(())
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

    /// Builds the model: `attention(layer, config)` and `norm(config)` make each layer's parts
    /// (your own [`Attention`] and [`Norm`] implementations work the same way), `position` is
    /// shared by all layers. Weights are random (Burn's initialisers).
    pub fn build<B, A, N, P>(
        &self,
        device: &B::Device,
        mut attention: impl FnMut(usize, &Phi3Config) -> A,
        mut norm: impl FnMut(&Phi3Config) -> N,
        position: P,
    ) -> CausalLm<B, A, N, P>
    where
        B: Backend,
        A: Attention<B>,
        N: Norm<B>,
        P: PositionEncoding<B>,
    {
        let c = &self.config;
        let layers = (0..c.num_hidden_layers)
            .map(|i| {
                DecoderLayer::new(
                    attention(i, c),
                    Phi3Mlp::init(c.hidden_size, c.intermediate_size, device),
                    norm(c),
                    norm(c),
                    self.masks.mask(i),
                )
                .with_layout(self.layout)
            })
            .collect();
        let final_norm = self
            .final_norm
            .unwrap_or(self.layout == BlockLayout::PreNorm)
            .then(|| norm(c));
        let (embed, head) = CausalLm::<B, A, N, P>::random_embedding_and_head(c, device);
        CausalLm::from_parts(c.clone(), embed, layers, final_norm, position, head)
    }
}
