//! The walk-through, section by section, as `docs/walkthrough.md` shows it: that page's code is
//! this file's (between `// ANCHOR: name` and `// ANCHOR_END: name`) and its output this
//! program's, both pasted in by `tools/docs.sh`, which CI runs with `--check` so the page cannot
//! drift from the code.
//!
//! ```text
//! cargo run --release --example walkthrough -- --model SmolLM2-135M-Instruct.Q4_1.gguf \
//!     --phi3-config tests/fixtures/configs/phi-3-mini-4k-instruct.config.json [--pictures DIR]
//! ```
//!
//! Each section's output starts with a line `=== name ===`. `--pictures DIR` also writes what
//! `tools/docs/pictures.py` draws: the masks and the decode loop, as JSON.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use clap::Parser;
use phi3::attention::{
    AttentionShape, Causal, FixedSparse, LocalGlobal, RotaryEmbeddingConfig, SinusoidalPositions,
    SlidingWindow, StridedSparse,
};
use phi3::burn::tensor::backend::Backend;
use phi3::burn::tensor::{DType, Distribution, Tensor};
use phi3::core::display::thousands;
use phi3::sampling::softmax;
use phi3::tokenizer::Tokenizer;
use phi3::{
    AttentionMask, BlockLayout, DecoderBuilder, LayerNorm, Mlp, Norm, Phi3Config, PositionEncoding,
    Positions, RmsNorm,
};
use serde_json::json;

#[path = "common/mod.rs"]
mod common;
use phi3::prelude::*;

#[derive(Parser)]
#[command(about = "The walk-through's sections, as docs/walkthrough.md shows them")]
struct Args {
    /// SmolLM2-135M-Instruct's `.gguf` file (or any checkpoint with a tokenizer).
    #[arg(long)]
    model: PathBuf,
    /// Phi-3-mini-4k-instruct's `config.json`, for the figures that are Phi-3-mini's.
    #[arg(long)]
    phi3_config: PathBuf,
    /// Where to write masks.json and decode.json for the pictures.
    #[arg(long)]
    pictures: Option<PathBuf>,
    #[command(flatten)]
    backend: common::BackendArgs,
}

const PROMPT: &str = "The capital of France is";

fn section(name: &str) {
    println!("=== {name} ===");
}

fn run<B: Backend>(args: Args, device: B::Device) -> Result<(), Phi3Error> {
    common::set_compute::<B>(&device, &args.backend.compute)?;
    section("load");
    let (model, tokenizer) = load::<B>(&args, device.clone())?;
    section("print");
    print_model(&model);
    section("tokenize");
    let ids = tokenize(&tokenizer)?;
    section("forward");
    let logits = forward(&model, &ids)?;
    section("next-token");
    next_token(&logits, &tokenizer)?;
    section("phi3-mini");
    phi3_mini::<B>(&args, &device)?;
    section("pipeline");
    pipeline::<B>(&args, device.clone())?;
    section("token-by-token");
    let sequence = token_by_token(&model, &tokenizer)?;
    section("kv-cache");
    kv_cache(&model, &tokenizer)?;
    section("context-limit");
    context_limit(&model, &tokenizer)?;
    section("attention-variants");
    attention_variants(&args)?;
    section("masks");
    let masks = masks();
    section("norms");
    norms::<B>(&device)?;
    section("positions");
    positions::<B>(&device);
    if let Some(dir) = &args.pictures {
        write_pictures(dir, &masks, &tokenizer, &ids, &sequence[ids.len()..])?;
    }
    Ok(())
}

