//! Runs the decoder stack and `lm_head` on token ids, as the walk-through does with
//! `model.model(...)` then `model.lm_head(...)`.
//!
//! ```text
//! cargo run --release --example logits -- --model tests/fixtures/gqa --ids 5,17,42,7,99
//! cargo run --release --example logits -- --model tests/fixtures/gqa --ids 5,17,42 --json
//! cargo run --release --example logits -- --model ~/.cache/phi3/models/SmolLM2-135M-Instruct.Q4_1.gguf \
//!     --prompt "The capital of France is"
//! ```
//!
//! `--model` takes a checkpoint directory or a `.gguf` file; `--prompt` needs a tokenizer (the
//! directory's `tokenizer.json` or the GGUF metadata).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use phi3::burn::tensor::Tensor;
use phi3::burn::tensor::backend::Backend;

#[path = "common/mod.rs"]
mod common;
use phi3::prelude::*;
use phi3::sampling::softmax;

#[derive(Parser)]
#[command(about = "Hidden states, logits and argmax of a Phi-3 checkpoint for given token ids")]
struct Args {
    /// Checkpoint directory (config.json + safetensors) or `.gguf` file.
    #[arg(long)]
    model: PathBuf,
    /// Comma-separated token ids, e.g. 450,7483,310,3444,338.
    #[arg(
        long,
        value_delimiter = ',',
        conflicts_with = "prompt",
        required_unless_present = "prompt"
    )]
    ids: Option<Vec<u32>>,
    /// Prompt text (needs a tokenizer).
    #[arg(long)]
    prompt: Option<String>,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    backend: common::BackendArgs,
    /// How the weights are held: f32, f16, bf16, q8_0, q4_0, q4_1 (quantized at load) or stored
    /// (as the file holds them).
    #[arg(long, default_value = "f32")]
    dtype: String,
}

fn floats<B: Backend, const D: usize>(t: Tensor<B, D>) -> Vec<f32> {
    t.into_data()
        .convert::<f32>()
        .to_vec::<f32>()
        .expect("a float tensor")
}

fn run<B: Backend>(args: Args, device: B::Device) -> Result<(), Phi3Error> {
    common::set_compute::<B>(&device, &args.backend.compute)?;
    let pretrained = Pretrained::open(&args.model)?;
    let tokenizer = pretrained.tokenizer()?;
    let model =
        pretrained.load::<B>(&LoadOptions::<B>::new(device).storage(args.dtype.parse()?))?;
    let ids = match (&args.ids, &args.prompt, &tokenizer) {
        (Some(ids), _, _) => ids.clone(),
        (None, Some(prompt), Some(tokenizer)) => tokenizer.encode(prompt, true)?,
        _ => {
            return Err(Phi3Error::InvalidOption {
                option: "tokenizer",
                message: format!(
                    "--prompt needs a tokenizer, and {} has none",
                    args.model.display()
                ),
            });
        }
    };
    let input = model.input_ids(&ids)?;
    let hidden = model.model.forward(input)?;
    let hidden_shape = hidden.dims();
    let seq = hidden_shape[1];
    let last_hidden = floats(hidden.clone().narrow(1, seq - 1, 1));
    let logits = model.logits(hidden);
    let logits_shape = logits.dims();
    let vocab = logits_shape[2];
    let all = floats(logits);
    let argmax: Vec<u32> = all
        .chunks(vocab)
        .map(phi3::sampling::argmax)
        .collect::<Result<_, _>>()?;
    let last = &all[(seq - 1) * vocab..];

    if args.json {
        let out = serde_json::json!({
            "input_ids": ids,
            "hidden_shape": hidden_shape,
            "logits_shape": logits_shape,
            "argmax": argmax,
            "last_logits": last,
            "last_hidden": last_hidden,
        });
        println!("{out}");
        return Ok(());
    }
    let probs = softmax(last);
    let mut order: Vec<usize> = (0..vocab).collect();
    order.sort_by(|&a, &b| last[b].total_cmp(&last[a]));
    println!("input ids:     {ids:?}");
    println!("hidden states: {hidden_shape:?}  (model.model)");
    println!("logits:        {logits_shape:?}  (lm_head)");
    println!("top-5 next tokens after the last position:");
    for &id in order.iter().take(5) {
        let text = match &tokenizer {
            Some(t) => format!("{:?}", t.decode(&[id as u32], false)?),
            None => String::new(),
        };
        println!(
            "  id {id:>6}  logit {:>9.4}  p {:.4}  {text}",
            last[id], probs[id]
        );
    }
    println!("argmax at every position: {argmax:?}");
    Ok(())
}

/// Runs on the backend `--device` names.
fn dispatch(args: Args) -> Result<(), Phi3Error> {
    let device: common::Device = args.backend.device.parse()?;
    on_device!(device, run(args))
}

fn main() -> ExitCode {
    common::exit(dispatch(Args::parse()))
}
