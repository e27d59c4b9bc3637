//! Prefill and decode speed in llama-bench's terms: `ppN` = tokens/s processing an N-token
//! prompt, `tgN` = tokens/s generating N tokens one at a time with the KV cache. Medians of
//! `--repeats` runs after a warm-up; tokenization and sampling are outside the timed region
//! (random prompt ids); a prefill reads its last logits back and a decode step its argmax — which
//! synchronises the device — before the clock is read. Also prints load time and peak memory.
//!
//! ```text
//! cargo run --release --example bench -- --model ~/.cache/phi3/models/SmolLM2-135M-Instruct.Q4_1.gguf \
//!     --dtype f32 -p 128,512 -n 100 --threads 2
//! ```

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use clap::Parser;
use phi3::burn::module::Module;
use phi3::burn::tensor::backend::Backend;
use phi3::burn::tensor::{Int, Tensor, TensorData};

#[path = "common/mod.rs"]
mod common;
use phi3::attention::AttentionKernel;
use phi3::prelude::*;
use phi3::{ModelError, Positions};

#[derive(Parser)]
#[command(about = "Prefill (ppN) and decode (tgN) tokens/s of a checkpoint")]
struct Args {
    /// A `.gguf` file or a checkpoint directory.
    #[arg(long)]
    model: PathBuf,
    /// How the matrices are stored: f32, f16, bf16, quantized at load (q8_0, q4_0, q4_1), or
    /// as the file stores them (stored: a GGUF's blocks).
    #[arg(long, default_value = "f32")]
    dtype: String,
    /// Prompt lengths for the prefill tests.
    #[arg(short = 'p', value_delimiter = ',', default_value = "128,512")]
    prompts: Vec<usize>,
    /// Tokens to generate in the decode test.
    #[arg(short = 'n', default_value_t = 100)]
    new_tokens: usize,
    #[command(flatten)]
    backend: common::BackendArgs,
    /// Without Burn's fusion layer (GPU backends), to measure what fusion buys.
    #[arg(long)]
    no_fusion: bool,
    /// The attention kernel: auto, naive, fused (Burn's op), tiled:N or cpu:Q,K.
    #[arg(long, default_value = "auto")]
    attention: String,
    /// Worker threads (rayon's global pool, which Flex's gemm uses).
    #[arg(long)]
    threads: Option<usize>,
    /// Timed runs per test (after one warm-up run).
    #[arg(long, default_value_t = 3)]
    repeats: usize,
    /// Random weights instead of the checkpoint's: `--model` is then a `config.json` (or a
    /// directory holding one) and the model is built from it, its matrices in the compute dtype
    /// (full-size speed without the download: tools/gpu/check.sh). `--dtype` must stay f32.
    #[arg(long)]
    random: bool,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
    /// Also time the decode steps' linear products apart from everything else.
    #[arg(long)]
    profile: bool,
}

