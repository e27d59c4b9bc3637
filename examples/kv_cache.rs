//! The walk-through's KV-cache experiment: the same 100 new tokens generated with and without
//! the cache, both timed, the outputs checked identical.
//!
//! ```text
//! cargo run --release --example kv_cache                      # random-weight model, see below
//! cargo run --release --example kv_cache -- --model DIR       # a checkpoint (or a .gguf file)
//! ```
//!
//! Without a checkpoint it builds a random-weight Phi-3 of about 150M parameters (Phi-3's
//! vocabulary and head size, 12 layers of width 768): large enough that the uncached path's
//! re-computation dominates, small enough to run in a minute on two cores.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use clap::Parser;
use phi3::Phi3Config;
use phi3::burn::tensor::backend::Backend;

#[path = "common/mod.rs"]
mod common;
use phi3::prelude::*;

#[derive(Parser)]
#[command(about = "Generation with and without the KV cache, timed")]
struct Args {
    /// Checkpoint directory or `.gguf` file (default: a random-weight model).
    #[arg(long)]
    model: Option<PathBuf>,
    /// Tokens to generate.
    #[arg(long, default_value_t = 100)]
    max_new_tokens: usize,
    /// Prompt length in tokens.
    #[arg(long, default_value_t = 16)]
    prompt_tokens: usize,
    #[command(flatten)]
    backend: common::BackendArgs,
    /// How the weights are held: f32, f16, bf16, q8_0, q4_0, q4_1 (quantized at load) or stored
    /// (as the file holds them).
    #[arg(long, default_value = "f32")]
    dtype: String,
}

const RANDOM_CONFIG: &str = r#"{"vocab_size": 32064, "hidden_size": 768, "intermediate_size": 2048,
    "num_hidden_layers": 12, "num_attention_heads": 8, "max_position_embeddings": 4096,
    "eos_token_id": 32000, "pad_token_id": 32000}"#;

/// Whether cached and uncached generation agree.
fn run<B: Backend>(args: Args, device: B::Device) -> Result<bool, Phi3Error> {
    common::set_compute::<B>(&device, &args.backend.compute)?;
    let model = match &args.model {
        Some(dir) => Pretrained::open(dir)?
            .load::<B>(&LoadOptions::<B>::new(device.clone()).storage(args.dtype.parse()?))?,
        None => {
            B::seed(&device, 0);
            phi3::models::phi3::build::<B>(&Phi3Config::from_json(RANDOM_CONFIG)?, &device)?
        }
    };
    println!(
        "model: {} parameters",
        phi3::core::display::thousands(model.parameter_count())
    );
    let vocab = model.config.vocab_size as u32;
    let prompt: Vec<u32> = (0..args.prompt_tokens as u32)
        .map(|i| (i * 7919 + 11) % vocab)
        .collect();
    let config = |use_cache| GenerationConfig {
        max_new_tokens: args.max_new_tokens,
        use_cache,
        eos_token_ids: Some(vec![]),
        ..Default::default()
    };
    let timed = |use_cache: bool| -> Result<(Vec<u32>, f64), Phi3Error> {
        let t = Instant::now();
        let (out, _) =
            model.generate(&prompt, &config(use_cache), &mut |_, _| Control::Continue)?;
        Ok((out.new_ids, t.elapsed().as_secs_f64()))
    };
    let (with, t_with) = timed(true)?;
    println!(
        "use_cache=True:  {} new tokens in {t_with:.2} s",
        with.len()
    );
    let (without, t_without) = timed(false)?;
    println!(
        "use_cache=False: {} new tokens in {t_without:.2} s",
        without.len()
    );
    println!("speed-up with the cache: {:.1}x", t_without / t_with);
    if with != without {
        eprintln!("outputs differ!\n with cache:    {with:?}\n without cache: {without:?}");
        return Ok(false);
    }
    println!("outputs identical: yes");
    Ok(true)
}

/// Runs on the backend `--device` names.
fn dispatch(args: Args) -> Result<bool, Phi3Error> {
    let device: common::Device = args.backend.device.parse()?;
    on_device!(device, run(args))
}

fn main() -> ExitCode {
    match dispatch(Args::parse()) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
