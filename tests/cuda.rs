//! The GPU checks of tests/backend_checks on Burn's CUDA backend. They need a CUDA GPU, which
//! our machines and CI lack, so they are ignored by a plain `cargo test`; CI compiles them
//! (`cargo test --features cuda --no-run`), and on a GPU machine
//! `cargo test --release --features cuda --test cuda -- --ignored` runs them.
#![cfg(feature = "cuda")]

mod backend_checks;
mod common;

use phi3::device::{Cuda, cuda};

fn device() -> phi3::device::CudaDevice {
    cuda(0).expect("a CUDA GPU (these checks are run with --ignored on one)")
}

#[test]
#[ignore = "needs a CUDA GPU"]
fn oracle_fixtures_match_transformers_on_cuda() {
    backend_checks::oracle_fixtures::<Cuda>(device());
}

#[test]
#[ignore = "needs a CUDA GPU"]
fn every_kernel_and_mask_equals_naive_on_cuda() {
    backend_checks::kernels_and_masks::<Cuda>(device());
}

#[test]
#[ignore = "needs a CUDA GPU"]
fn cached_generation_equals_uncached_and_transformers_on_cuda() {
    backend_checks::generation::<Cuda>(device());
}

#[test]
#[ignore = "needs a CUDA GPU"]
fn smollm2_answers_paris_on_cuda() {
    backend_checks::smollm2_paris::<Cuda>(device());
}
