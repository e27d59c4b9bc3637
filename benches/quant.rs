//! Quantized matrix-vector products (a decode step's projections) per block type and instruction
//! set, against the f32 product of the same dequantized weights through `phi3::Linear` (Burn's
//! Flex matmul, split across cores). Shapes of SmolLM2 (576 → 1536) and Phi-3-mini (3072 → 8192).
//!
//! `cargo bench --bench quant`

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use phi3::Linear;
use phi3::burn::tensor::{Tensor, TensorData};
use phi3::core::quant::{
    GgmlType, Isa, Part, QuantizedMatrix, dequantize, quantize, random_blocks,
};
use phi3::device::{Cpu, cpu};

fn values(n: usize, seed: u64) -> Vec<f32> {
    (0..n as u64)
        .map(|i| ((i.wrapping_mul(2654435761).wrapping_add(seed) % 2001) as f32 - 1000.0) / 700.0)
        .collect()
}

fn quant(c: &mut Criterion) {
    for (label, rows, cols) in [
        ("smollm2 1536x576", 1536, 576),
        ("phi3 8192x3072", 8192, 3072),
    ] {
        let mut group = c.benchmark_group(format!("matvec {label}"));
        group
            .sample_size(20)
            .measurement_time(Duration::from_secs(3));
        let w = values(rows * cols, 1);
        let x = values(cols, 2);
        for ty in [
            GgmlType::Q8_0,
            GgmlType::Q4_0,
            GgmlType::Q4_1,
            GgmlType::Q4_K,
            GgmlType::Q5_K,
            GgmlType::Q6_K,
        ] {
            if !cols.is_multiple_of(ty.block_size()) {
                continue; // 576 columns are not whole K-quant blocks
            }
            // K-quants have no quantizer here: random valid blocks (speed does not depend on values).
            let blocks = quantize(ty, &w)
                .unwrap_or_else(|| random_blocks(ty, rows * cols / ty.block_size(), 3));
            let m = QuantizedMatrix::new(
                cols,
                vec![Part {
                    ty,
                    rows,
                    data: &blocks,
                }],
            )
            .unwrap();
            let mut out = vec![0f32; rows];
            for isa in Isa::supported() {
                group.bench_function(format!("{} {isa:?}", ty.name()), |b| {
                    b.iter(|| m.matvec_with(isa, black_box(&x), &mut out))
                });
            }
        }
        // The f32 baseline: the same (Q8_0-rounded) weights as a Linear layer.
        let mut dequantized = vec![];
        dequantize(
            GgmlType::Q8_0,
            &quantize(GgmlType::Q8_0, &w).unwrap(),
            &mut dequantized,
        );
        let device = cpu();
        let weight =
            Tensor::<Cpu, 2>::from_data(TensorData::new(dequantized, [rows, cols]), &device);
        let linear = Linear::new(
            weight
                .transpose()
                .reshape([1, cols, rows])
                .reshape([cols, rows]),
            None,
        );
        let input = Tensor::<Cpu, 2>::from_data(TensorData::new(x.clone(), [1, cols]), &device);
        group.bench_function("f32 Linear", |b| {
            b.iter(|| black_box(linear.forward(input.clone()).into_data()))
        });
        group.finish();
    }
}

/// A prefill's products: 64 activation rows, the quantized kernels against the f32 Linear.
fn prefill(c: &mut Criterion) {
    let n = 64;
    for (label, rows, cols) in [
        ("smollm2 1536x576", 1536, 576),
        ("phi3 8192x3072", 8192, 3072),
    ] {
        let mut group = c.benchmark_group(format!("matmul x{n} {label}"));
        group
            .sample_size(10)
            .measurement_time(Duration::from_secs(3));
        let w = values(rows * cols, 1);
        let x = values(n * cols, 2);
        let mut out = vec![0f32; n * rows];
        for ty in [GgmlType::Q8_0, GgmlType::Q4_0, GgmlType::Q4_1] {
            let blocks = quantize(ty, &w).unwrap();
            let m = QuantizedMatrix::new(
                cols,
                vec![Part {
                    ty,
                    rows,
                    data: &blocks,
                }],
            )
            .unwrap();
            group.bench_function(ty.name(), |b| {
                b.iter(|| m.matmul(black_box(&x), n, &mut out))
            });
        }
        let device = cpu();
        let weight = Tensor::<Cpu, 2>::from_data(TensorData::new(w.clone(), [rows, cols]), &device);
        let linear = Linear::new(
            weight
                .transpose()
                .reshape([1, cols, rows])
                .reshape([cols, rows]),
            None,
        );
        let input = Tensor::<Cpu, 2>::from_data(TensorData::new(x.clone(), [n, cols]), &device);
        group.bench_function("f32 Linear", |b| {
            b.iter(|| black_box(linear.forward(input.clone()).into_data()))
        });
        group.finish();
    }
}

criterion_group!(benches, quant, prefill);
criterion_main!(benches);
