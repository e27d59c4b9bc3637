//! Building decoder variants from the library's parts, as the walk-through describes the
//! Transformer's improvements: (a) the original Transformer's block — post-norm LayerNorm, a ReLU
//! MLP, sinusoidal positions, multi-head attention — and (b) a GPT-3-style stack alternating dense
//! and strided-sparse layers with learned positions and a GELU MLP. Each prints its tree and
//! masks and generates a few tokens through the same generator. Parts written outside the library
//! are in `examples/user_parts.rs`.
//!
//! ```text
//! cargo run --release --example custom_decoder [-- --device cpu|wgpu|cuda[:N] --compute f32|f16|bf16]
//! ```

use std::fmt::Display;
use std::sync::Arc;

use phi3::attention::{
    Causal, GroupedQueryAttention, LearnedPositions, MaskSchedule, SinusoidalPositions,
    StridedSparse,
};
use phi3::burn::tensor::backend::Backend;

#[path = "common/mod.rs"]
mod common;
use phi3::prelude::*;
use phi3::{AttentionMask, BlockLayout, DecoderBuilder, LayerNorm, Mlp, Phi3Config};

fn config() -> Result<Phi3Config, Phi3Error> {
    Ok(Phi3Config::from_json(
        r#"{"vocab_size": 1000, "hidden_size": 128, "intermediate_size": 256, "num_hidden_layers": 4,
        "num_attention_heads": 8, "max_position_embeddings": 256, "eos_token_id": 0}"#,
    )?)
}

/// The backend to run on.
#[derive(clap::Parser)]
struct Args {
    #[command(flatten)]
    backend: common::BackendArgs,
}

fn show<B: Backend>(
    title: &str,
    model: &(impl CausalModel<B> + Display),
    masks: &[&dyn AttentionMask],
) -> Result<(), Phi3Error> {
    println!("==== {title} ====\n{model}\n");
    for mask in masks {
        println!(
            "mask {} (row = query, ■ = visible key):\n{}",
            mask.name(),
            mask.grid(8)
        );
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
    let args = <Args as clap::Parser>::parse();
    let device: common::Device = args.backend.device.parse()?;
    on_device!(device, run(args.backend.compute))
}

fn run<B: Backend>(compute: String, device: B::Device) -> Result<(), Phi3Error> {
    common::set_compute::<B>(&device, &compute)?;
    B::seed(&device, 0);
    let ln = |c: &Phi3Config| LayerNorm::<B>::init(c.hidden_size, 1e-5, &device);

    // (a) "Attention Is All You Need": post-norm LayerNorm, ReLU MLP, sinusoidal positions, MHA.
    let original = DecoderBuilder::new(config()?)?
        .layout(BlockLayout::PostNorm)
        .build(
            &device,
            |_, c| GroupedQueryAttention::<B>::mha(c.hidden_size, c.num_attention_heads, &device),
            |c| Mlp::relu(c.hidden_size, c.intermediate_size, &device),
            ln,
            SinusoidalPositions::new(256, 128, &device),
        )?;
    show(
        "(a) original Transformer: post-norm LayerNorm, ReLU MLP, sinusoidal, MHA",
        &original,
        &[&Causal],
    )?;

    // (b) GPT-3: dense and strided-sparse layers alternate; learned positions, pre-norm, GELU.
    let strided = StridedSparse { stride: 3 };
    let gpt3 = DecoderBuilder::new(config()?)?
        .masks(MaskSchedule::alternating(
            Arc::new(Causal),
            Arc::new(strided),
        ))
        .build(
            &device,
            |_, c| GroupedQueryAttention::<B>::mha(c.hidden_size, c.num_attention_heads, &device),
            |c| Mlp::gelu(c.hidden_size, c.intermediate_size, &device),
            ln,
            LearnedPositions::new(256, 128, &device),
        )?;
    show(
        "(b) GPT-3 style: alternating dense / strided sparse, learned positions, GELU",
        &gpt3,
        &[&Causal, &strided],
    )?;
    Ok(())
}