fn load<B: Backend>(
    args: &Args,
    device: B::Device,
) -> Result<(Phi3ForCausalLM<B>, Tokenizer), Phi3Error> {
    let t = Instant::now();
    // ANCHOR: load
    let pretrained = Pretrained::open(&args.model)?; // a .gguf file or a Hugging Face directory
    let tokenizer = pretrained
        .tokenizer()?
        .expect("the checkpoint ships a tokenizer");
    // f32 weights, as transformers computes (LoadOptions::new(device) alone keeps the file's
    // 4-bit blocks: faster, and a little further from transformers' figures).
    let model: Phi3ForCausalLM<B> = pretrained.load(&LoadOptions::new(device).dtype(DType::F32))?;
    let c = &model.config;
    println!(
        "{}: {} layers, hidden {}, {} heads / {} kv heads, vocabulary {}, context {}",
        c.model_type.as_deref().unwrap_or("phi3"),
        c.num_hidden_layers,
        c.hidden_size,
        c.num_attention_heads,
        c.num_key_value_heads(),
        c.vocab_size,
        c.max_position_embeddings
    );
    // ANCHOR_END: load
    println!("loaded in {:.2} s", t.elapsed().as_secs_f64());
    Ok((model, tokenizer))
}

fn print_model<B: Backend>(model: &Phi3ForCausalLM<B>) {
    // ANCHOR: print
    println!("{model}"); // what PyTorch's print(model) shows, and the parameter count
    // ANCHOR_END: print
}

fn tokenize(tokenizer: &Tokenizer) -> Result<Vec<u32>, Phi3Error> {
    // ANCHOR: tokenize
    let ids = tokenizer.encode(PROMPT, true)?;
    let pieces = ids
        .iter()
        .map(|&id| tokenizer.decode(&[id], false))
        .collect::<Result<Vec<_>, _>>()?;
    println!("input_ids: {ids:?}");
    println!("tokens:    {pieces:?}");
    // ANCHOR_END: tokenize
    Ok(ids)
}

fn forward<B: Backend>(model: &Phi3ForCausalLM<B>, ids: &[u32]) -> Result<Vec<f32>, Phi3Error> {
    // ANCHOR: forward
    let input = model.input_ids(ids)?; // [1, 5]
    let hidden = model.model.forward(input)?; // transformers' model.model(...)
    println!("hidden states: {:?}", hidden.dims());
    let logits = model.logits(hidden); // transformers' model.lm_head(...)
    println!("logits:        {:?}", logits.dims());
    let last = logits.narrow(1, ids.len() - 1, 1); // the next token's scores
    let last: Vec<f32> = last
        .into_data()
        .convert::<f32>()
        .to_vec()
        .expect("f32 logits");
    // ANCHOR_END: forward
    Ok(last)
}

fn next_token(last: &[f32], tokenizer: &Tokenizer) -> Result<(), Phi3Error> {
    // ANCHOR: next-token
    let probs = softmax(last);
    let mut order: Vec<usize> = (0..probs.len()).collect();
    order.sort_by(|&a, &b| probs[b].total_cmp(&probs[a]));
    for &id in &order[..5] {
        let token = tokenizer.decode(&[id as u32], false)?;
        println!("{id:>6}  {:<12} p = {:.4}", format!("{token:?}"), probs[id]);
    }
    let answer = tokenizer.decode(&[order[0] as u32], false)?;
    println!("argmax → {answer:?}");
    // ANCHOR_END: next-token
    assert_eq!(answer, " Paris", "the walk-through's answer");
    Ok(())
}

fn phi3_mini<B: Backend>(args: &Args, device: &B::Device) -> Result<(), Phi3Error> {
    // ANCHOR: phi3-mini
    let config = Phi3Config::from_file(&args.phi3_config)?; // Phi-3-mini-4k-instruct's own
    println!("parameters: {}", thousands(phi3::parameter_count(&config)));
    // The shapes do not depend on depth or on the weights' values: one layer of the real
    // widths, random weights, the same five token ids.
    let one_layer = Phi3Config {
        num_hidden_layers: 1,
        ..config
    };
    let model = phi3::models::phi3::build::<B>(&one_layer, device)?;
    let hidden = model
        .model
        .forward(model.input_ids(&[450, 7483, 310, 3444, 338])?)?;
    println!("hidden states: {:?}", hidden.dims());
    println!("logits:        {:?}", model.logits(hidden).dims());
    // ANCHOR_END: phi3-mini
    Ok(())
}

