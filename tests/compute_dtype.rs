//! Half-precision activations on the CPU backend: the GPU checks of tests/backend_checks with
//! Flex computing in bf16, then in f16 (Burn's generic ops; phi3's CPU kernels are f32's), so
//! "nothing assumes f32 activations" is tested where CI runs. Burn fixes a device's compute
//! dtype once per process, so each dtype runs in a child process of this test binary.

mod backend_checks;
mod common;

use phi3::device::{Cpu, cpu};

/// Runs the `#[ignore]`d `checks_in_child` in a child process computing in `dtype`.
fn in_child(dtype: &str) {
    let exe = std::env::current_exe().unwrap();
    let out = std::process::Command::new(exe)
        .args(["--ignored", "--exact", "checks_in_child", "--nocapture"])
        .env("PHI3_COMPUTE", dtype)
        .output()
        .unwrap();
    eprintln!("{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    eprintln!("{stdout}");
    assert!(out.status.success(), "the {dtype} checks failed");
    assert!(
        stdout.contains("1 passed"),
        "the {dtype} checks did not run"
    );
}

#[test]
fn bf16_activations_match_transformers_within_the_stated_bound() {
    in_child("bf16");
}

#[test]
fn f16_activations_match_transformers_within_the_stated_bound() {
    in_child("f16");
}

/// The checks themselves, in the dtype `PHI3_COMPUTE` names (run by the tests above).
#[test]
#[ignore = "run by the tests above, in a child process computing in PHI3_COMPUTE"]
fn checks_in_child() {
    assert!(std::env::var_os("PHI3_COMPUTE").is_some());
    backend_checks::oracle_fixtures::<Cpu>(cpu());
    backend_checks::kernels_and_masks::<Cpu>(cpu());
    backend_checks::generation::<Cpu>(cpu());
    backend_checks::smollm2_paris::<Cpu>(cpu());
}
