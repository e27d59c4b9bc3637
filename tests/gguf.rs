//! GGUF: dequantisation against the Python `gguf` package, and damaged files as typed errors.

mod common;

use common::{expected, fixture};
use phi3::Phi3Error;
use phi3::gguf::{GgmlType, GgufFile, dequantize};
use serde::Deserialize;

#[derive(Deserialize)]
struct Case {
    name: String,
    #[serde(rename = "type")]
    ty: String,
    bytes: Vec<u8>,
    values: Vec<f32>,
}

#[derive(Deserialize)]
struct Cases {
    cases: Vec<Case>,
}

fn ggml_type(name: &str) -> GgmlType {
    match name {
        "F32" => GgmlType::F32,
        "F16" => GgmlType::F16,
        "BF16" => GgmlType::BF16,
        "Q8_0" => GgmlType::Q8_0,
        "Q4_0" => GgmlType::Q4_0,
        "Q4_1" => GgmlType::Q4_1,
        "Q4_K" => GgmlType::Q4_K,
        "Q5_K" => GgmlType::Q5_K,
        "Q6_K" => GgmlType::Q6_K,
        other => panic!("unexpected type {other}"),
    }
}

#[test]
fn every_type_dequantizes_like_the_gguf_package() {
    let cases: Cases =
        serde_json::from_str(&std::fs::read_to_string(fixture("gguf/dequant.json")).unwrap())
            .unwrap();
    let mut seen = std::collections::BTreeSet::new();
    for case in &cases.cases {
        let mut out = vec![];
        dequantize(ggml_type(&case.ty), &case.bytes, &mut out);
        assert_eq!(out.len(), case.values.len(), "{}", case.name);
        for (i, (got, want)) in out.iter().zip(&case.values).enumerate() {
            // Both sides compute in f32 from the same f16 scales: equal up to rounding order.
            assert!(
                (got - want).abs() <= 1e-6 * want.abs().max(1.0),
                "{}: value {i}: {got} vs {want}",
                case.name
            );
        }
        seen.insert(case.ty.clone());
    }
    let all = [
        "BF16", "F16", "F32", "Q4_0", "Q4_1", "Q4_K", "Q5_K", "Q6_K", "Q8_0",
    ];
    assert_eq!(seen.into_iter().collect::<Vec<_>>(), all);
}

/// A minimal GGUF v3 file: one string metadata entry, then the given tensor infos, then `data`.
fn gguf(
    magic: &[u8; 4],
    n_tensors: u64,
    tensors: &[(&str, &[u64], u32, u64)],
    data: &[u8],
) -> Vec<u8> {
    let mut b = magic.to_vec();
    b.extend(3u32.to_le_bytes());
    b.extend(n_tensors.to_le_bytes());
    b.extend(1u64.to_le_bytes());
    let string = |b: &mut Vec<u8>, s: &str| {
        b.extend((s.len() as u64).to_le_bytes());
        b.extend(s.as_bytes());
    };
    string(&mut b, "general.architecture");
    b.extend(8u32.to_le_bytes());
    string(&mut b, "llama");
    for (name, dims, ty, offset) in tensors {
        string(&mut b, name);
        b.extend((dims.len() as u32).to_le_bytes());
        for d in *dims {
            b.extend(d.to_le_bytes());
        }
        b.extend(ty.to_le_bytes());
        b.extend(offset.to_le_bytes());
    }
    while !b.len().is_multiple_of(32) {
        b.push(0);
    }
    b.extend(data);
    b
}

fn open(bytes: &[u8]) -> Result<GgufFile, Phi3Error> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.gguf");
    std::fs::write(&path, bytes).unwrap();
    GgufFile::open(&path)
}

fn valid() -> Vec<u8> {
    let data: Vec<u8> = (0..8).flat_map(|i| (i as f32).to_le_bytes()).collect();
    gguf(b"GGUF", 1, &[("t", &[4, 2], 0, 0)], &data)
}

#[test]
fn a_valid_file_reads_back() {
    let file = open(&valid()).unwrap();
    assert_eq!(file.version, 3);
    assert_eq!(
        file.get("general.architecture").and_then(|v| v.as_str()),
        Some("llama")
    );
    let (values, shape) = file.tensor_f32("t").unwrap();
    assert_eq!(shape, vec![2, 4]);
    assert_eq!(values, (0..8).map(|i| i as f32).collect::<Vec<_>>());
}

