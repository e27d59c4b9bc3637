//! The checks every GPU backend runs (tests/wgpu.rs on Mesa's lavapipe in CI, tests/cuda.rs on a
//! CUDA GPU): the oracle fixtures, every attention kernel and mask, cached = uncached generation,
//! and SmolLM2's "Paris". Tolerances as on the CPU: logits within 1e-4 of transformers.
#![allow(dead_code)]

use std::sync::Arc;

use crate::common::{expected, fixture, max_abs_diff};
use phi3::attention::{
    AttentionKernel, Causal, FixedSparse, LocalGlobal, MaskInput, SlidingWindow, StridedSparse,
    scaled_dot_product,
};
use phi3::burn::tensor::backend::Backend;
use phi3::burn::tensor::{Distribution, ElementConversion, Tensor};
use phi3::prelude::*;
use phi3::{AttentionMask, Positions};

fn load<B: Backend>(name: &str, device: &B::Device) -> Phi3ForCausalLM<B> {
    Pretrained::open(fixture(name))
        .unwrap()
        .load::<B>(&LoadOptions::new(device.clone()))
        .unwrap()
}

/// The oracle fixtures' logits within 1e-4 of transformers, naive-or-default and tiled kernels.
pub fn oracle_fixtures<B: Backend>(device: B::Device) {
    for name in [
        "gqa",
        "longrope",
        "partial_rotary_tied",
        "sliding_window",
        "llama",
    ] {
        let model = load::<B>(name, &device);
        for kernel in [AttentionKernel::Auto, AttentionKernel::Tiled { block: 5 }] {
            let model = model.clone().map_attention(|a| a.with_kernel(kernel));
            for case in &expected(name).cases {
                let got: Vec<f32> = model
                    .forward(model.input_ids(&case.input_ids).unwrap())
                    .unwrap()
                    .into_data()
                    .to_vec()
                    .unwrap();
                let diff = max_abs_diff(&got, &case.logits.concat());
                eprintln!(
                    "{} {name} {kernel:?}: logits max |Δ| {diff:.2e}",
                    B::name(&device)
                );
                assert!(diff <= 1e-4, "{name} {kernel:?}: {diff:e}");
            }
        }
    }
}

/// Every attention kernel equals the naive one under every mask.
pub fn kernels_and_masks<B: Backend>(device: B::Device) {
    let random = |shape: [usize; 4]| -> Tensor<B, 4> {
        Tensor::random(shape, Distribution::Normal(0.0, 1.0), &device)
    };
    let masks: Vec<Arc<dyn AttentionMask>> = vec![
        Arc::new(Causal),
        Arc::new(SlidingWindow { window: 3 }),
        Arc::new(StridedSparse { stride: 3 }),
        Arc::new(FixedSparse {
            block: 4,
            summary: 1,
        }),
        Arc::new(LocalGlobal {
            window: 3,
            global: vec![0, 5],
        }),
    ];
    let positions = Positions::new(1, 0, 13);
    let columns: Vec<usize> = (0..13).collect();
    let (q, k, v) = (
        random([1, 4, 13, 8]),
        random([1, 2, 13, 8]),
        random([1, 2, 13, 8]),
    );
    for mask in &masks {
        let input = MaskInput {
            mask: mask.as_ref(),
            positions: &positions,
            key_columns: &columns,
        };
        let run = |kernel| scaled_dot_product(kernel, q.clone(), k.clone(), v.clone(), input, 0.35);
        let naive = run(AttentionKernel::Naive);
        for kernel in [
            AttentionKernel::Tiled { block: 4 },
            AttentionKernel::Fused,
            AttentionKernel::Cpu {
                queries: 4,
                keys: 5,
            },
            AttentionKernel::Auto,
        ] {
            let diff: f32 = (run(kernel) - naive.clone())
                .abs()
                .max()
                .into_scalar()
                .elem();
            assert!(diff <= 1e-5, "{kernel:?} {}: {diff:e}", mask.name());
        }
    }
}

/// Cached and uncached greedy generation agree, and equal transformers'.
pub fn generation<B: Backend>(device: B::Device) {
    let model = load::<B>("gqa", &device);
    let greedy = &expected("gqa").greedy;
    let n = 8;
    let mut outputs = vec![];
    for use_cache in [true, false] {
        let config = GenerationConfig {
            max_new_tokens: n,
            eos_token_ids: Some(vec![]),
            use_cache,
            ..Default::default()
        };
        let (out, _) = model
            .generate(&greedy.input_ids, &config, &mut |_, _| Control::Continue)
            .unwrap();
        outputs.push(out.new_ids);
    }
    assert_eq!(outputs[0], outputs[1], "cached vs uncached");
    assert_eq!(outputs[0], greedy.new_ids[..n], "transformers' greedy");
}

/// SmolLM2's GGUF (blocks dequantized to f32 off Flex) answers " Paris".
pub fn smollm2_paris<B: Backend>(device: B::Device) {
    let path = std::env::var_os("PHI3_SMOLLM2_GGUF")
        .map(std::path::PathBuf::from)
        .expect("PHI3_SMOLLM2_GGUF (tools/test.sh sets it)");
    let pretrained = Pretrained::open(&path).unwrap();
    let tokenizer = pretrained.tokenizer().unwrap().unwrap();
    // The blocks are dequantized to f32 on this backend (phi3's block kernels are Flex's).
    let model = pretrained.load::<B>(&LoadOptions::new(device)).unwrap();
    let ids = tokenizer.encode("The capital of France is", true).unwrap();
    let logits: Vec<f32> = model
        .forward(model.input_ids(&ids).unwrap())
        .unwrap()
        .narrow(1, ids.len() - 1, 1)
        .into_data()
        .to_vec()
        .unwrap();
    let next = phi3::sampling::argmax(&logits).unwrap();
    assert_eq!(tokenizer.decode(&[next], false).unwrap(), " Paris");
}
