//! One model shared by threads, as a server shares it: the types are `Send + Sync`, generation
//! takes `&self`, four threads generating at once get exactly the tokens each gets alone, and a
//! generation stopped early or failed leaves the model as it was.

mod common;

use phi3::StopReason;
use phi3::prelude::*;
use phi3::sampling::SamplerConfig;

fn send_sync<T: Send + Sync>() {}

#[test]
fn shared_types_are_send_and_sync() {
    send_sync::<Phi3ForCausalLM<phi3::device::Cpu>>();
    send_sync::<Pretrained>();
    send_sync::<phi3::tokenizer::Tokenizer>();
    send_sync::<GenerationConfig>();
}

/// Each thread's prompt and settings: greedy and seeded sampling.
fn settings(i: usize) -> (Vec<u32>, GenerationConfig) {
    let prompt: Vec<u32> = (0..3 + i as u32)
        .map(|t| (t * 37 + i as u32 * 11) % 256)
        .collect();
    let sampling = match i % 2 {
        0 => SamplerConfig::default(),
        _ => SamplerConfig {
            do_sample: true,
            temperature: 0.9,
            top_k: Some(20),
            seed: i as u64,
            ..Default::default()
        },
    };
    let config = GenerationConfig {
        max_new_tokens: 12,
        eos_token_ids: Some(vec![]),
        sampling,
        ..Default::default()
    };
    (prompt, config)
}

fn generate(model: &Phi3ForCausalLM<phi3::device::Cpu>, i: usize) -> Vec<u32> {
    let (prompt, config) = settings(i);
    model
        .generate(&prompt, &config, &mut |_, _| Control::Continue)
        .unwrap()
        .0
        .new_ids
}

#[test]
fn four_threads_sharing_one_model_get_what_each_gets_alone() {
    let model = common::load("gqa");
    let alone: Vec<Vec<u32>> = (0..4).map(|i| generate(&model, i)).collect();
    for round in 0..3 {
        let together: Vec<Vec<u32>> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..4)
                .map(|i| {
                    let model = &model;
                    s.spawn(move || generate(model, i))
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert_eq!(together, alone, "round {round}");
    }
}

#[test]
fn a_stopped_or_failed_generation_leaves_the_model_usable() {
    let model = common::load("gqa");
    let before = generate(&model, 0);
    // Stopped by the caller after two tokens.
    let (prompt, config) = settings(0);
    let mut seen = 0;
    let (out, _) = model
        .generate(&prompt, &config, &mut |_, _| {
            seen += 1;
            match seen {
                2 => Control::Stop(StopReason::StopString("enough".into())),
                _ => Control::Continue,
            }
        })
        .unwrap();
    assert_eq!(out.new_ids, before[..2]);
    // Failed: an id outside the vocabulary.
    assert!(
        model
            .generate(&[1, 9999], &config, &mut |_, _| Control::Continue)
            .is_err()
    );
    assert_eq!(generate(&model, 0), before);
}
