//! The decoder against transformers' Phi3ForCausalLM: every committed fixture, every position.
//! Fixtures are made by tools/reference/make_fixtures.py.

mod common;

use common::{expected, fixture, max_abs_diff};
use phi3::attention::AttentionKernel;
use phi3::burn::tensor::Tensor;
use phi3::device::{Cpu, cpu};
use phi3::prelude::*;

/// Largest |Δ| allowed on logits and hidden states. The same bound holds for the bf16
/// checkpoint: its weights are upcast exactly to f32 at load, and the oracle computes in f32
/// from the same bf16 values.
const TOLERANCE: f32 = 1e-4;

fn to_vec(t: Tensor<Cpu, 3>) -> Vec<f32> {
    t.into_data().to_vec::<f32>().unwrap()
}

fn check(name: &str, kernel: AttentionKernel) {
    let device = cpu();
    let dir = fixture(name);
    let expected = expected(name);
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
            check(stringify!($name), AttentionKernel::Cpu { queries: 3, keys: 4 });
            check(stringify!($name), AttentionKernel::Auto);
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
