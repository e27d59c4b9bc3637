//! Long context at real lengths, on narrow models (tools/reference/make_long_fixtures.py):
//! a 4,000-token prompt through Phi-3-mini-4k's 2,047-token sliding window, and a Phi-3-mini-128k
//! configuration (published LongRoPE factors) whose greedy run crosses
//! `original_max_position_embeddings` (4,096) mid-generation. Logits and greedy tokens against
//! transformers, from safetensors and from GGUF, with the KV cache.

mod common;

use common::{fixture, greedy};
use phi3::device::{Cpu, cpu};
use phi3::prelude::*;
use serde::Deserialize;

#[derive(Deserialize)]
struct Expected {
    input_ids: Vec<u32>,
    positions: Vec<usize>,
    logits: Vec<Vec<f32>>,
    new_ids: Vec<u32>,
}

fn check(name: &str) {
    let expected: Expected = serde_json::from_str(
        &std::fs::read_to_string(fixture(&format!("{name}/expected.json"))).unwrap(),
    )
    .unwrap();
    for source in [fixture(name), fixture(&format!("gguf/{name}.gguf"))] {
        let model = Pretrained::open(&source)
            .unwrap()
            .load::<Cpu>(&LoadOptions::new(cpu()))
            .unwrap();
        let ids = &expected.input_ids;
        let logits = model.forward(model.input_ids(ids).unwrap()).unwrap();
        let vocab = logits.dims()[2];
        let all: Vec<f32> = logits.into_data().to_vec().unwrap();
        let mut worst = 0f32;
        for (&p, want) in expected.positions.iter().zip(&expected.logits) {
            let got = &all[p * vocab..(p + 1) * vocab];
            let diff = got
                .iter()
                .zip(want)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0, f32::max);
            worst = worst.max(diff);
        }
        eprintln!(
            "{name} from {}: logits max |Δ| {worst:.2e}",
            source.display()
        );
        assert!(
            worst <= 1e-4,
            "{name} ({}): logits max |Δ| {worst:e}",
            source.display()
        );

        let new_ids = greedy(&model, ids, expected.new_ids.len());
        assert_eq!(new_ids, expected.new_ids, "{name} ({})", source.display());
    }
}

/// 4,000 tokens, window 2,047: every query past the window sees only its last 2,047 keys, in the
/// prefill and in each cached step (the cache is a ring buffer of the window).
#[test]
fn four_thousand_tokens_through_the_2047_window() {
    check("long_window");
}

/// A 4,090-token prompt: the 7th new token crosses 4,096, where LongRoPE switches from the short
/// to the long factors and the cached keys (rotated with the short ones) are recomputed, as
/// transformers does.
#[test]
fn longrope_generation_crosses_4096() {
    check("long_rope");
}
