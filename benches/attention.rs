//! Attention variants at Phi-3-mini's attention shape (32 query heads × 96): MHA vs GQA (8 KV
//! heads) vs MQA, causal / sliding-window / strided-sparse masks, naive vs tiled (flash-style) vs
//! Burn's fused kernel; prefill of 512 and 2048 tokens and one-token decode against a KV cache of
//! 512 and 2048. Measures the scaled dot-product alone (projections are the same matmuls for every
//! variant). Prints a compact table at the end.
//!
//! `cargo bench --bench attention`

use std::collections::BTreeMap;
use std::hint::black_box;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use criterion::Criterion;
use phi3::attention::{
    AttentionKernel, Causal, MaskInput, SlidingWindow, StridedSparse, scaled_dot_product,
};
use phi3::burn::tensor::{Distribution, Tensor};
use phi3::device::{Cpu, cpu};
use phi3::{AttentionMask, Positions};

const HEADS: usize = 32;
const HEAD_DIM: usize = 96;

/// Seconds per call of every benchmark, for the table.
static RESULTS: Mutex<BTreeMap<String, f64>> = Mutex::new(BTreeMap::new());

fn rand(shape: [usize; 4]) -> Tensor<Cpu, 4> {
    Tensor::random(shape, Distribution::Normal(0.0, 1.0), &cpu())
}

#[allow(clippy::too_many_arguments)]
fn bench(
    c: &mut Criterion,
    group: &str,
    kv: usize,
    mask: &dyn AttentionMask,
    kernel: AttentionKernel,
    q_len: usize,
    k_len: usize,
) {
    let q = rand([1, HEADS, q_len, HEAD_DIM]);
    let (k, v) = (
        rand([1, kv, k_len, HEAD_DIM]),
        rand([1, kv, k_len, HEAD_DIM]),
    );
    let positions = Positions::new(1, k_len - q_len, q_len);
    let columns: Vec<usize> = (0..k_len).collect();
    let layout = match kv {
        HEADS => "MHA".to_string(),
        1 => "MQA".to_string(),
        n => format!("GQA-{n}"),
    };
    let kernel_name = match kernel {
        AttentionKernel::Naive => "naive".to_string(),
        AttentionKernel::Tiled { block } => format!("tiled{block}"),
        AttentionKernel::Fused => "fused".to_string(),
        AttentionKernel::Cpu { queries, keys } => format!("cpu{queries}x{keys}"),
        AttentionKernel::Auto => "auto".to_string(),
    };
    let id = format!("{group}/{layout}/{}/{kernel_name}", mask.name());
    c.bench_function(&id, |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            for _ in 0..iters {
                let input = MaskInput {
                    mask,
                    positions: &positions,
                    key_columns: &columns,
                };
                let out = scaled_dot_product(kernel, q.clone(), k.clone(), v.clone(), input, 0.1);
                // Reading the result back synchronises the device before the clock stops.
                black_box(out.into_data());
            }
            let elapsed = start.elapsed();
            let per_call = elapsed.as_secs_f64() / iters as f64;
            let mut results = RESULTS.lock().unwrap();
            let best = results.entry(id.clone()).or_insert(f64::MAX);
            *best = best.min(per_call);
            elapsed
        })
    });
}

fn main() {
    let mut c = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1))
        .configure_from_args();
    let kernels = [
        AttentionKernel::Naive,
        AttentionKernel::Tiled { block: 128 },
        AttentionKernel::Fused,
        AttentionKernel::Cpu {
            queries: AttentionKernel::CPU_TILES.0,
            keys: AttentionKernel::CPU_TILES.1,
        },
    ];
    for (group, q_len, k_len, all_masks) in [
        ("pp512", 512, 512, true),
        ("pp2048", 2048, 2048, false),
        ("tg@512", 1, 512, true),
        ("tg@2048", 1, 2048, true),
    ] {
        let masks: Vec<Box<dyn AttentionMask>> = if all_masks {
            vec![
                Box::new(Causal),
                Box::new(SlidingWindow { window: k_len / 4 }),
                Box::new(StridedSparse {
                    stride: (k_len as f64).sqrt() as usize,
                }),
            ]
        } else {
            vec![Box::new(Causal)]
        };
        for kv in [HEADS, 8, 1] {
            for mask in &masks {
                for kernel in kernels {
                    bench(&mut c, group, kv, mask.as_ref(), kernel, q_len, k_len);
                }
            }
        }
    }
    c.final_summary();

    println!(
        "\nKV cache per token per layer (f32): MHA {} B, GQA-8 {} B, MQA {} B",
        2 * HEADS * HEAD_DIM * 4,
        2 * 8 * HEAD_DIM * 4,
        2 * HEAD_DIM * 4
    );
    println!(
        "\n| benchmark | layout | mask | naive (ms) | tiled128 (ms) | fused (ms) |\n|---|---|---|---|---|---|"
    );
    let results = RESULTS.lock().unwrap();
    let mut rows: BTreeMap<(String, String, String), [Option<f64>; 3]> = BTreeMap::new();
    for (id, secs) in results.iter() {
        let parts: Vec<&str> = id.split('/').collect();
        let slot = match parts[3] {
            "naive" => 0,
            "fused" => 2,
            _ => 1,
        };
        rows.entry((parts[0].into(), parts[1].into(), parts[2].into()))
            .or_default()[slot] = Some(*secs * 1e3);
    }
    for ((group, layout, mask), times) in rows {
        let cell = |t: Option<f64>| t.map_or("-".into(), |t| format!("{t:.2}"));
        println!(
            "| {group} | {layout} | {mask} | {} | {} | {} |",
            cell(times[0]),
            cell(times[1]),
            cell(times[2])
        );
    }
}
