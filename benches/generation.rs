//! Prefill and decode of a whole model, in llama-bench's terms: `pp128` (one forward over a
//! 128-token prompt) and `tg16` (16 cached decode steps), at f32 and f16 weights.
//!
//! Uses SmolLM2-135M-Instruct (`tools/fetch-smollm2.sh`, or `PHI3_SMOLLM2_GGUF`); without it, a
//! random-weight model of the same shape. For tokens/s tables use `examples/bench` and
//! `tools/compare/run.sh`; this is the criterion view of the same loops.
//!
//! `cargo bench --bench generation`

use std::hint::black_box;
use std::path::PathBuf;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use phi3::burn::tensor::{DType, Int, Tensor, TensorData};
use phi3::device::{Cpu, cpu};
use phi3::prelude::*;
use phi3::{Phi3Config, Positions};

const SMOLLM2_SHAPE: &str = r#"{"vocab_size": 49152, "hidden_size": 576, "intermediate_size": 1536,
    "num_hidden_layers": 30, "num_attention_heads": 9, "num_key_value_heads": 3,
    "max_position_embeddings": 8192, "rope_theta": 100000.0, "tie_word_embeddings": true,
    "model_type": "llama"}"#;

fn model(dtype: DType) -> (String, Phi3ForCausalLM<Cpu>) {
    let path = std::env::var_os("PHI3_SMOLLM2_GGUF")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_default())
                .join(".cache/phi3/models/SmolLM2-135M-Instruct.Q4_1.gguf")
        });
    if path.is_file() {
        return (
            "SmolLM2".into(),
            Pretrained::open(&path)
                .and_then(|p| p.load(&LoadOptions::new(cpu()).dtype(dtype)))
                .expect("load SmolLM2"),
        );
    }
    let config = Phi3Config::from_json(SMOLLM2_SHAPE).expect("config");
    (
        "random SmolLM2-shaped".into(),
        phi3::models::phi3::build(&config, &cpu()).expect("build"),
    )
}

fn ids(n: usize) -> Tensor<Cpu, 2, Int> {
    let data: Vec<i64> = (0..n as i64).map(|i| (i * 7919 + 11) % 49152).collect();
    Tensor::from_data(TensorData::new(data, [1, n]), &cpu())
}

fn generation(c: &mut Criterion) {
    for (label, dtype) in [("f32", DType::F32), ("f16", DType::F16)] {
        let (name, model) = model(dtype);
        let mut group = c.benchmark_group(format!("{name} {label}"));
        group
            .sample_size(10)
            .measurement_time(Duration::from_secs(5));
        group.bench_function("pp128", |b| {
            b.iter(|| {
                let mut cache = model.new_cache(129);
                let hidden = model
                    .model
                    .forward_with(ids(128), &Positions::new(1, 0, 128), Some(&mut cache))
                    .unwrap();
                black_box(model.logits(hidden.narrow(1, 127, 1)).into_data())
            })
        });
        group.bench_function("tg16", |b| {
            b.iter(|| {
                let mut cache = model.new_cache(17);
                for step in 0..16 {
                    let hidden = model
                        .model
                        .forward_with(ids(1), &Positions::new(1, step, 1), Some(&mut cache))
                        .unwrap();
                    black_box(model.logits(hidden).into_data());
                }
            })
        });
        group.finish();
    }
}

criterion_group!(benches, generation);
criterion_main!(benches);
