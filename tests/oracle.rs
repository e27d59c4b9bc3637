//! The decoder against transformers' Phi3ForCausalLM: every committed fixture, every position.
//! Fixtures are made by tools/reference/make_fixtures.py.

use std::path::PathBuf;

use phi3::attention::AttentionKernel;
use phi3::burn::tensor::Tensor;
use phi3::device::{Cpu, cpu};
use phi3::prelude::*;
use serde::Deserialize;

#[derive(Deserialize)]
struct Case {
    input_ids: Vec<u32>,
    logits: Vec<Vec<f32>>,
    argmax: Vec<u32>,
    last_hidden: Vec<f32>,
}

#[derive(Deserialize)]
struct Expected {
    stored_dtype: String,
    cases: Vec<Case>,
}

/// Largest |Δ| allowed on logits and hidden states. The same bound holds for the bf16
/// checkpoint: its weights are upcast exactly to f32 at load, and the oracle computes in f32
/// from the same bf16 values.
const TOLERANCE: f32 = 1e-4;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn to_vec(t: Tensor<Cpu, 3>) -> Vec<f32> {
    t.into_data().to_vec::<f32>().unwrap()
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

fn check(name: &str, kernel: AttentionKernel) {
    let device = cpu();
    let dir = fixture(name);
    let expected: Expected =
        serde_json::from_str(&std::fs::read_to_string(dir.join("expected.json")).unwrap()).unwrap();
    let model = Pretrained::open(&dir)
        .unwrap()
        .load::<Cpu>(&LoadOptions::new(device))
        .unwrap()
        .map_attention(|a| a.with_kernel(kernel));
    let (vocab, hidden_size) = (model.config.vocab_size, model.config.hidden_size);
    for case in &expected.cases {
        let seq = case.input_ids.len();
        let ids = model.input_ids(&case.input_ids).unwrap();
        let hidden = model.model.forward(ids).unwrap();
        assert_eq!(hidden.dims(), [1, seq, hidden_size]);
        let last_hidden = to_vec(hidden.clone().narrow(1, seq - 1, 1));
        let logits = model.logits(hidden);
        assert_eq!(logits.dims(), [1, seq, vocab]);
        let got = to_vec(logits);

        let want: Vec<f32> = case.logits.concat();
        let diff = max_abs_diff(&got, &want);
        assert!(
            diff <= TOLERANCE,
            "{name} ({kernel:?}, {seq} tokens): logits max |Δ| = {diff:e}"
        );
        let hdiff = max_abs_diff(&last_hidden, &case.last_hidden);
        assert!(
            hdiff <= TOLERANCE,
            "{name}: last hidden max |Δ| = {hdiff:e}"
        );

        let argmax: Vec<u32> = got
            .chunks(vocab)
            .map(|row| phi3::sampling::argmax(row).unwrap())
            .collect();
        assert_eq!(
            argmax, case.argmax,
            "{name} ({kernel:?}): argmax per position"
        );
        eprintln!(
            "{name} [{}] {kernel:?} seq {seq}: logits max |Δ| {diff:.2e}, hidden {hdiff:.2e}",
            expected.stored_dtype
        );
    }
}

macro_rules! oracle_tests {
    ($($name:ident),* $(,)?) => {$(
        #[test]
        fn $name() {
            check(stringify!($name), AttentionKernel::Naive);
            check(stringify!($name), AttentionKernel::Tiled { block: 5 });
            check(stringify!($name), AttentionKernel::Fused);
        }
    )*};
}

oracle_tests!(
    mha,
    gqa,
    mqa,
    sliding_window,
    longrope,
    partial_rotary_tied,
    bf16,
    sharded,
    llama
);
