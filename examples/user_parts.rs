//! Every kind of part written outside the library and composed into a decoder that generates:
//!
//! - an [`Attention`]: one wide head with separate q, k, v, o projections (Burn's own `Linear`);
//! - a [`PositionEncoding`]: rotary embeddings with NTK-aware base scaling, computed on the fly;
//! - an [`AttentionMask`]: a prefix-LM mask (bidirectional over the prompt's first tokens);
//! - a [`Norm`]: ScaleNorm (Nguyen & Salazar, 2019), one learned gain;
//! - a [`FeedForward`]: Primer's squared-ReLU MLP (So et al., 2021);
//! - a [`Sampler`]: greedy, but never a token seen in the last few steps.
//!
//! It generates with and without the KV cache and checks that both agree.
//! `tests/user_parts.rs` runs this file's [`run`].
//!
//! ```text
//! cargo run --release --example user_parts [-- --device cpu|wgpu|cuda[:N] --compute f32|f16|bf16]
//! ```

use std::sync::Arc;

use phi3::attention::{DenseCache, MaskSchedule};
use phi3::burn;
use phi3::burn::module::{Module, Param};
use phi3::burn::nn::{Linear, LinearConfig};
use phi3::burn::tensor::activation::{relu, softmax};
use phi3::burn::tensor::{Tensor, TensorData, backend::Backend};
use phi3::prelude::*;
use phi3::sampling::{Sampler, SamplingError, argmax};
use phi3::{
    Attention, AttentionMask, AttentionStep, DecoderBuilder, FeedForward, KvCache, Norm,
    Phi3Config, PositionEncoding, Positions, Rotation,
};

/// One attention head as wide as the model.
#[derive(Module, Debug)]
pub struct SingleHeadAttention<B: Backend> {
    q: Linear<B>,
    k: Linear<B>,
    v: Linear<B>,
    o: Linear<B>,
}

impl<B: Backend> SingleHeadAttention<B> {
    fn new(hidden: usize, device: &B::Device) -> Self {
        let linear = || {
            LinearConfig::new(hidden, hidden)
                .with_bias(false)
                .init(device)
        };
        Self {
            q: linear(),
            k: linear(),
            v: linear(),
            o: linear(),
        }
    }
}

impl<B: Backend> Attention<B> for SingleHeadAttention<B> {
    fn forward(&self, x: Tensor<B, 3>, step: &mut AttentionStep<'_, B>) -> Tensor<B, 3> {
        let [batch, seq, hidden] = x.dims();
        let head = |t: Tensor<B, 3>| t.reshape([batch, 1, seq, hidden]);
        let (q, k) = step.rotate(
            head(self.q.forward(x.clone())),
            head(self.k.forward(x.clone())),
        );
        let kv = step.keys_values(k, head(self.v.forward(x)));
        let hidden_keys = step.hidden(&kv.columns, &q.device());
        let [rows, q_len, k_len] = hidden_keys.dims();
        let scores = q.matmul(kv.keys.swap_dims(2, 3)) / (hidden as f64).sqrt();
        let scores = scores.mask_fill(
            hidden_keys
                .reshape([rows, 1, q_len, k_len])
                .expand([batch, 1, q_len, k_len]),
            f32::NEG_INFINITY,
        );
        let out = softmax(scores, 3).matmul(kv.values);
        self.o.forward(out.reshape([batch, seq, hidden]))
    }

    fn new_cache(&self, capacity: usize, _mask: &dyn AttentionMask) -> Box<dyn KvCache<B>> {
        Box::new(DenseCache::new(capacity))
    }
}

/// Rotary embeddings whose base grows with the context it must cover ("NTK-aware" scaling:
/// `base · scale^(d / (d − 2))`), with the angles computed for each forward's positions.
#[derive(Module, Clone, Debug)]
pub struct NtkRope {
    head_dim: usize,
    base: f64,
}

impl NtkRope {
    fn new(head_dim: usize, scale: f64) -> Self {
        let d = head_dim as f64;
        Self {
            head_dim,
            base: 10_000.0 * scale.powf(d / (d - 2.0)),
        }
    }
}

impl<B: Backend> PositionEncoding<B> for NtkRope {
    fn rotation(&self, positions: &Positions, device: &B::Device) -> Option<Rotation<B>> {
        let half = self.head_dim / 2;
        let (batch, seq) = (positions.batch(), positions.len);
        let (mut cos, mut sin) = (vec![], vec![]);
        for p in positions.gather_index() {
            for i in 0..half {
                let angle = p as f64 / self.base.powf(2.0 * i as f64 / self.head_dim as f64);
                cos.push(angle.cos() as f32);
                sin.push(angle.sin() as f32);
            }
        }
        let table = |v| Tensor::from_data(TensorData::new(v, [batch, 1, seq, half]), device);
        Some(Rotation::new(table(cos), table(sin)))
    }
}

/// Prefix-LM attention (Raffel et al., 2020): the first `prefix` tokens see each other in both
/// directions; every later token sees everything before it.
#[derive(Debug)]
pub struct PrefixLm {
    prefix: usize,
}

impl AttentionMask for PrefixLm {
    fn visible(&self, query: usize, key: usize) -> bool {
        key <= query || key < self.prefix
    }
    fn name(&self) -> String {
        format!("prefix_lm({})", self.prefix)
    }
}