fn pipeline<B: Backend>(args: &Args, device: B::Device) -> Result<(), Phi3Error> {
    // ANCHOR: pipeline
    let options = LoadOptions::new(device).dtype(DType::F32);
    let pipe = TextGenerationPipeline::<B>::load(&args.model, &options)?;
    let config = GenerationConfig {
        max_new_tokens: 50,
        return_full_text: false,
        ..Default::default() // do_sample: false (greedy)
    };
    let prompt = "Write an email apologizing to Sarah for the tragic gardening mishap. \
                  Explain how it happened.";
    let out = pipe.generate(prompt, &config)?;
    println!("{}", out.text);
    println!(
        "[{} new tokens, stop: {:?}]",
        out.new_ids.len(),
        out.stop_reason
    );
    // ANCHOR_END: pipeline
    println!(
        "[{:.1} tokens/s decoding]",
        out.timings.decode_tokens_per_s()
    );
    Ok(())
}

fn token_by_token<B: Backend>(
    model: &Phi3ForCausalLM<B>,
    tokenizer: &Tokenizer,
) -> Result<Vec<u32>, Phi3Error> {
    // ANCHOR: token-by-token
    let mut ids = tokenizer.encode(PROMPT, true)?;
    for step in 0..8 {
        // The whole sequence in, the last position's scores out, the best token appended.
        let logits = model.forward(model.input_ids(&ids)?)?;
        let last = logits.narrow(1, ids.len() - 1, 1).argmax(2);
        let next = last
            .into_data()
            .convert::<i64>()
            .to_vec::<i64>()
            .expect("ids")[0] as u32;
        ids.push(next);
        let text = tokenizer.decode(&[next], false)?;
        println!(
            "step {step}: sequence of {:>2} tokens → {next:>5} {text:?}",
            ids.len() - 1
        );
    }
    // ANCHOR_END: token-by-token
    Ok(ids)
}

fn kv_cache<B: Backend>(
    model: &Phi3ForCausalLM<B>,
    tokenizer: &Tokenizer,
) -> Result<(), Phi3Error> {
    let ids = tokenizer.encode(PROMPT, true)?;
    // ANCHOR: kv-cache
    let mut runs = Vec::new();
    for use_cache in [true, false] {
        let config = GenerationConfig {
            max_new_tokens: 64,
            use_cache,
            eos_token_ids: Some(vec![]), // always 64 tokens
            ..Default::default()
        };
        let t = Instant::now();
        let (out, _) = model.generate(&ids, &config, &mut |_, _| Control::Continue)?;
        let seconds = t.elapsed().as_secs_f64();
        println!("use_cache={use_cache:<5}: 64 new tokens in {seconds:.2} s");
        runs.push((out.new_ids, seconds));
    }
    println!("same tokens: {}", runs[0].0 == runs[1].0);
    // ANCHOR_END: kv-cache
    println!("speed-up with the cache: {:.1}×", runs[1].1 / runs[0].1);
    Ok(())
}

fn context_limit<B: Backend>(
    model: &Phi3ForCausalLM<B>,
    tokenizer: &Tokenizer,
) -> Result<(), Phi3Error> {
    // ANCHOR: context-limit
    let context = model.config.max_position_embeddings;
    let ids = tokenizer.encode(PROMPT, true)?;
    let config = GenerationConfig {
        max_new_tokens: context, // prompt + new tokens would pass the context
        ..Default::default()
    };
    match model.generate(&ids, &config, &mut |_, _| Control::Continue) {
        Err(e) => println!("context {context}: {e}"),
        Ok(_) => println!("context {context}: accepted?"),
    }
    // ANCHOR_END: context-limit
    Ok(())
}

