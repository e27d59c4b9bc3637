//! The pluggable parts: mask patterns, attention head layouts, kernels, position encodings,
//! norms and block layouts — each checked against an explicit expectation or a reference.

use std::sync::Arc;

use phi3::attention::{
    AttentionKernel, AttentionShape, Causal, FixedSparse, GroupedQueryAttention, LearnedPositions,
    LocalGlobal, MaskInput, MaskSchedule, NoPositions, RotaryEmbedding, RotaryEmbeddingConfig,
    SinusoidalPositions, SlidingWindow, StridedSparse, scaled_dot_product,
};
use phi3::burn::tensor::{Distribution, Tensor, backend::Backend};
use phi3::core::NoCache;
use phi3::device::{Cpu, cpu};
use phi3::prelude::*;
use phi3::{
    Attention, AttentionMask, AttentionStep, BlockLayout, DecoderBuilder, LayerNorm, Linear, Mlp,
    Norm, Phi3Config, PositionEncoding, Positions, RmsNorm, SwiGlu,
};

fn matrix(mask: &dyn AttentionMask, n: usize) -> Vec<String> {
    (0..n)
        .map(|q| {
            (0..n)
                .map(|k| if mask.visible(q, k) { '1' } else { '.' })
                .collect()
        })
        .collect()
}

#[test]
fn strided_sparse_pattern() {
    // Stride 3 over 7 tokens (3 does not divide 7): the previous 3 keys, and every 3rd before.
    let expected = [
        "1......", "11.....", "111....", "1111...", ".1111..", "..1111.", "1..1111",
    ];
    assert_eq!(matrix(&StridedSparse { stride: 3 }, 7), expected);
    // Stride 1 is dense causal.
    assert_eq!(matrix(&StridedSparse { stride: 1 }, 5), matrix(&Causal, 5));
}

#[test]
fn fixed_sparse_pattern() {
    // Blocks of 3, the last key of each block summarises it.
    let expected = [
        "1......", "11.....", "111....", "..11...", "..111..", "..1111.", "..1..11",
    ];
    assert_eq!(
        matrix(
            &FixedSparse {
                block: 3,
                summary: 1
            },
            7
        ),
        expected
    );
    // Summary = block: every earlier key is visible, i.e. causal.
    assert_eq!(
        matrix(
            &FixedSparse {
                block: 3,
                summary: 3
            },
            7
        ),
        matrix(&Causal, 7)
    );
}

#[test]
fn local_global_pattern() {
    let mask = LocalGlobal {
        window: 2,
        global: vec![0, 4],
    };
    let expected = [
        "1......", "11.....", "111....", "1.11...", "11111..", "1...11.", "1...111",
    ];
    assert_eq!(matrix(&mask, 7), expected);
}

#[test]
fn sliding_window_edges() {
    assert_eq!(
        matrix(&SlidingWindow { window: 1 }, 3),
        ["1..", ".1.", "..1"]
    );
    assert_eq!(
        matrix(&SlidingWindow { window: 3 }, 5),
        ["1....", "11...", "111..", ".111.", "..111"]
    );
    assert_eq!(matrix(&SlidingWindow { window: 8 }, 5), matrix(&Causal, 5));
}

#[test]
fn schedules_alternate_masks() {
    let s = MaskSchedule::alternating(Arc::new(Causal), Arc::new(StridedSparse { stride: 4 }));
    let names: Vec<String> = (0..4).map(|i| s.mask(i).name()).collect();
    assert_eq!(
        names,
        ["causal", "strided_sparse(4)", "causal", "strided_sparse(4)"]
    );
    assert_eq!(Causal.grid(3), "■ · ·\n■ ■ ·\n■ ■ ■\n");
}

fn random<const D: usize>(shape: [usize; D]) -> Tensor<Cpu, D> {
    Tensor::random(shape, Distribution::Normal(0.0, 1.0), &cpu())
}

fn max_diff<const D: usize>(a: Tensor<Cpu, D>, b: Tensor<Cpu, D>) -> f32 {
    (a - b).abs().max().into_scalar()
}

