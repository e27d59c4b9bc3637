//! What the integration tests share: fixture paths, the oracles' `expected.json`, loading.
// Each test file is its own crate and uses part of this module.
#![allow(dead_code)]

use std::path::PathBuf;

use phi3::device::{Cpu, cpu};
use phi3::prelude::*;
use serde::Deserialize;

/// `tests/fixtures/{name}`.
pub fn fixture(name: &str) -> PathBuf {
    // Read when the test runs, not when it is built: a binary reused from another checkout
    // sharing the target directory must not read that checkout's fixtures.
    PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("run by cargo test"))
        .join("tests/fixtures")
        .join(name)
}

/// A scratch copy of a fixture directory.
pub fn copy_fixture(name: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(fixture(name)).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, dir.path().join(path.file_name().unwrap())).unwrap();
    }
    dir
}

/// A checkpoint directory (or `.gguf` file) loaded on the CPU.
pub fn load_dir(dir: &std::path::Path) -> Result<Phi3ForCausalLM<Cpu>, phi3::Phi3Error> {
    Pretrained::open(dir)?.load(&LoadOptions::new(cpu()))
}

/// One prompt the oracle ran.
#[derive(Deserialize)]
pub struct Case {
    /// The prompt.
    pub input_ids: Vec<u32>,
    /// Logits at every position.
    pub logits: Vec<Vec<f32>>,
    /// Argmax at every position.
    pub argmax: Vec<u32>,
    /// The final-norm hidden state at the last position (Phi-3 fixtures).
    #[serde(default)]
    pub last_hidden: Vec<f32>,
}

/// The oracle's greedy continuation.
#[derive(Deserialize)]
pub struct Greedy {
    /// The prompt.
    pub input_ids: Vec<u32>,
    /// The tokens it chose.
    pub new_ids: Vec<u32>,
}

/// A fixture's `expected.json` (tools/reference/make_fixtures.py, make_parts_fixtures.py).
#[derive(Deserialize)]
pub struct Expected {
    /// The checkpoint's dtype (Phi-3 fixtures).
    #[serde(default)]
    pub stored_dtype: String,
    /// Prompts and their logits.
    pub cases: Vec<Case>,
    /// A greedy continuation.
    pub greedy: Greedy,
}

/// `tests/fixtures/{name}/expected.json`.
pub fn expected(name: &str) -> Expected {
    let text = std::fs::read_to_string(fixture(name).join("expected.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// A Phi-3 / Llama fixture with f32 weights on the CPU.
pub fn load(name: &str) -> Phi3ForCausalLM<Cpu> {
    Pretrained::open(fixture(name))
        .unwrap()
        .load(&LoadOptions::new(cpu()))
        .unwrap()
}

/// Largest |a − b|.
pub fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// The logits at every position of `ids`, row after row.
pub fn all_logits(model: &Phi3ForCausalLM<Cpu>, ids: &[u32]) -> Vec<f32> {
    model
        .forward(model.input_ids(ids).unwrap())
        .unwrap()
        .into_data()
        .to_vec()
        .unwrap()
}

/// `n` greedy tokens after `prompt`, with the KV cache and no stop tokens (as the oracles
/// recorded them).
pub fn greedy(model: &Phi3ForCausalLM<Cpu>, prompt: &[u32], n: usize) -> Vec<u32> {
    let config = GenerationConfig {
        max_new_tokens: n,
        eos_token_ids: Some(vec![]),
        ..Default::default()
    };
    model
        .generate(prompt, &config, &mut |_, _| Control::Continue)
        .unwrap()
        .0
        .new_ids
}