fn attention_variants(args: &Args) -> Result<(), Phi3Error> {
    // ANCHOR: attention-variants
    let c = Phi3Config::from_file(&args.phi3_config)?;
    let (layers, heads) = (c.num_hidden_layers, c.num_attention_heads);
    println!("Phi-3-mini's widths, {heads} query heads, f32 keys and values:");
    for (name, kv_heads) in [("MHA", heads), ("GQA-8", 8), ("MQA", 1)] {
        let shape = AttentionShape::new(c.hidden_size, heads, kv_heads)?;
        let qkv_params = shape.qkv_rows() * c.hidden_size;
        // Keys and values, every layer, 4 bytes each.
        let per_token = 2 * layers * kv_heads * shape.head_dim * 4;
        println!(
            "{name:<6} {kv_heads:>2} kv heads: qkv_proj {:>10} parameters per layer, \
             KV cache {:>7} B per token, {:>6.2} GB at 4096 tokens",
            thousands(qkv_params),
            thousands(per_token),
            (per_token * 4096) as f64 / 1e9
        );
    }
    // ANCHOR_END: attention-variants
    Ok(())
}

fn masks() -> Vec<(&'static str, &'static str, Box<dyn AttentionMask>)> {
    // ANCHOR: masks
    let masks: Vec<(&str, &str, Box<dyn AttentionMask>)> = vec![
        ("causal", "Causal", Box::new(Causal)),
        (
            "sliding_window",
            "Sliding window (4)",
            Box::new(SlidingWindow { window: 4 }),
        ),
        (
            "strided",
            "Strided sparse (4)",
            Box::new(StridedSparse { stride: 4 }),
        ),
        (
            "fixed",
            "Fixed sparse (4, 1)",
            Box::new(FixedSparse {
                block: 4,
                summary: 1,
            }),
        ),
        (
            "longformer",
            "Longformer: window 3 + global 0",
            Box::new(LocalGlobal {
                window: 3,
                global: vec![0],
            }),
        ),
    ];
    for (_, _, mask) in &masks {
        let visible: usize = (0..12)
            .map(|q| (0..12).filter(|&k| mask.visible(q, k)).count())
            .sum();
        println!(
            "{}: {visible} of 144 query-key pairs\n{}",
            mask.name(),
            mask.grid(12)
        );
    }
    // ANCHOR_END: masks
    masks
}

fn norms<B: Backend>(device: &B::Device) -> Result<(), Phi3Error> {
    // ANCHOR: norms
    let x = Tensor::<B, 1>::from_floats([1.0, 2.0, 3.0, 10.0], device);
    let rms = RmsNorm::<B>::init(4, 1e-6, device).forward(x.clone());
    let ln = LayerNorm::<B>::init(4, 1e-6, device).forward(x);
    let show = |t: Tensor<B, 1>| {
        let v: Vec<f32> = t.into_data().convert::<f32>().to_vec().expect("f32");
        v.iter()
            .map(|x| format!("{x:7.4}"))
            .collect::<Vec<_>>()
            .join(" ")
    };
    println!(
        "x:         {}",
        show(Tensor::from_floats([1.0, 2.0, 3.0, 10.0], device))
    );
    println!("RMSNorm:   {}  (x / rms(x): the mean stays)", show(rms));
    println!(
        "LayerNorm: {}  ((x - mean) / std: mean 0, variance 1)",
        show(ln)
    );

    // The same decoder wiring, two block layouts: Phi-3's pre-norm RMSNorm, and the original
    // Transformer's post-norm LayerNorm (normalise after each residual sum).
    let config = Phi3Config::from_json(
        r#"{"vocab_size": 100, "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1,
            "num_attention_heads": 4, "max_position_embeddings": 64}"#,
    )?;
    let post_norm = DecoderBuilder::new(config.clone())?
        .layout(BlockLayout::PostNorm)
        .build(
            device,
            |_, c| {
                phi3::attention::GroupedQueryAttention::<B>::mha(
                    c.hidden_size,
                    c.num_attention_heads,
                    device,
                )
            },
            |c| Mlp::relu(c.hidden_size, c.intermediate_size, device),
            |c| LayerNorm::<B>::init(c.hidden_size, 1e-5, device),
            SinusoidalPositions::new(64, 32, device),
        )?;
    println!("{post_norm}");
    // ANCHOR_END: norms
    Ok(())
}