#[test]
fn tiled_and_fused_equal_naive_for_every_mask() {
    <Cpu as Backend>::seed(&cpu(), 7);
    let masks: Vec<Arc<dyn AttentionMask>> = vec![
        Arc::new(Causal),
        Arc::new(SlidingWindow { window: 3 }),
        Arc::new(SlidingWindow { window: 1 }),
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
    // 13 tokens in tiles of 4 and 5: lengths not a multiple of the tile; a padded batch too.
    for positions in [
        Positions::new(2, 0, 13),
        Positions::padded(vec![0, 4], 0, 13),
    ] {
        // kv heads = heads (MHA), and 1 (MQA: the grouped path).
        for (kv, mask) in [3, 1]
            .into_iter()
            .flat_map(|kv| masks.iter().map(move |m| (kv, m)))
        {
            let (q, k, v) = (
                random([2, 3, 13, 8]),
                random([2, kv, 13, 8]),
                random([2, kv, 13, 8]),
            );
            let columns: Vec<usize> = (0..13).collect();
            let input = MaskInput {
                mask: mask.as_ref(),
                positions: &positions,
                key_columns: &columns,
            };
            let run =
                |kernel| scaled_dot_product(kernel, q.clone(), k.clone(), v.clone(), input, 0.35);
            let naive = run(AttentionKernel::Naive);
            for kernel in [
                AttentionKernel::Tiled { block: 4 },
                AttentionKernel::Tiled { block: 5 },
                AttentionKernel::Fused,
                AttentionKernel::Cpu {
                    queries: 4,
                    keys: 5,
                },
                AttentionKernel::Cpu {
                    queries: 64,
                    keys: 3,
                },
                AttentionKernel::Auto,
            ] {
                let diff = max_diff(run(kernel), naive.clone());
                assert!(
                    diff <= 1e-5,
                    "{kernel:?} vs naive, {}, {kv} kv heads: {diff:e}",
                    mask.name()
                );
            }
        }
    }
}

/// An MHA whose key/value projections repeat each KV head of `gqa` for its query heads.
fn expanded_to_mha(gqa: &GroupedQueryAttention<Cpu>) -> GroupedQueryAttention<Cpu> {
    let s = gqa.shape();
    let (h, kv, d) = (s.heads, s.kv_heads, s.head_dim);
    let w = gqa.qkv_proj.weight.val(); // [hidden, (h + 2kv)·d]
    let q = w.clone().narrow(1, 0, h * d);
    let expand = |offset: usize| {
        let heads: Vec<_> = (0..h)
            .map(|i| w.clone().narrow(1, offset + (i / (h / kv)) * d, d))
            .collect();
        Tensor::cat(heads, 1)
    };
    let qkv = Tensor::cat(vec![q, expand(h * d), expand((h + kv) * d)], 1);
    let mha_shape = AttentionShape { kv_heads: h, ..s };
    let o = Linear::new(gqa.o_proj.weight.val(), None);
    GroupedQueryAttention::new(mha_shape, Linear::new(qkv, None), o).unwrap()
}

#[test]
fn gqa_and_mqa_equal_mha_with_shared_heads() {
    let device = cpu();
    <Cpu as Backend>::seed(&device, 3);
    let rope = RotaryEmbeddingConfig::new(8, 8, 64).init::<Cpu>(&device);
    let x = random([2, 9, 32]);
    let positions = Positions::new(2, 0, 9);
    let rotation = rope.rotation(&positions, &device);
    let run = |attn: &GroupedQueryAttention<Cpu>| {
        let mut step = AttentionStep {
            positions: &positions,
            mask: &Causal,
            rotation: rotation.as_ref(),
            cache: &mut NoCache,
        };
        attn.forward(x.clone(), &mut step)
    };
    for (name, attn) in [
        (
            "gqa 4/2",
            GroupedQueryAttention::<Cpu>::gqa(32, 4, 2, &device).unwrap(),
        ),
        (
            "mqa",
            GroupedQueryAttention::<Cpu>::mqa(32, 4, &device).unwrap(),
        ),
    ] {
        let mha = expanded_to_mha(&attn);
        assert_eq!(mha.shape().kv_heads, 4);
        assert!(max_diff(run(&attn), run(&mha)) <= 1e-5, "{name}");
    }
    // The named constructors are the two ends of GQA.
    assert_eq!(
        GroupedQueryAttention::<Cpu>::mha(32, 4, &device)
            .unwrap()
            .shape()
            .kv_heads,
        4
    );
    assert_eq!(
        GroupedQueryAttention::<Cpu>::mqa(32, 4, &device)
            .unwrap()
            .shape()
            .kv_heads,
        1
    );
}

#[test]
fn layer_norm_normalises() {
    let norm = LayerNorm::<Cpu>::init(6, 1e-5, &cpu());
    let y = norm.forward(random([3, 6]) * 4.0 + 2.0);
    let mean: f32 = y.clone().mean_dim(1).abs().max().into_scalar();
    let var: f32 = (y.square().mean_dim(1) - 1.0).abs().max().into_scalar();
    assert!(mean < 1e-5 && var < 1e-3, "mean {mean}, var {var}");
}

#[test]
fn absolute_positions_add_the_right_rows() {
    let device = cpu();
    let sin = SinusoidalPositions::<Cpu>::new(16, 4, &device);
    let x = Tensor::<Cpu, 3>::zeros([1, 2, 4], &device);
    let y: Vec<f32> = sin
        .embed(x, &Positions::new(1, 3, 2))
        .into_data()
        .to_vec()
        .unwrap();
    // Position 3: sin(3), cos(3), sin(3/100), cos(3/100).
    let p3 = [3f32.sin(), 3f32.cos(), 0.03f32.sin(), 0.03f32.cos()];
    for (got, want) in y[..4].iter().zip(p3) {
        assert!((got - want).abs() < 1e-6);
    }
    let learned = LearnedPositions::<Cpu>::new(8, 4, &device);
    let rows: Vec<f32> = learned
        .weight
        .val()
        .narrow(0, 0, 2)
        .into_data()
        .to_vec()
        .unwrap();
    let y: Vec<f32> = learned
        .embed(Tensor::zeros([1, 2, 4], &device), &Positions::new(1, 0, 2))
        .into_data()
        .to_vec()
        .unwrap();
    assert_eq!(y, rows);
    let none = NoPositions::<Cpu>::new();
    let x = random([1, 2, 4]);
    assert_eq!(
        max_diff(none.embed(x.clone(), &Positions::new(1, 0, 2)), x),
        0.0
    );
}

fn tiny_config(window: Option<usize>) -> Phi3Config {
    let window = window.map_or("null".to_string(), |w| w.to_string());
    Phi3Config::from_json(&format!(
        r#"{{"vocab_size": 97, "hidden_size": 32, "intermediate_size": 48, "num_hidden_layers": 3,
        "num_attention_heads": 4, "num_key_value_heads": 2, "max_position_embeddings": 64,
        "sliding_window": {window}}}"#
    ))
    .unwrap()
}

