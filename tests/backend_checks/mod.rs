//! The checks every GPU backend runs (tests/wgpu.rs on Mesa's lavapipe in CI, tests/cuda.rs on a
//! CUDA GPU): the oracle fixtures, every attention kernel and mask, cached = uncached generation,
//! and SmolLM2's "Paris". Each runs in the compute dtype `PHI3_COMPUTE` names (f32, f16 or bf16;
//! f32 when unset), with the tolerances of [`logits_bound`] and [`kernel_bound`].
#![allow(dead_code)]

use std::sync::Arc;

use crate::common::{expected, fixture, max_abs_diff};
use phi3::attention::{
    AttentionKernel, Causal, FixedSparse, LocalGlobal, MaskInput, SlidingWindow, StridedSparse,
    scaled_dot_product,
};
use phi3::burn::tensor::backend::Backend;
use phi3::burn::tensor::{DType, Distribution, ElementConversion, Tensor};
use phi3::prelude::*;
use phi3::{AttentionMask, Positions};

/// Sets the compute dtype `PHI3_COMPUTE` names on `device` (f32 when unset) and returns it.
pub fn compute<B: Backend>(device: &B::Device) -> DType {
    let dtype = match std::env::var("PHI3_COMPUTE").as_deref() {
        Err(_) | Ok("f32") => DType::F32,
        Ok("f16") => DType::F16,
        Ok("bf16") => DType::BF16,
        Ok(other) => panic!("PHI3_COMPUTE={other}: expected f32, f16 or bf16"),
    };
    phi3::device::set_compute_dtype::<B>(device, dtype).unwrap();
    dtype
}

/// How far the oracle fixtures' logits may be from transformers' f32 logits in each compute
/// dtype: 1e-4 in f32, as on the CPU; in half precision about 1.5× what transformers itself
/// gets on the same fixtures (`torch_dtype` bf16: 0.10–0.23, f16: 0.011–0.021, eager attention;
/// docs/fidelity.md).
pub fn logits_bound(dtype: DType) -> f32 {
    match dtype {
        DType::BF16 => 0.35,
        DType::F16 => 0.035,
        _ => 1e-4,
    }
}

/// How far any attention kernel may be from the naive one on unit-normal inputs.
pub fn kernel_bound(dtype: DType) -> f32 {
    match dtype {
        DType::BF16 => 0.03,
        DType::F16 => 0.005,
        _ => 1e-5,
    }
}

fn floats<B: Backend, const D: usize>(t: Tensor<B, D>) -> Vec<f32> {
    t.into_data().convert::<f32>().to_vec().unwrap()
}

fn load<B: Backend>(name: &str, device: &B::Device) -> Phi3ForCausalLM<B> {
    Pretrained::open(fixture(name))
        .unwrap()
        .load::<B>(&LoadOptions::new(device.clone()))
        .unwrap()
}

/// The oracle fixtures' logits within [`logits_bound`] of transformers, default and tiled
/// kernels; the activations really are in the compute dtype.
pub fn oracle_fixtures<B: Backend>(device: B::Device) {
    let dtype = compute::<B>(&device);
    let bound = logits_bound(dtype);
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
                let logits = model
                    .forward(model.input_ids(&case.input_ids).unwrap())
                    .unwrap();
                assert_eq!(logits.dtype(), dtype, "{name}: activations' dtype");
                let diff = max_abs_diff(&floats(logits), &case.logits.concat());
                eprintln!(
                    "{} {dtype:?} {name} {kernel:?}: logits max |Δ| {diff:.2e}",
                    B::name(&device)
                );
                assert!(diff <= bound, "{name} {kernel:?}: {diff:e} > {bound:e}");
            }
        }
    }
}

/// Every attention kernel equals the naive one under every mask.
pub fn kernels_and_masks<B: Backend>(device: B::Device) {
    let dtype = compute::<B>(&device);
    let bound = kernel_bound(dtype);
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
                .cast(DType::F32)
                .into_scalar()
                .elem();
            eprintln!("{dtype:?} {kernel:?} {}: max |Δ| {diff:.2e}", mask.name());
            assert!(diff <= bound, "{kernel:?} {}: {diff:e}", mask.name());
        }
    }
}

/// Cached and uncached greedy generation agree, and equal transformers' (whose oracle ran in f32:
/// the tiny random model's top logits are far enough apart for 8 tokens in every dtype).
pub fn generation<B: Backend>(device: B::Device) {
    compute::<B>(&device);
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

/// SmolLM2's GGUF (blocks dequantized off Flex) answers " Paris".
pub fn smollm2_paris<B: Backend>(device: B::Device) {
    compute::<B>(&device);
    let path = std::env::var_os("PHI3_SMOLLM2_GGUF")
        .map(std::path::PathBuf::from)
        .expect("PHI3_SMOLLM2_GGUF (tools/test.sh sets it)");
    let pretrained = Pretrained::open(&path).unwrap();
    let tokenizer = pretrained.tokenizer().unwrap().unwrap();
    // The blocks are dequantized on this backend (phi3's block kernels are Flex's, f32).
    let model = pretrained.load::<B>(&LoadOptions::new(device)).unwrap();
    let ids = tokenizer.encode("The capital of France is", true).unwrap();
    let logits = floats(
        model
            .forward(model.input_ids(&ids).unwrap())
            .unwrap()
            .narrow(1, ids.len() - 1, 1),
    );
    let next = phi3::sampling::argmax(&logits).unwrap();
    assert_eq!(tokenizer.decode(&[next], false).unwrap(), " Paris");
}