fn positions<B: Backend>(device: &B::Device) {
    // ANCHOR: positions
    // One query and one key vector (a head of 8), placed at positions m and n.
    B::seed(device, 7);
    let q = Tensor::<B, 4>::random([1, 1, 1, 8], Distribution::Normal(0.0, 1.0), device);
    let k = Tensor::<B, 4>::random([1, 1, 1, 8], Distribution::Normal(0.0, 1.0), device);
    let rope = RotaryEmbeddingConfig::new(8, 8, 64).init::<B>(device);
    let sinusoidal = SinusoidalPositions::<B>::new(64, 8, device);
    let score = |a: Tensor<B, 4>, b: Tensor<B, 4>| -> f32 {
        (a * b)
            .sum()
            .into_data()
            .convert::<f32>()
            .to_vec()
            .expect("f32")[0]
    };
    println!("  m   n   m-n   RoPE q·k   absolute (q+p_m)·(k+p_n)");
    for (m, n) in [(0, 0), (9, 9), (30, 30), (3, 0), (12, 9), (33, 30)] {
        let at = |p: usize| Positions::new(1, p, 1);
        let rot = |x: Tensor<B, 4>, p| {
            rope.rotation(&at(p), device)
                .expect("RoPE rotates")
                .rotate(x)
        };
        let added = |x: Tensor<B, 4>, p| {
            sinusoidal
                .embed(x.reshape([1, 1, 8]), &at(p))
                .reshape([1, 1, 1, 8])
        };
        let rope_score = score(rot(q.clone(), m), rot(k.clone(), n));
        let abs_score = score(added(q.clone(), m), added(k.clone(), n));
        println!(
            "{m:>3} {n:>3} {:>5}   {rope_score:>8.4}   {abs_score:>8.4}",
            m - n
        );
    }
    // ANCHOR_END: positions
}

/// The pictures' inputs: each mask's grid, and the decode loop's tokens.
fn write_pictures(
    dir: &std::path::Path,
    masks: &[(&str, &str, Box<dyn AttentionMask>)],
    tokenizer: &Tokenizer,
    prompt_ids: &[u32],
    steps: &[u32],
) -> Result<(), Phi3Error> {
    let len = 16;
    let masks: Vec<_> = masks
        .iter()
        .map(|(name, title, mask)| {
            let grid: Vec<Vec<u8>> = (0..len)
                .map(|q| (0..len).map(|k| mask.visible(q, k) as u8).collect())
                .collect();
            json!({"name": name, "title": title, "grid": grid})
        })
        .collect();
    let piece = |id: u32| tokenizer.decode(&[id], false);
    let prompt_tokens = prompt_ids
        .iter()
        .map(|&id| piece(id))
        .collect::<Result<Vec<_>, _>>()?;
    let steps = steps[..6]
        .iter()
        .map(|&id| Ok(json!({"id": id, "text": piece(id)?})))
        .collect::<Result<Vec<_>, Phi3Error>>()?;
    let io = |path: &std::path::Path, e: std::io::Error| Phi3Error::InvalidOption {
        option: "pictures",
        message: format!("{}: {e}", path.display()),
    };
    std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
    let decode = json!({"prompt": PROMPT, "prompt_tokens": prompt_tokens, "steps": steps});
    for (name, value) in [
        ("masks.json", json!({"len": len, "masks": masks})),
        ("decode.json", decode),
    ] {
        let path = dir.join(name);
        std::fs::write(&path, value.to_string()).map_err(|e| io(&path, e))?;
    }
    Ok(())
}

fn dispatch(args: Args) -> Result<(), Phi3Error> {
    let device: common::Device = args.backend.device.parse()?;
    on_device!(device, run(args))
}

fn main() -> ExitCode {
    common::exit(dispatch(Args::parse()))
}
