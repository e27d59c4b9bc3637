//! Decode- and prefill-sized matmuls on each CPU backend this build has.
//!
//! `cargo bench --bench matmul` (Flex); add `--features ndarray` for the NdArray comparison.
//! "row" multiplies by a contiguous `[in, out]` matrix; "col" by the transposed view of a
//! PyTorch-layout `[out, in]` matrix, which is how loaded Linear weights are held.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use phi3::burn::tensor::{Distribution, Tensor, backend::Backend};

const SHAPES: [(&str, usize, usize, usize); 3] = [
    // (name, rows of x, in, out)
    ("decode [1,3072]x[3072,9216]", 1, 3072, 9216),
    ("decode [1,576]x[576,1536]", 1, 576, 1536),
    ("prefill [128,3072]x[3072,3072]", 128, 3072, 3072),
];

fn bench_backend<B: Backend>(c: &mut Criterion, backend: &str, device: &B::Device) {
    let mut group = c.benchmark_group(format!("matmul/{backend}"));
    group.sample_size(20);
    for (name, m, k, n) in SHAPES {
        let x = Tensor::<B, 2>::random([m, k], Distribution::Default, device);
        let row = Tensor::<B, 2>::random([k, n], Distribution::Default, device);
        let col = Tensor::<B, 2>::random([n, k], Distribution::Default, device).transpose();
        for (layout, w) in [("row", row), ("col", col)] {
            group.bench_function(format!("{name} {layout}"), |b| {
                b.iter(|| {
                    let y = x.clone().matmul(w.clone());
                    // Reading the result back synchronises the device before the clock stops.
                    black_box(y.into_data())
                })
            });
        }
    }
    group.finish();
}

fn matmul(c: &mut Criterion) {
    bench_backend::<phi3::device::Cpu>(c, "flex", &phi3::device::cpu());
    #[cfg(feature = "ndarray")]
    bench_backend::<phi3::device::NdArray>(c, "ndarray", &Default::default());
}

criterion_group!(benches, matmul);
criterion_main!(benches);