/// ScaleNorm: `g · x / ‖x‖` with a single learned gain `g`.
#[derive(Module, Debug)]
pub struct ScaleNorm<B: Backend> {
    gain: Param<Tensor<B, 1>>,
}

impl<B: Backend> ScaleNorm<B> {
    fn new(hidden: usize, device: &B::Device) -> Self {
        let gain = Tensor::from_data(TensorData::new(vec![(hidden as f32).sqrt()], [1]), device);
        Self {
            gain: Param::from_tensor(gain),
        }
    }
}

impl<B: Backend> Norm<B> for ScaleNorm<B> {
    fn forward<const D: usize>(&self, x: Tensor<B, D>) -> Tensor<B, D> {
        let norm = x.clone().square().sum_dim(D - 1).sqrt() + 1e-5;
        x / norm * self.gain.val().unsqueeze::<D>()
    }
}

/// Primer's feed-forward block: `down(relu(up(x))²)`.
#[derive(Module, Debug)]
pub struct SquaredReluMlp<B: Backend> {
    up: Linear<B>,
    down: Linear<B>,
}

impl<B: Backend> SquaredReluMlp<B> {
    fn new(hidden: usize, intermediate: usize, device: &B::Device) -> Self {
        Self {
            up: LinearConfig::new(hidden, intermediate).init(device),
            down: LinearConfig::new(intermediate, hidden).init(device),
        }
    }
}

impl<B: Backend> FeedForward<B> for SquaredReluMlp<B> {
    fn forward(&self, x: Tensor<B, 3>) -> Tensor<B, 3> {
        self.down.forward(relu(self.up.forward(x)).powi_scalar(2))
    }
}

/// Greedy decoding that never repeats any of the last `window` tokens.
pub struct NoRecentRepeat {
    window: usize,
    /// How many tokens it has chosen.
    pub calls: usize,
}

impl Sampler for NoRecentRepeat {
    fn sample(&mut self, logits: &[f32], history: &[u32]) -> Result<u32, SamplingError> {
        self.calls += 1;
        let mut logits = logits.to_vec();
        for &id in history.iter().rev().take(self.window) {
            if let Some(x) = logits.get_mut(id as usize) {
                *x = f32::NEG_INFINITY;
            }
        }
        argmax(&logits)
    }
}

/// What a run produced.
pub struct Report {
    /// The model's tree.
    pub tree: String,
    /// New tokens with the KV cache.
    pub cached: Vec<u32>,
    /// New tokens without it.
    pub uncached: Vec<u32>,
    /// Tokens the sampler chose over both runs.
    pub sampler_calls: usize,
    /// The prompt.
    pub prompt: Vec<u32>,
}

/// The window the sampler keeps tokens from repeating in.
pub const NO_REPEAT_WINDOW: usize = 4;

/// Builds the decoder from the parts above on `device` and generates 12 tokens with and without
/// the cache.
pub fn run<B: Backend>(device: B::Device) -> Result<Report, Phi3Error> {
    B::seed(&device, 5);
    let config = Phi3Config::from_json(
        r#"{"vocab_size": 300, "hidden_size": 48, "intermediate_size": 96,
        "num_hidden_layers": 3, "num_attention_heads": 1, "max_position_embeddings": 128}"#,
    )?;
    let model = DecoderBuilder::new(config)?
        .masks(MaskSchedule::uniform(Arc::new(PrefixLm { prefix: 3 })))
        .build::<B, _, _, _, _>(
            &device,
            |_, c| Ok(SingleHeadAttention::new(c.hidden_size, &device)),
            |c| SquaredReluMlp::new(c.hidden_size, c.intermediate_size, &device),
            |c| ScaleNorm::new(c.hidden_size, &device),
            NtkRope::new(48, 4.0),
        )?;
    let prompt = vec![7, 21, 3, 150, 42];
    let mut sampler = NoRecentRepeat {
        window: NO_REPEAT_WINDOW,
        calls: 0,
    };
    let mut go = |use_cache| {
        let config = GenerationConfig {
            max_new_tokens: 12,
            use_cache,
            eos_token_ids: Some(vec![]),
            ..Default::default()
        };
        model
            .generate_with(&prompt, &config, &mut sampler, &mut |_, _| {
                Control::Continue
            })
            .map(|(out, _)| out.new_ids)
    };
    let cached = go(true)?;
    let uncached = go(false)?;
    Ok(Report {
        tree: model.to_string(),
        cached,
        uncached,
        sampler_calls: sampler.calls,
        prompt,
    })
}

#[path = "common/mod.rs"]
#[macro_use]
mod common;

/// The backend to run on.
#[derive(clap::Parser)]
#[allow(dead_code)]
struct Args {
    #[command(flatten)]
    backend: common::BackendArgs,
}

#[allow(dead_code)]
fn show<B: Backend>(compute: String, device: B::Device) -> Result<(), Phi3Error> {
    common::set_compute::<B>(&device, &compute)?;
    let report = run::<B>(device)?;
    println!("{}\n", report.tree);
    println!("prompt:           {:?}", report.prompt);
    println!("with the cache:    {:?}", report.cached);
    println!("without the cache: {:?}", report.uncached);
    println!("identical: {}", report.cached == report.uncached);
    Ok(())
}

// Also compiled into tests/user_parts.rs, where only `run` is called.
#[allow(dead_code)]
fn main() -> Result<(), Phi3Error> {
    let args = <Args as clap::Parser>::parse();
    let device: common::Device = args.backend.device.parse()?;
    on_device!(device, show(args.backend.compute))
}
