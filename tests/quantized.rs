//! Weights in GGML blocks on the oracle fixtures: every checkpoint quantized at load to Q8_0, Q4_0
//! and Q4_1 (safetensors and GGUF, Phi-3 and Llama, tied and not), multiplied by phi3's kernels.
//!
//! Bounds, stated from what these tiny random models (2 layers, logits up to ±5, weights drawn
//! with σ = 0.15) measure: Q8_0 rounds each weight by at most `max|w|/254` of its block and moves
//! logits by at most 0.35 (bound 0.5); the 4-bit types (16 levels) by at most 2.4 (bound 3) — a
//! random model has no slack for 4 bits, which is why the real-model check is SmolLM2's answer
//! (tests/smollm2.rs). The kernels themselves are checked against dequantize-then-multiply within
//! the activation-quantisation bound (phi3-core's `quant` tests). Cached and uncached greedy
//! decoding agree token for token: one activation row gets the same numbers in a decode step
//! and in a full forward.

mod common;

use common::{expected, fixture, max_abs_diff};
use phi3::core::quant::GgmlType;
use phi3::device::{Cpu, cpu};
use phi3::prelude::*;

const CASES: [(GgmlType, f32); 3] = [
    (GgmlType::Q8_0, 0.5),
    (GgmlType::Q4_0, 3.0),
    (GgmlType::Q4_1, 3.0),
];

fn load(path: &str, ty: GgmlType) -> Phi3ForCausalLM<Cpu> {
    let options = LoadOptions::new(cpu()).quantized(ty);
    Pretrained::open(fixture(path))
        .unwrap()
        .load(&options)
        .unwrap()
}

#[test]
fn quantized_fixtures_stay_within_the_stated_bounds() {
    for (path, oracle) in [
        ("mha", "mha"),
        ("gqa", "gqa"),
        ("partial_rotary_tied", "partial_rotary_tied"),
        ("llama", "llama"),
        ("gguf/phi3-gqa.gguf", "gqa"),
        ("gguf/llama.gguf", "llama"),
    ] {
        let expected = expected(oracle);
        for (ty, bound) in CASES {
            let model = load(path, ty);
            assert!(
                model.model.layers[0].self_attn.qkv_proj.is_quantized(),
                "{path} {ty:?}"
            );
            assert!(model.lm_head.is_quantized(), "{path} {ty:?}");
            for case in &expected.cases {
                let logits = model
                    .forward(model.input_ids(&case.input_ids).unwrap())
                    .unwrap();
                let got: Vec<f32> = logits.into_data().to_vec().unwrap();
                let diff = max_abs_diff(&got, &case.logits.concat());
                eprintln!("{path} {ty:?}: logits max |Δ| {diff:.3e} (bound {bound:e})");
                assert!(
                    diff <= bound,
                    "{path} {ty:?}: logits max |Δ| {diff:e} > {bound:e}"
                );
            }
        }
    }
}

#[test]
fn quantized_decode_equals_the_uncached_forward() {
    for (path, ty) in [
        ("gqa", GgmlType::Q8_0),
        ("sliding_window", GgmlType::Q4_1),
        ("llama", GgmlType::Q4_0),
    ] {
        let model = load(path, ty);
        let prompt = expected(path).greedy.input_ids;
        let run = |use_cache| {
            let config = GenerationConfig {
                max_new_tokens: 16,
                use_cache,
                eos_token_ids: Some(vec![]),
                ..Default::default()
            };
            model
                .generate(&prompt, &config, &mut |_, _| Control::Continue)
                .unwrap()
                .0
                .new_ids
        };
        assert_eq!(run(true), run(false), "{path} {ty:?}");
    }
}
