//! Generation: cached decode equals the uncached forward and transformers' greedy continuation;
//! batches equal single prompts; the pipeline streams text and honours stop strings.

mod common;

use common::{expected, fixture, load};
use phi3::device::{Cpu, cpu};
use phi3::prelude::*;
use phi3::sampling::{self, Sampler, SamplerConfig, SamplingError};
use phi3::tokenizer::Tokenizer;
use phi3::{Phi3Config, StopReason};

fn greedy(max_new_tokens: usize, use_cache: bool) -> GenerationConfig {
    GenerationConfig {
        max_new_tokens,
        use_cache,
        // transformers recorded the continuation without stop tokens.
        eos_token_ids: Some(vec![]),
        ..Default::default()
    }
}

fn continue_(_: usize, _: u32) -> Control {
    Control::Continue
}

fn check_greedy(name: &str) {
    let model = load(name);
    let expected = expected(name);
    let n = expected.greedy.new_ids.len();
    let prompt = &expected.greedy.input_ids;
    let (cached, _) = model
        .generate(prompt, &greedy(n, true), &mut continue_)
        .unwrap();
    let (uncached, _) = model
        .generate(prompt, &greedy(n, false), &mut continue_)
        .unwrap();
    assert_eq!(cached.new_ids, uncached.new_ids, "{name}: cache on vs off");
    assert_eq!(
        cached.new_ids, expected.greedy.new_ids,
        "{name}: transformers' greedy continuation"
    );
    assert_eq!(cached.stop_reason, StopReason::MaxNewTokens);
}

macro_rules! greedy_tests {
    ($($name:ident),* $(,)?) => {$(
        #[test]
        fn $name() {
            check_greedy(stringify!($name));
        }
    )*};
}