/// Peak resident memory of this process so far, in bytes (Linux `VmHWM`).
fn peak_rss() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// Bytes of the checkpoint: the `.gguf` file, or every file of the directory.
fn file_size(path: &std::path::Path) -> u64 {
    match std::fs::read_dir(path) {
        Ok(entries) => entries
            .filter_map(|e| e.ok()?.metadata().ok())
            .map(|m| m.len())
            .sum(),
        Err(_) => std::fs::metadata(path).map_or(0, |m| m.len()),
    }
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

fn ids<B: Backend>(model: &impl CausalModel<B>, n: usize, seed: u64) -> Vec<u32> {
    // A fixed pseudo-random prompt (no tokenizer in the timed path).
    let vocab = model.config().vocab_size as u64;
    (0..n as u64)
        .map(|i| ((i * 2654435761 + seed * 40503 + 17) % vocab) as u32)
        .collect()
}

fn tensor<B: Backend>(ids: &[u32], device: &B::Device) -> Tensor<B, 2, Int> {
    let data: Vec<i64> = ids.iter().map(|&i| i as i64).collect();
    Tensor::from_data(TensorData::new(data, [1, ids.len()]), device)
}

/// Seconds to prefill `prompt` (cache on) and read the last position's logits.
fn prefill<B: Backend>(model: &impl CausalModel<B>, prompt: &[u32]) -> Result<f64, Phi3Error> {
    let mut cache = model.new_cache(prompt.len() + 1);
    let start = Instant::now();
    let hidden = model.hidden_states(
        tensor(prompt, &model.device()),
        &Positions::new(1, 0, prompt.len()),
        Some(&mut cache),
    )?;
    let logits = model
        .logits(hidden.narrow(1, prompt.len() - 1, 1))
        .into_data();
    let elapsed = start.elapsed().as_secs_f64();
    std::hint::black_box(logits);
    Ok(elapsed)
}

/// Seconds to generate `n` tokens greedily after a one-token prompt (the prompt not counted).
fn decode<B: Backend>(model: &impl CausalModel<B>, n: usize) -> Result<f64, Phi3Error> {
    let mut cache = model.new_cache(n + 1);
    let mut next = 1u32;
    let mut timed = 0.0;
    for step in 0..=n {
        let start = Instant::now();
        let hidden = model.hidden_states(
            tensor(&[next], &model.device()),
            &Positions::new(1, step, 1),
            Some(&mut cache),
        )?;
        // Greedy as generation runs it: the argmax where the logits are, one id read back.
        let id: Vec<i64> = model
            .logits(hidden)
            .argmax(2)
            .into_data()
            .convert::<i64>()
            .to_vec()
            .map_err(ModelError::from)?;
        if step > 0 {
            timed += start.elapsed().as_secs_f64();
        }
        next = id[0] as u32;
    }
    Ok(timed)
}

/// The attention kernel `--attention` names.
fn kernel(name: &str) -> Result<AttentionKernel, Phi3Error> {
    let bad = || Phi3Error::InvalidOption {
        option: "attention",
        message: format!("is {name:?}, expected auto, naive, fused, tiled:N or cpu:Q,K"),
    };
    let number = |s: &str| s.parse::<usize>().ok().filter(|&n| n > 0).ok_or_else(bad);
    Ok(match name.split_once(':') {
        None if name == "auto" => AttentionKernel::Auto,
        None if name == "naive" => AttentionKernel::Naive,
        None if name == "fused" => AttentionKernel::Fused,
        Some(("tiled", n)) => AttentionKernel::Tiled { block: number(n)? },
        Some(("cpu", tiles)) => {
            let (q, k) = tiles.split_once(',').ok_or_else(bad)?;
            AttentionKernel::Cpu {
                queries: number(q)?,
                keys: number(k)?,
            }
        }
        _ => return Err(bad()),
    })
}

/// The Phi-3 composition of `--model`'s config with seeded random weights, all created now.
fn random_model<B: Backend>(
    args: &Args,
    device: &B::Device,
) -> Result<Phi3ForCausalLM<B>, Phi3Error> {
    if args.dtype != "f32" {
        return Err(Phi3Error::InvalidOption {
            option: "dtype",
            message: "with --random the matrices are in the compute dtype: use --compute".into(),
        });
    }
    let path = match args.model.is_dir() {
        true => args.model.join("config.json"),
        false => args.model.clone(),
    };
    let config = phi3::Phi3Config::from_file(&path)?;
    B::seed(device, 0);
    let model = phi3::models::phi3::build::<B>(&config, device)?;
    // Weights are created lazily; touch every one so the first timed run does not pay for it.
    let model = model.map(&mut Materialize);
    Ok(model)
}

/// Initialises lazily created parameters (the mapper's default consumes each one).
struct Materialize;

impl<B: Backend> phi3::burn::module::ModuleMapper<B> for Materialize {}

fn run<B: Backend>(args: Args, device: B::Device) -> Result<(), Phi3Error> {
    common::set_compute::<B>(&device, &args.backend.compute)?;
    if let Some(n) = args.threads {
        rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build_global()
            .ok();
    }
    let file_bytes = file_size(&args.model);
    let start = Instant::now();
    let model = match args.random {
        true => random_model::<B>(&args, &device)?,
        false => {
            let options =
                common::with_load_bar(LoadOptions::<B>::new(device).storage(args.dtype.parse()?));
            Pretrained::open(&args.model)?.load(&options)?
        }
    };
    let kernel = kernel(&args.attention)?;
    let model = model.map_attention(|a| a.with_kernel(kernel));
    let load_s = start.elapsed().as_secs_f64();
    let load_peak = peak_rss();
    let f32_bytes = model.parameter_count() * 4;

    let mut results = vec![];
    for &p in &args.prompts {
        let prompt = ids(&model, p, p as u64);
        prefill(&model, &prompt)?; // warm-up
        let times = (0..args.repeats)
            .map(|_| prefill(&model, &prompt))
            .collect::<Result<Vec<_>, _>>()?;
        results.push((format!("pp{p}"), p as f64 / median(times)));
    }
    let n = args.new_tokens;
    decode(&model, n.min(8))?; // warm-up
    let times = (0..args.repeats)
        .map(|_| decode(&model, n))
        .collect::<Result<Vec<_>, _>>()?;
    results.push((format!("tg{n}"), n as f64 / median(times)));
    // Per-token accounting: one more decode run with the products' time counted.
    let split = args.profile.then(|| -> Result<(f64, f64), Phi3Error> {
        phi3::core::profile::enable(true);
        phi3::core::profile::take();
        let total = decode(&model, n)?;
        let (linear, _) = phi3::core::profile::take();
        phi3::core::profile::enable(false);
        let per_token = |s: f64| s * 1e3 / n as f64;
        Ok((per_token(total), per_token(linear.as_secs_f64())))
    });
    let split = split.transpose()?;

    if args.json {
        let tests: serde_json::Map<String, serde_json::Value> = results
            .iter()
            .map(|(k, v)| (k.clone(), (*v).into()))
            .collect();
        let out = serde_json::json!({
            "model": args.model, "dtype": args.dtype, "threads": args.threads, "load_s": load_s,
            "device": args.backend.device, "compute": args.backend.compute,
            "fusion": (args.backend.device != "cpu").then_some(!args.no_fusion),
            "attention": args.attention, "random_weights": args.random,
            "parameters": model.parameter_count(),
            "peak_rss_after_load": load_peak, "peak_rss": peak_rss(), "weights_f32_bytes": f32_bytes,
            "file_bytes": file_bytes, "tokens_per_s": tests,
            "decode_ms_per_token": split.map(|s| s.0), "linear_ms_per_token": split.map(|s| s.1),
        });
        println!("{out}");
    } else {
        println!(
            "model {} ({} parameters), weights {}, threads {:?}",
            args.model.display(),
            model.parameter_count(),
            args.dtype,
            args.threads
        );
        println!(
            "load {load_s:.2} s; peak RSS after load {:.0} MB (weights at f32: {:.0} MB; file: {:.0} MB)",
            load_peak.unwrap_or(0) as f64 / 1e6,
            f32_bytes as f64 / 1e6,
            file_bytes as f64 / 1e6
        );
        for (name, tps) in &results {
            println!(
                "{name:>8}  {tps:>9.1} tokens/s  (median of {})",
                args.repeats
            );
        }
        if let Some((total, linear)) = split {
            println!(
                "decode per token: {total:.2} ms = {linear:.2} ms in linear products + {:.2} ms everything else",
                total - linear
            );
        }
        println!("peak RSS {:.0} MB", peak_rss().unwrap_or(0) as f64 / 1e6);
    }
    Ok(())
}

/// Runs on the backend `--device` names.
fn dispatch(args: Args) -> Result<(), Phi3Error> {
    let mut device: common::Device = args.backend.device.parse()?;
    if args.no_fusion {
        device = device.without_fusion()?;
    }
    on_device!(device, run(args))
}

fn main() -> ExitCode {
    common::exit(dispatch(Args::parse()))
}
