//! Burn's GPU stack — cubecl kernels, fusion, autotune, asynchronous readback — on the `wgpu`
//! backend, which CI runs on Mesa's lavapipe (a Vulkan device on the CPU; `tools/test.sh`
//! installs it): the oracle fixtures, every attention kernel and mask, cached = uncached
//! generation, and SmolLM2's "Paris". Tolerance on wgpu: logits within 1e-4 of transformers, as
//! on the CPU (its f32 kernels sum in other orders; observed below 1e-5).
#![cfg(feature = "wgpu")]

mod common;

use std::sync::Arc;

use common::{expected, fixture, max_abs_diff};
use phi3::attention::{
    AttentionKernel, Causal, FixedSparse, LocalGlobal, MaskInput, SlidingWindow, StridedSparse,
    scaled_dot_product,
};
use phi3::burn::tensor::{Distribution, Tensor};
use phi3::device::{Wgpu, wgpu};
use phi3::prelude::*;
use phi3::{AttentionMask, Positions};

fn load(name: &str) -> Phi3ForCausalLM<Wgpu> {
    Pretrained::open(fixture(name))
        .unwrap()
        .load::<Wgpu>(&LoadOptions::new(wgpu()))
        .unwrap()
}

#[test]
fn oracle_fixtures_match_transformers_on_wgpu() {
    for name in [
        "gqa",
        "longrope",
        "partial_rotary_tied",
        "sliding_window",
        "llama",
    ] {
        let model = load(name);
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
                eprintln!("wgpu {name} {kernel:?}: logits max |Δ| {diff:.2e}");
                assert!(diff <= 1e-4, "wgpu {name} {kernel:?}: {diff:e}");
            }
        }
    }
}

#[test]
fn every_kernel_and_mask_equals_naive_on_wgpu() {
    let device = wgpu();
    let random = |shape: [usize; 4]| -> Tensor<Wgpu, 4> {
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
            let diff: f32 = (run(kernel) - naive.clone()).abs().max().into_scalar();
            assert!(diff <= 1e-5, "wgpu {kernel:?} {}: {diff:e}", mask.name());
        }
    }
}

#[test]
fn cached_generation_equals_uncached_and_transformers_on_wgpu() {
    let model = load("gqa");
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

#[test]
fn smollm2_answers_paris_on_wgpu() {
    let path = std::env::var_os("PHI3_SMOLLM2_GGUF")
        .map(std::path::PathBuf::from)
        .expect("PHI3_SMOLLM2_GGUF (tools/test.sh sets it)");
    let pretrained = Pretrained::open(&path).unwrap();
    let tokenizer = pretrained.tokenizer().unwrap().unwrap();
    // The blocks are dequantized to f32 on this backend (phi3's block kernels are Flex's).
    let model = pretrained.load::<Wgpu>(&LoadOptions::new(wgpu())).unwrap();
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
