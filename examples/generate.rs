//! Text generation from the command line, streaming tokens as they are produced.
//!
//! ```text
//! cargo run --release --example generate -- --model tests/fixtures/gqa --ids 5,17,42 --max-new-tokens 20
//! cargo run --release --example generate -- --model DIR --prompt "The capital of France is" --greedy
//! cargo run --release --example generate -- --model DIR --prompt "Tell me a joke" --chat \
//!     --temperature 0.7 --top-p 0.9 --seed 1 --json
//! cargo run --release --example generate -- --model FILE.gguf --prompt "List three colours:" \
//!     --repetition-penalty 1.3 --min-p 0.05 --stop "\n\n" --dtype stored
//! ```
//!
//! Generation starts from the checkpoint's own defaults (`generation_config.json`: stop tokens,
//! sampling settings); every option given here wins over them.
//!
//! `--model` takes a checkpoint directory or a `.gguf` file. `--prompt` and `--chat` need a
//! tokenizer: the directory's `tokenizer.json`, the GGUF metadata, or `--tokenizer DIR`; `--ids`
//! works on a bare checkpoint.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use phi3::burn::tensor::backend::Backend;

#[path = "common/mod.rs"]
mod common;
use phi3::prelude::*;
use phi3::tokenizer::{ChatMessage, Tokenizer};

#[derive(Parser)]
#[command(about = "Generate text (or token ids) with a Phi-3 checkpoint")]
struct Args {
    /// Checkpoint directory or `.gguf` file.
    #[arg(long)]
    model: PathBuf,
    /// tokenizer.json's directory, if not the model's.
    #[arg(long)]
    tokenizer: Option<PathBuf>,
    /// Prompt text.
    #[arg(long, conflicts_with = "ids", required_unless_present = "ids")]
    prompt: Option<String>,
    /// Prompt token ids, comma-separated (no tokenizer needed).
    #[arg(long, value_delimiter = ',')]
    ids: Option<Vec<u32>>,
    /// Tokens to generate at most (default: the checkpoint's `max_new_tokens`, else 50).
    #[arg(long)]
    max_new_tokens: Option<usize>,
    /// Greedy decoding (the default unless a sampling option is given).
    #[arg(long, conflicts_with_all = ["temperature", "top_k", "top_p", "min_p"])]
    greedy: bool,
    /// Sampling temperature (turns sampling on).
    #[arg(long)]
    temperature: Option<f32>,
    /// Top-k (turns sampling on).
    #[arg(long)]
    top_k: Option<usize>,
    /// Top-p (turns sampling on).
    #[arg(long)]
    top_p: Option<f32>,
    /// Min-p: keep tokens at least this fraction of the likeliest one's probability (turns
    /// sampling on).
    #[arg(long)]
    min_p: Option<f32>,
    /// Repetition penalty (transformers' CTRL-style: > 1 discourages repeats; greedy stays
    /// greedy).
    #[arg(long)]
    repetition_penalty: Option<f32>,
    /// Stop when the generated text contains this string (repeatable; with --prompt).
    #[arg(long, requires = "prompt")]
    stop: Vec<String>,
    /// How the weights are held: f32, f16, bf16, q8_0, q4_0, q4_1 (quantized at load) or stored
    /// (as the file holds them: a GGUF's blocks kept).
    #[arg(long, default_value = "f32")]
    dtype: String,
    #[command(flatten)]
    backend: common::BackendArgs,
    /// RNG seed.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Recompute the whole sequence every step.
    #[arg(long)]
    no_cache: bool,
    /// Wrap the prompt in the chat template as a user turn.
    #[arg(long, requires = "prompt")]
    chat: bool,
    /// Print one JSON object at the end instead of streaming.
    #[arg(long)]
    json: bool,
}

fn run<B: Backend>(args: Args, device: B::Device) -> Result<(), Phi3Error> {
    common::set_compute::<B>(&device, &args.backend.compute)?;
    let pretrained = Pretrained::open(&args.model)?;
    let own_tokenizer = pretrained.tokenizer()?;
    // The checkpoint's defaults first; what is given on the command line wins.
    let mut config = pretrained.generation_defaults().generation_config();
    let options = common::with_load_bar(LoadOptions::<B>::new(device).storage(args.dtype.parse()?));
    let model = pretrained.load::<B>(&options)?;
    let sampling = &mut config.sampling;
    let samples = args.temperature.is_some()
        || args.top_k.is_some()
        || args.top_p.is_some()
        || args.min_p.is_some();
    sampling.do_sample = !args.greedy && (samples || sampling.do_sample);
    sampling.temperature = args.temperature.unwrap_or(sampling.temperature);
    sampling.top_k = args.top_k.or(sampling.top_k);
    sampling.top_p = args.top_p.or(sampling.top_p);
    sampling.min_p = args.min_p.or(sampling.min_p);
    sampling.repetition_penalty = args.repetition_penalty.or(sampling.repetition_penalty);
    sampling.seed = args.seed;
    config.max_new_tokens = args.max_new_tokens.unwrap_or(config.max_new_tokens);
    config.use_cache = !args.no_cache;
    config.return_full_text = false;
    config.stop_strings = args.stop.clone();
    let mut stdout = std::io::stdout();
    let json = args.json;
    let mut print = |text: &str| {
        if !json {
            print!("{text}");
            let _ = stdout.flush();
        }
        Ok(())
    };

    let (prompt_ids, new_ids, text, stop_reason, timings) = if let Some(ids) = args.ids {
        let mut streamed = vec![];
        let (out, timings) = model.generate(&ids, &config, &mut |_, id| {
            let _ = print(&format!("{id} "));
            streamed.push(id);
            Control::Continue
        })?;
        let text = out
            .new_ids
            .iter()
            .map(u32::to_string)
            .collect::<Vec<_>>()
            .join(" ");
        (ids, out.new_ids, text, out.stop_reason, timings)
    } else {
        let tokenizer = match (&args.tokenizer, own_tokenizer) {
            (Some(dir), _) => Tokenizer::from_dir(dir)?,
            (None, Some(t)) => t,
            (None, None) => {
                return Err(Phi3Error::InvalidOption {
                    option: "tokenizer",
                    message: format!(
                        "--prompt needs a tokenizer, and {} has none (try --tokenizer)",
                        args.model.display()
                    ),
                });
            }
        };
        let pipe = TextGenerationPipeline::new(model, tokenizer);
        let prompt = args.prompt.unwrap_or_default();
        let out = if args.chat {
            pipe.chat(&[ChatMessage::user(prompt)], &config, &mut print)?
        } else {
            pipe.generate_stream(&prompt, &config, &mut print)?
        };
        (
            out.prompt_ids,
            out.new_ids,
            out.text,
            out.stop_reason,
            out.timings,
        )
    };
    if json {
        let out = serde_json::json!({
            "input_ids": prompt_ids,
            "new_ids": new_ids,
            "text": text,
            "stop_reason": stop_reason,
            "prefill_tokens_per_s": timings.prefill_tokens_per_s(),
            "decode_tokens_per_s": timings.decode_tokens_per_s(),
        });
        println!("{out}");
    } else {
        println!();
        eprintln!(
            "[{} prompt tokens, {} new; stop: {stop_reason:?}; prefill {:.1} tok/s, decode {:.1} tok/s]",
            prompt_ids.len(),
            new_ids.len(),
            timings.prefill_tokens_per_s(),
            timings.decode_tokens_per_s()
        );
    }
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
