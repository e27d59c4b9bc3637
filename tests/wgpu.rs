//! Burn's GPU stack — cubecl kernels, fusion, autotune, asynchronous readback — on the `wgpu`
//! backend, which CI runs on Mesa's lavapipe (a Vulkan device on the CPU; `tools/test.sh`
//! installs it). The checks themselves are tests/backend_checks (shared with tests/cuda.rs).
#![cfg(feature = "wgpu")]

mod backend_checks;
mod common;

use phi3::device::{Wgpu, wgpu};

#[test]
fn oracle_fixtures_match_transformers_on_wgpu() {
    backend_checks::oracle_fixtures::<Wgpu>(wgpu());
}

#[test]
fn every_kernel_and_mask_equals_naive_on_wgpu() {
    backend_checks::kernels_and_masks::<Wgpu>(wgpu());
}

#[test]
fn cached_generation_equals_uncached_and_transformers_on_wgpu() {
    backend_checks::generation::<Wgpu>(wgpu());
}

#[test]
fn smollm2_answers_paris_on_wgpu() {
    backend_checks::smollm2_paris::<Wgpu>(wgpu());
}
