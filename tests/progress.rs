//! The load's progress callback: called before the first tensor and after each one, ending at
//! every tensor and every stored byte of the checkpoint, for safetensors and GGUF alike.

mod common;

use std::sync::{Arc, Mutex};

use common::fixture;
use phi3::LoadProgress;
use phi3::device::{Cpu, cpu};
use phi3::prelude::*;

fn reports(path: std::path::PathBuf) -> Vec<LoadProgress> {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = seen.clone();
    let options =
        LoadOptions::<Cpu>::new(cpu()).progress(move |p| sink.lock().unwrap().push(p.clone()));
    Pretrained::open(&path).unwrap().load(&options).unwrap();
    seen.lock().unwrap().clone()
}

fn check(reports: &[LoadProgress], file_bytes: u64) {
    let (first, last) = (&reports[0], reports.last().unwrap());
    assert_eq!((first.tensors_done, first.bytes_done), (0, 0), "{first:?}");
    assert!(first.tensor.is_empty());
    assert_eq!(last.tensors_done, last.tensors_total, "{last:?}");
    assert_eq!(last.bytes_done, last.bytes_total, "{last:?}");
    assert_eq!(
        reports.len(),
        last.tensors_total + 1,
        "one report per tensor"
    );
    // Every stored byte of the tensors, which is the file less its header.
    assert!(last.bytes_total < file_bytes && last.bytes_total > file_bytes * 9 / 10);
    for pair in reports.windows(2) {
        assert_eq!(pair[1].tensors_done, pair[0].tensors_done + 1);
        assert!(pair[1].bytes_done > pair[0].bytes_done, "{pair:?}");
        assert!(!pair[1].tensor.is_empty());
    }
}

#[test]
fn safetensors_load_reports_every_tensor_and_byte() {
    let dir = fixture("gqa");
    let reports = reports(dir.clone());
    let bytes = std::fs::metadata(dir.join("model.safetensors"))
        .unwrap()
        .len();
    check(&reports, bytes);
    // Phi-3's fused names, each once.
    assert!(
        reports
            .iter()
            .any(|r| r.tensor == "model.layers.0.self_attn.qkv_proj.weight")
    );
}

#[test]
fn gguf_load_reports_every_tensor_and_byte() {
    let file = fixture("gguf/phi3-gqa.gguf");
    let bytes = std::fs::metadata(&file).unwrap().len();
    check(&reports(file), bytes);
}