#[test]
fn truncated_file() {
    let bytes = valid();
    for cut in [3, 20, 60, bytes.len() - 4] {
        let err = open(&bytes[..cut]).unwrap_err();
        assert!(
            matches!(
                err,
                Phi3Error::Gguf { .. } | Phi3Error::TensorOutOfBounds { .. }
            ),
            "cut at {cut}: {err}"
        );
    }
}

#[test]
fn wrong_magic() {
    let mut bytes = valid();
    bytes[..4].copy_from_slice(b"GGML");
    let err = open(&bytes).unwrap_err();
    assert!(
        matches!(&err, Phi3Error::Gguf { message, .. } if message.contains("magic")),
        "{err}"
    );
}

#[test]
fn unknown_tensor_type() {
    let bytes = gguf(b"GGUF", 1, &[("weird", &[32], 99, 0)], &[0; 64]);
    let err = open(&bytes).unwrap_err();
    assert!(
        matches!(&err, Phi3Error::UnsupportedTensorType { tensor, type_id: 99, .. } if tensor == "weird"),
        "{err}"
    );
}

#[test]
fn tensor_data_past_the_end() {
    let bytes = gguf(b"GGUF", 1, &[("t", &[4, 2], 0, 1 << 20)], &[0; 32]);
    let err = open(&bytes).unwrap_err();
    assert!(
        matches!(&err, Phi3Error::TensorOutOfBounds { tensor, .. } if tensor == "t"),
        "{err}"
    );
}

#[test]
fn huge_declared_sizes_fail_before_allocating() {
    // 2^40 × 2^40 elements: rejected from the header alone.
    let bytes = gguf(b"GGUF", 1, &[("t", &[1 << 40, 1 << 40], 0, 0)], &[0; 32]);
    let err = open(&bytes).unwrap_err();
    assert!(
        matches!(&err, Phi3Error::Gguf { message, .. } if message.contains("dimensions")),
        "{err}"
    );
    // A tensor count that cannot fit in the file.
    let err = open(&gguf(b"GGUF", u64::MAX / 2, &[], &[])).unwrap_err();
    assert!(
        matches!(&err, Phi3Error::Gguf { message, .. } if message.contains("cannot fit")),
        "{err}"
    );
    // A string length past the end of the file.
    let mut bytes = valid();
    bytes[24..32].copy_from_slice(&(u64::MAX / 4).to_le_bytes());
    assert!(matches!(open(&bytes), Err(Phi3Error::Gguf { .. })));
}

/// GGUF files written from oracle fixtures as llama.cpp lays them out
/// (tools/reference/make_gguf_fixture.py) give transformers' logits.
#[test]
fn phi3_and_llama_gguf_match_the_oracle() {
    use phi3::device::{Cpu, cpu};
    use phi3::prelude::*;
    for (gguf, source, tree_root) in [
        ("gguf/phi3-gqa.gguf", "gqa", "Phi3ForCausalLM("),
        ("gguf/llama.gguf", "llama", "LlamaForCausalLM("),
        ("gguf/phi3-longrope.gguf", "longrope", "Phi3ForCausalLM("),
    ] {
        let model = Pretrained::open(fixture(gguf))
            .unwrap()
            .load::<Cpu>(&LoadOptions::new(cpu()))
            .unwrap();
        assert!(format!("{model}").starts_with(tree_root));
        let oracle = expected(source);
        for case in &oracle.cases {
            let logits = model
                .forward(model.input_ids(&case.input_ids).unwrap())
                .unwrap();
            let got: Vec<f32> = logits.into_data().to_vec().unwrap();
            let want = case.logits.concat();
            let diff = got
                .iter()
                .zip(&want)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0, f32::max);
            assert!(diff <= 1e-4, "{gguf}: logits max |Δ| = {diff:e}");
        }
    }
}

/// Rope data phi3 does not apply (Llama 3.1's `rope_freqs`) is a typed error naming the tensor,
/// never a model that loads and computes plain RoPE.
#[test]
fn unsupported_rope_data_is_a_typed_error() {
    use phi3::prelude::*;
    let path = fixture("gguf/llama-rope-freqs.gguf");
    let err = Pretrained::open(&path).err().expect("refused");
    assert!(
        matches!(&err, Phi3Error::Gguf { file, .. } if *file == path),
        "{err}"
    );
    assert!(err.to_string().contains("rope_freqs"), "{err}");
}