// sliding_window: window 5, prompt 10 + 20 new tokens. longrope: prompt 12 + 12 new tokens
// crosses original_max_position_embeddings = 16, where the cache is rebuilt with long factors.
greedy_tests!(
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

#[test]
fn batch_of_three_prompts_equals_each_alone() {
    for name in ["gqa", "sliding_window"] {
        let model = load(name);
        let prompts: Vec<Vec<u32>> = vec![
            vec![17, 99, 5, 42, 7, 8, 200, 31, 64, 12, 77],
            vec![3, 150],
            vec![250, 19, 4, 88, 61, 23],
        ];
        for use_cache in [true, false] {
            let config = greedy(12, use_cache);
            let (batch, _) = model
                .generate_batch(&prompts, &config, &mut continue_)
                .unwrap();
            for (prompt, got) in prompts.iter().zip(&batch) {
                let (alone, _) = model.generate(prompt, &config, &mut continue_).unwrap();
                assert_eq!(
                    got.new_ids, alone.new_ids,
                    "{name}, cache {use_cache}, prompt {prompt:?}"
                );
            }
        }
    }
}

#[test]
fn stop_tokens_end_a_row_and_are_included() {
    let model = load("gqa");
    let expected = expected("gqa");
    let stop = expected.greedy.new_ids[4];
    let first = expected
        .greedy
        .new_ids
        .iter()
        .position(|&t| t == stop)
        .unwrap();
    let config = GenerationConfig {
        eos_token_ids: Some(vec![stop]),
        ..greedy(20, true)
    };
    let (out, _) = model
        .generate(&expected.greedy.input_ids, &config, &mut continue_)
        .unwrap();
    assert_eq!(out.new_ids, expected.greedy.new_ids[..=first]);
    assert_eq!(out.stop_reason, StopReason::EosToken(stop));
}

#[test]
fn prompt_plus_new_tokens_beyond_context_fails_before_compute() {
    let model = load("mha"); // max_position_embeddings 128
    let prompt = vec![5u32; 100];
    let err = model
        .generate(&prompt, &greedy(29, true), &mut continue_)
        .unwrap_err();
    assert!(
        matches!(
            err,
            Phi3Error::PromptTooLong {
                prompt_tokens: 100,
                max_new_tokens: 29,
                context: 128
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("100") && err.to_string().contains("29"));
    assert!(
        model
            .generate(&prompt, &greedy(28, true), &mut continue_)
            .is_ok()
    );
}

#[test]
fn seeded_sampling_reproduces_and_invalid_settings_fail() {
    let model = load("gqa");
    let sampling = SamplerConfig {
        do_sample: true,
        temperature: 1.5,
        top_k: Some(50),
        top_p: Some(0.95),
        seed: 7,
        ..Default::default()
    };
    let config = GenerationConfig {
        sampling: sampling.clone(),
        ..greedy(15, true)
    };
    let (a, _) = model.generate(&[5, 6, 7], &config, &mut continue_).unwrap();
    let (b, _) = model.generate(&[5, 6, 7], &config, &mut continue_).unwrap();
    let (c, _) = model
        .generate(
            &[5, 6, 7],
            &GenerationConfig {
                sampling: SamplerConfig {
                    seed: 8,
                    ..sampling.clone()
                },
                ..config.clone()
            },
            &mut continue_,
        )
        .unwrap();
    assert_eq!(a.new_ids, b.new_ids);
    assert_ne!(a.new_ids, c.new_ids);
    let bad = GenerationConfig {
        sampling: SamplerConfig {
            temperature: -1.0,
            ..sampling
        },
        ..config
    };
    assert!(matches!(
        model.generate(&[5], &bad, &mut continue_),
        Err(Phi3Error::Sampling(SamplingError::InvalidSetting {
            parameter: "temperature",
            ..
        }))
    ));
}

/// A small random model over the full Phi-3 vocabulary, for the text pipeline.
fn random_pipeline() -> TextGenerationPipeline<Cpu> {
    let json = r#"{"vocab_size": 32064, "hidden_size": 32, "intermediate_size": 64,
        "num_hidden_layers": 2, "num_attention_heads": 4, "max_position_embeddings": 256,
        "eos_token_id": [32000, 32007], "pad_token_id": 32000}"#;
    let config = Phi3Config::from_json(json).unwrap();
    let device = cpu();
    <Cpu as phi3::burn::tensor::backend::Backend>::seed(&device, 42);
    let model = phi3::models::phi3::build::<Cpu>(&config, &device).unwrap();
    let tokenizer = Tokenizer::from_dir(fixture("tokenizer")).unwrap();
    TextGenerationPipeline::new(model, tokenizer)
}

#[test]
fn pipeline_streams_text_and_returns_full_or_new_text() {
    let pipe = random_pipeline();
    let prompt = "The capital of France is";
    let config = GenerationConfig {
        return_full_text: false,
        ..greedy(12, true)
    };
    let mut streamed = String::new();
    let out = pipe
        .generate_stream(prompt, &config, &mut |t| {
            streamed.push_str(t);
            Ok(())
        })
        .unwrap();
    assert_eq!(out.prompt_ids, vec![450, 7483, 310, 3444, 338]);
    assert_eq!(out.new_ids.len(), 12);
    assert_eq!(out.text, pipe.tokenizer.decode(&out.new_ids, true).unwrap());
    assert_eq!(streamed, out.text);
    let full = pipe
        .generate(
            prompt,
            &GenerationConfig {
                return_full_text: true,
                ..config
            },
        )
        .unwrap();
    assert_eq!(full.text, format!("{prompt}{}", out.text));
    assert!(out.timings.prefill_tokens_per_s() > 0.0 && out.timings.decode_tokens_per_s() > 0.0);
}

#[test]
fn pipeline_stops_at_stop_strings() {
    let pipe = random_pipeline();
    let config = GenerationConfig {
        return_full_text: false,
        ..greedy(16, true)
    };
    let free = pipe.generate("Hello", &config).unwrap();
    // A stop string taken from the middle of the free run's text.
    let chars: Vec<char> = free.text.chars().collect();
    let stop: String = chars[chars.len() / 2..chars.len() / 2 + 2].iter().collect();
    let stopped = pipe
        .generate(
            "Hello",
            &GenerationConfig {
                stop_strings: vec![stop.clone()],
                ..config
            },
        )
        .unwrap();
    assert_eq!(stopped.stop_reason, StopReason::StopString(stop.clone()));
    assert!(stopped.text.contains(&stop) && stopped.new_ids.len() < free.new_ids.len());
    assert_eq!(stopped.new_ids, free.new_ids[..stopped.new_ids.len()]);
}

#[test]
fn pipeline_batch_equals_single_prompts() {
    let pipe = random_pipeline();
    let prompts = [
        "The capital of France is",
        "Hi",
        "Write an email apologizing to Sarah",
    ];
    let config = GenerationConfig {
        return_full_text: false,
        ..greedy(8, true)
    };
    let batch = pipe.generate_batch(&prompts, &config).unwrap();
    for (prompt, got) in prompts.iter().zip(&batch) {
        let alone = pipe.generate(prompt, &config).unwrap();
        assert_eq!(got.new_ids, alone.new_ids, "{prompt}");
        assert_eq!(got.text, alone.text);
    }
}

/// A user's sampler: greedy over the even token ids only, counting its calls.
struct EvenOnly {
    calls: usize,
}

impl Sampler for EvenOnly {
    fn sample(&mut self, logits: &[f32], _history: &[u32]) -> Result<u32, SamplingError> {
        self.calls += 1;
        let even: Vec<f32> = logits
            .iter()
            .enumerate()
            .map(|(i, &x)| if i % 2 == 0 { x } else { f32::NEG_INFINITY })
            .collect();
        sampling::Greedy::default().sample(&even, &[])
    }
}

#[test]
fn a_user_sampler_chooses_every_token() {
    let model = load("gqa");
    let config = greedy(10, true);
    let mut sampler = EvenOnly { calls: 0 };
    let (out, _) = model
        .generate_with(&[5, 6, 7], &config, &mut sampler, &mut continue_)
        .unwrap();
    assert_eq!(sampler.calls, 10);
    assert!(
        out.new_ids.iter().all(|id| id % 2 == 0),
        "{:?}",
        out.new_ids
    );
    // The free greedy run picks odd ids too, so the sampler really decided.
    let (free, _) = model.generate(&[5, 6, 7], &config, &mut continue_).unwrap();
    assert!(
        free.new_ids.iter().any(|id| id % 2 == 1),
        "{:?}",
        free.new_ids
    );

    // The pipeline takes one too, one per prompt.
    let pipe = random_pipeline().with_sampler(|| Box::new(EvenOnly { calls: 0 }));
    let out = pipe
        .generate_batch(&["Hi", "The capital of France is"], &config)
        .unwrap();
    assert!(out.iter().all(|o| o.new_ids.iter().all(|id| id % 2 == 0)));
}

#[test]
fn a_failing_text_callback_stops_the_pipeline_with_its_error() {
    let pipe = random_pipeline();
    let mut pieces = 0;
    let err = pipe
        .generate_stream("Hello", &greedy(16, true), &mut |_| {
            pieces += 1;
            Err(Phi3Error::InvalidOption {
                option: "client",
                message: "went away".into(),
            })
        })
        .unwrap_err();
    assert!(
        matches!(
            err,
            Phi3Error::InvalidOption {
                option: "client",
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(pieces, 1, "no text is produced after the callback fails");
}

/// Greedy decoding with a repetition penalty (> 1 and < 1) equals transformers' greedy
/// `generate(repetition_penalty=...)` (tools/reference/make_repetition_fixture.py): the penalty
/// covers the prompt and the generated tokens, as transformers' processor does.
#[test]
fn repetition_penalty_matches_transformers_greedy() {
    #[derive(serde::Deserialize)]
    struct Fixture {
        input_ids: Vec<u32>,
        new_ids: std::collections::BTreeMap<String, Vec<u32>>,
    }
    let fixture: Fixture = serde_json::from_str(
        &std::fs::read_to_string(fixture("gqa").join("repetition_penalty.json")).unwrap(),
    )
    .unwrap();
    let model = load("gqa");
    for (penalty, want) in &fixture.new_ids {
        let config = GenerationConfig {
            max_new_tokens: want.len(),
            eos_token_ids: Some(vec![]),
            sampling: SamplerConfig {
                repetition_penalty: Some(penalty.parse().unwrap()),
                ..Default::default()
            },
            ..Default::default()
        };
        let (out, _) = model
            .generate(&fixture.input_ids, &config, &mut |_, _| Control::Continue)
            .unwrap();
        assert_eq!(&out.new_ids, want, "repetition_penalty {penalty}");
    }
}
