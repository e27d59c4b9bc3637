//! Generation defaults from the checkpoint: Phi-3-mini-4k-instruct's published
//! `generation_config.json` lists `<|end|>` (32007) among its stop tokens where its `config.json`
//! has only 32000, and its published `tokenizer_config.json` adds Phi-3's special tokens and chat
//! template over the Llama-2 vocabulary. A chat turn must end at `<|end|>` with no user setting.

mod common;

use std::fs;
use std::path::Path;

use common::fixture;
use phi3::burn::tensor::{Tensor, TensorData};
use phi3::device::{Cpu, cpu};
use phi3::prelude::*;
use phi3::tokenizer::ChatMessage;
use phi3::{Linear, StopReason, TextGenerationPipeline};
use safetensors::Dtype;
use safetensors::tensor::TensorView;

const VOCAB: usize = 32064;
const HIDDEN: usize = 16;
const END: u32 = 32007;

/// A one-layer Phi-3 with Phi-3-mini's vocabulary and special ids (`config.json` as published:
/// `eos_token_id` 32000 only), zero weights, the Llama-2 base vocabulary (`tokenizer.json` without
/// Phi-3's added tokens), and the published `tokenizer_config.json` (+ `generation_config.json`
/// when `with_generation_config`).
fn checkpoint(dir: &Path, with_generation_config: bool) {
    let config = serde_json::json!({
        "architectures": ["Phi3ForCausalLM"], "model_type": "phi3",
        "vocab_size": VOCAB, "hidden_size": HIDDEN, "intermediate_size": 32,
        "num_hidden_layers": 1, "num_attention_heads": 2, "num_key_value_heads": 2,
        "max_position_embeddings": 4096, "original_max_position_embeddings": 4096,
        "sliding_window": 2047, "rope_theta": 10000.0, "rms_norm_eps": 1e-5,
        "bos_token_id": 1, "eos_token_id": 32000, "pad_token_id": 32000,
        "tie_word_embeddings": false
    });
    fs::write(dir.join("config.json"), config.to_string()).unwrap();
    let mut tokenizer: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(fixture("tokenizer/tokenizer.json")).unwrap())
            .unwrap();
    tokenizer["added_tokens"]
        .as_array_mut()
        .unwrap()
        .retain(|t| t["id"].as_u64().unwrap() < 32000);
    fs::write(dir.join("tokenizer.json"), tokenizer.to_string()).unwrap();
    fs::copy(
        fixture("phi3_chat/tokenizer_config.json"),
        dir.join("tokenizer_config.json"),
    )
    .unwrap();
    if with_generation_config {
        fs::copy(
            fixture("phi3_chat/generation_config.json"),
            dir.join("generation_config.json"),
        )
        .unwrap();
    }
    let shapes: Vec<(String, Vec<usize>)> = vec![
        ("model.embed_tokens.weight".into(), vec![VOCAB, HIDDEN]),
        ("model.layers.0.input_layernorm.weight".into(), vec![HIDDEN]),
        (
            "model.layers.0.self_attn.qkv_proj.weight".into(),
            vec![3 * HIDDEN, HIDDEN],
        ),
        (
            "model.layers.0.self_attn.o_proj.weight".into(),
            vec![HIDDEN, HIDDEN],
        ),
        (
            "model.layers.0.post_attention_layernorm.weight".into(),
            vec![HIDDEN],
        ),
        (
            "model.layers.0.mlp.gate_up_proj.weight".into(),
            vec![64, HIDDEN],
        ),
        (
            "model.layers.0.mlp.down_proj.weight".into(),
            vec![HIDDEN, 32],
        ),
        ("model.norm.weight".into(), vec![HIDDEN]),
        ("lm_head.weight".into(), vec![VOCAB, HIDDEN]),
    ];
    let bytes: Vec<Vec<u8>> = shapes
        .iter()
        .map(|(_, s)| vec![0u8; 4 * s.iter().product::<usize>()])
        .collect();
    let views: Vec<(String, TensorView)> = shapes
        .iter()
        .zip(&bytes)
        .map(|((n, s), b)| {
            (
                n.clone(),
                TensorView::new(Dtype::F32, s.clone(), b).unwrap(),
            )
        })
        .collect();
    safetensors::serialize_to_file(views, None, &dir.join("model.safetensors")).unwrap();
}

/// The pipeline of `dir`, its head replaced by one whose logits are a constant bias with
/// `<|end|>` on top: the first generated token is `<|end|>`, whatever the prompt.
fn pipeline(dir: &Path) -> TextGenerationPipeline<Cpu> {
    let mut pipe = TextGenerationPipeline::<Cpu>::load(dir, &LoadOptions::new(cpu())).unwrap();
    let mut bias = vec![0f32; VOCAB];
    bias[END as usize] = 10.0;
    let device = cpu();
    pipe.model.lm_head = Linear::new(
        Tensor::zeros([HIDDEN, VOCAB], &device),
        Some(Tensor::from_data(TensorData::new(bias, [VOCAB]), &device)),
    );
    pipe
}

#[test]
fn chat_stops_at_end_from_the_published_generation_config() {
    let dir = tempfile::tempdir().unwrap();
    checkpoint(dir.path(), true);
    let pretrained = Pretrained::open(dir.path()).unwrap();
    assert_eq!(pretrained.config().eos_token_ids(), vec![32000, 32001, END]);
    let pipe = pipeline(dir.path());
    // The published template and added tokens over the Llama-2 base: `<|user|>` and `<|end|>`
    // are single tokens, the prompt ends with the assistant's tag.
    // transformers' prompt and ids for the same files (tools/reference/make_chat_fixture.py):
    // `rstrip` tokens swallow the newline after them.
    let expected: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(fixture("phi3_chat/expected.json")).unwrap())
            .unwrap();
    let messages = [ChatMessage::user("What is the capital of France?")];
    let prompt = pipe.tokenizer.apply_chat_template(&messages, true).unwrap();
    assert_eq!(prompt, expected["prompt"].as_str().unwrap());
    let ids = pipe.tokenizer.encode(&prompt, false).unwrap();
    let want: Vec<u32> = serde_json::from_value(expected["ids"].clone()).unwrap();
    assert_eq!(ids, want);

    let config = pipe.generation_config(); // nothing set by the user
    let out = pipe.chat(&messages, &config, &mut |_| Ok(())).unwrap();
    assert_eq!(out.stop_reason, StopReason::EosToken(END));
    assert_eq!(out.new_ids, vec![END]);
    // `return_full_text` (transformers' default): the prompt, and nothing printed for `<|end|>`.
    assert_eq!(out.text, prompt);
}

#[test]
fn without_the_generation_config_end_does_not_stop() {
    // The contrast: config.json alone names only 32000, so the same model runs to the limit.
    let dir = tempfile::tempdir().unwrap();
    checkpoint(dir.path(), false);
    let pipe = pipeline(dir.path());
    let config = GenerationConfig {
        max_new_tokens: 3,
        ..pipe.generation_config()
    };
    let messages = [ChatMessage::user("Hi")];
    let out = pipe.chat(&messages, &config, &mut |_| Ok(())).unwrap();
    assert_eq!(out.stop_reason, StopReason::MaxNewTokens);
    assert_eq!(out.new_ids, vec![END; 3]);
}
