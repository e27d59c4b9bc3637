//! Building decoder variants from parts, as the walk-through describes the Transformer's
//! improvements: (a) the original Transformer's block, (b) a GPT-3-style stack alternating dense
//! and strided-sparse layers, (c) a decoder whose attention is defined right here.
//! Each prints its tree and masks and generates a few tokens through the same generator.
//!
//! ```text
//! cargo run --release --example custom_decoder
//! ```

use std::sync::Arc;

use phi3::attention::{
    Attention, AttentionMask, CachedKv, Causal, GroupedQueryAttention, KvCache, LearnedPositions,
    MaskSchedule, PositionEncoding, Positions, RotaryEmbeddingConfig, SinusoidalPositions,
    StridedSparse, masked_tensor,
};
// `#[derive(Module)]` expands to `burn::...` paths: the re-export puts `burn` in scope.
use phi3::burn;
use phi3::burn::module::Module;
use phi3::burn::nn::{Linear, LinearConfig};
use phi3::burn::tensor::activation::softmax;
use phi3::burn::tensor::{Tensor, backend::Backend};
use phi3::device::{Cpu, cpu};
use phi3::{
    BlockLayout, CausalLm, Control, DecoderBuilder, GenerationConfig, LayerNorm, Norm, Phi3Config,
    Phi3Error, RmsNorm,
};

/// (c) A user's own attention: a single wide head with separate q, k, v projections, written
/// against the `Attention` trait from outside the library. It honours the mask, the position
/// encoding and the KV cache like the built-in ones.
#[derive(Module, Debug)]
struct SingleHeadAttention<B: Backend> {
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
    fn forward<P: PositionEncoding<B>>(
        &self,
        x: Tensor<B, 3>,
        encoding: &P,
        mask: &dyn AttentionMask,
        positions: &Positions,
        cache: Option<&mut dyn KvCache<B>>,
    ) -> Tensor<B, 3> {
        let [batch, seq, hidden] = x.dims();
        let head = |t: Tensor<B, 3>| t.reshape([batch, 1, seq, hidden]);
        let (q, k) = encoding.rotate(
            head(self.q.forward(x.clone())),
            head(self.k.forward(x.clone())),
            positions,
        );
        let v = head(self.v.forward(x));
        let CachedKv {
            keys,
            values,
            columns,
        } = match cache {
            Some(cache) => cache.update(k, v, positions.start),
            None => CachedKv {
                keys: k,
                values: v,
                columns: (positions.start..positions.end()).collect(),
            },
        };
        let hidden_keys = masked_tensor::<B, _>(mask, positions, &columns, &q.device());
        let [rows, q_len, k_len] = hidden_keys.dims();
        let scores = q.matmul(keys.swap_dims(2, 3)) / (hidden as f64).sqrt();
        let scores = scores.mask_fill(
            hidden_keys
                .reshape([rows, 1, q_len, k_len])
                .expand([batch, 1, q_len, k_len]),
            f32::NEG_INFINITY,
        );
        self.o.forward(
            softmax(scores, 3)
                .matmul(values)
                .reshape([batch, seq, hidden]),
        )
    }
}

fn config() -> Result<Phi3Config, Phi3Error> {
    Phi3Config::from_json(
        r#"{"vocab_size": 1000, "hidden_size": 128, "intermediate_size": 256, "num_hidden_layers": 4,
        "num_attention_heads": 8, "max_position_embeddings": 256, "eos_token_id": 0}"#,
    )
}

fn show<A, N, P>(title: &str, model: &CausalLm<Cpu, A, N, P>) -> Result<(), Phi3Error>
where
    A: Attention<Cpu>,
    N: Norm<Cpu>,
    P: PositionEncoding<Cpu>,
{
    println!("==== {title} ====\n{model}\n");
    let mut seen = vec![];
    for layer in &model.model.layers {
        let name = layer.mask.name();
        if !seen.contains(&name) {
            println!(
                "mask {name} (row = query, ■ = visible key):\n{}",
                layer.mask.grid(8)
            );
            seen.push(name);
        }
    }
    let config = GenerationConfig {
        max_new_tokens: 8,
        eos_token_ids: Some(vec![]),
        ..Default::default()
    };
    let (out, timings) = model.generate(&[17, 4, 256, 9, 101], &config, &mut |_, _| {
        Control::Continue
    })?;
    println!(
        "greedy continuation of [17, 4, 256, 9, 101]: {:?} ({:.0} tokens/s)\n",
        out.new_ids,
        timings.decode_tokens_per_s()
    );
    Ok(())
}

fn main() -> Result<(), Phi3Error> {
    let device = cpu();
    <Cpu as Backend>::seed(&device, 0);
    let ln = |c: &Phi3Config| LayerNorm::<Cpu>::init(c.hidden_size, 1e-5, &cpu());
    let rms = |c: &Phi3Config| RmsNorm::<Cpu>::init(c.hidden_size, 1e-5, &cpu());

    // (a) "Attention Is All You Need": post-norm LayerNorm, sinusoidal positions, multi-head.
    let original = DecoderBuilder::new(config()?)?
        .layout(BlockLayout::PostNorm)
        .build(
            &device,
            |_, c| GroupedQueryAttention::<Cpu>::mha(c.hidden_size, c.num_attention_heads, &cpu()),
            ln,
            SinusoidalPositions::new(256, 128, &device),
        );
    show(
        "(a) original Transformer: post-norm LayerNorm, sinusoidal, MHA",
        &original,
    )?;

    // (b) GPT-3: dense and strided-sparse layers alternate; learned positions, pre-norm.
    let gpt3 = DecoderBuilder::new(config()?)?
        .masks(MaskSchedule::alternating(
            Arc::new(Causal),
            Arc::new(StridedSparse { stride: 3 }),
        ))
        .build(
            &device,
            |_, c| GroupedQueryAttention::<Cpu>::mha(c.hidden_size, c.num_attention_heads, &cpu()),
            ln,
            LearnedPositions::new(256, 128, &device),
        );
    show(
        "(b) GPT-3 style: alternating dense / strided sparse, learned positions",
        &gpt3,
    )?;

    // (c) The attention defined above, with RoPE and RMSNorm.
    let b = DecoderBuilder::new(config()?)?;
    let rope = RotaryEmbeddingConfig::new(128, 128, 256).init::<Cpu>(&device);
    let custom = b.build(
        &device,
        |_, c| SingleHeadAttention::new(c.hidden_size, &cpu()),
        rms,
        rope,
    );
    show(
        "(c) a user-defined attention (one wide head), RoPE, RMSNorm",
        &custom,
    )?;
    Ok(())
}