fn cached_equals_uncached(name: &str, model: &impl CausalModel<Cpu>) {
    let config = |use_cache| GenerationConfig {
        max_new_tokens: 14,
        use_cache,
        eos_token_ids: Some(vec![]),
        ..Default::default()
    };
    let prompts = vec![vec![5, 9, 13, 2, 40, 41, 7, 8, 66, 12], vec![3, 4]];
    let go = |use_cache| {
        model
            .generate_batch(&prompts, &config(use_cache), &mut |_, _| Control::Continue)
            .unwrap()
            .0
    };
    let (cached, uncached) = (go(true), go(false));
    for (c, u) in cached.iter().zip(&uncached) {
        assert_eq!(c.new_ids, u.new_ids, "{name}");
    }
    let (alone, _) = model
        .generate(&prompts[1], &config(true), &mut |_, _| Control::Continue)
        .unwrap();
    assert_eq!(alone.new_ids, cached[1].new_ids, "{name}: batch vs alone");
}

#[test]
fn every_variant_decodes_the_same_with_and_without_the_cache() {
    let device = cpu();
    <Cpu as Backend>::seed(&device, 11);
    let rope = |c: &Phi3Config| {
        RotaryEmbeddingConfig::new(c.head_dim(), c.head_dim(), c.max_position_embeddings)
            .init::<Cpu>(&device)
    };
    let gqa = |kernel| {
        move |_: usize, c: &Phi3Config| {
            Ok(
                GroupedQueryAttention::<Cpu>::gqa(c.hidden_size, c.num_attention_heads, 2, &cpu())?
                    .with_kernel(kernel),
            )
        }
    };
    let rms = |c: &Phi3Config| RmsNorm::<Cpu>::init(c.hidden_size, 1e-5, &cpu());
    let ln = |c: &Phi3Config| LayerNorm::<Cpu>::init(c.hidden_size, 1e-5, &cpu());
    let swiglu = |c: &Phi3Config| SwiGlu::<Cpu>::init(c.hidden_size, c.intermediate_size, &cpu());
    let relu = |c: &Phi3Config| Mlp::<Cpu>::relu(c.hidden_size, c.intermediate_size, &cpu());
    let gelu = |c: &Phi3Config| Mlp::<Cpu>::gelu(c.hidden_size, c.intermediate_size, &cpu());

    // The original Transformer: post-norm LayerNorm, sinusoidal positions, MHA.
    let b = DecoderBuilder::new(tiny_config(None))
        .unwrap()
        .layout(BlockLayout::PostNorm);
    let original = b
        .build(
            &device,
            |_, c| GroupedQueryAttention::<Cpu>::mha(c.hidden_size, 4, &cpu()),
            relu,
            ln,
            SinusoidalPositions::new(64, 32, &device),
        )
        .unwrap();
    cached_equals_uncached("post-norm + sinusoidal + MHA", &original);

    // GPT-3 style: dense and strided-sparse layers alternating, learned positions.
    let b = DecoderBuilder::new(tiny_config(None))
        .unwrap()
        .masks(MaskSchedule::alternating(
            Arc::new(Causal),
            Arc::new(StridedSparse { stride: 3 }),
        ));
    let gpt3 = b
        .build(
            &device,
            gqa(AttentionKernel::Naive),
            gelu,
            ln,
            LearnedPositions::new(64, 32, &device),
        )
        .unwrap();
    cached_equals_uncached("alternating dense / strided", &gpt3);

    // Sliding window (ring-buffer cache; the 10-token prompt is longer than the window), RoPE,
    // each kernel.
    for kernel in [
        AttentionKernel::Naive,
        AttentionKernel::Tiled { block: 4 },
        AttentionKernel::Fused,
        AttentionKernel::Cpu {
            queries: 3,
            keys: 2,
        },
        AttentionKernel::Auto,
    ] {
        let b = DecoderBuilder::new(tiny_config(Some(4))).unwrap();
        let model = b
            .build(&device, gqa(kernel), swiglu, rms, rope(b.config()))
            .unwrap();
        cached_equals_uncached(&format!("sliding window, {kernel:?}"), &model);
    }

    // Fixed sparse and Longformer-style masks, MQA, no positions at all.
    let b = DecoderBuilder::new(tiny_config(None)).unwrap().masks(
        MaskSchedule::cycle(vec![
            Arc::new(FixedSparse {
                block: 4,
                summary: 1,
            }),
            Arc::new(LocalGlobal {
                window: 3,
                global: vec![0],
            }),
        ])
        .unwrap(),
    );
    let model = b
        .build(
            &device,
            |_, c| GroupedQueryAttention::<Cpu>::mqa(c.hidden_size, 4, &cpu()),
            swiglu,
            rms,
            NoPositions::new(),
        )
        .unwrap();
    cached_equals_uncached("fixed / local-global + MQA + NoPE", &model);
    let _: &RotaryEmbedding<Cpu> = &rope(b.config());
}
