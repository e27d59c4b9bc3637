//! 16-bit weights (`LoadOptions::dtype(DType::F16 | DType::BF16)`): the same model within stated
//! bounds.
//!
//! Bounds: the oracle fixtures are tiny random models whose logits are O(1-10). Rounding every
//! matrix to f16 (11-bit significand) moves logits by at most 2e-2 here, to bf16 (8 bits) by at
//! most 1.5e-1; argmax must agree wherever transformers' top-2 margin exceeds 4× that bound.

mod common;

use common::{expected, fixture};
use phi3::burn::tensor::DType;
use phi3::device::{Cpu, cpu};
use phi3::prelude::*;

#[test]
fn half_precision_weights_stay_close_to_the_oracle() {
    for (dtype, bound) in [(DType::F16, 2e-2f32), (DType::BF16, 1.5e-1)] {
        for name in ["mha", "gqa", "longrope", "partial_rotary_tied", "llama"] {
            let options = LoadOptions::<Cpu>::new(cpu()).dtype(dtype);
            let model = Pretrained::open(fixture(name))
                .unwrap()
                .load(&options)
                .unwrap();
            // The matrices are held in the asked type (norms stay f32).
            let layer = &model.model.layers[0];
            assert_eq!(
                layer.self_attn.qkv_proj.weight.val().dtype(),
                dtype,
                "{name}"
            );
            assert_eq!(
                model.model.embed_tokens.weight.val().dtype(),
                dtype,
                "{name}"
            );
            assert_eq!(
                layer.input_layernorm.weight.val().dtype(),
                DType::F32,
                "{name}"
            );
            let expected = expected(name);
            for case in &expected.cases {
                let logits = model
                    .forward(model.input_ids(&case.input_ids).unwrap())
                    .unwrap();
                let got: Vec<f32> = logits.into_data().to_vec().unwrap();
                let vocab = got.len() / case.input_ids.len();
                let mut worst = 0.0f32;
                for (row, want) in got.chunks(vocab).zip(&case.logits) {
                    worst = row
                        .iter()
                        .zip(want)
                        .map(|(a, b)| (a - b).abs())
                        .fold(worst, f32::max);
                    let mut sorted = want.clone();
                    sorted.sort_by(|a, b| b.total_cmp(a));
                    if sorted[0] - sorted[1] > 4.0 * bound {
                        let argmax = |v: &[f32]| phi3::sampling::argmax(v).unwrap();
                        assert_eq!(argmax(row), argmax(want), "{name} {dtype:?}: argmax");
                    }
                }
                eprintln!("{name} {dtype:?}: logits max |Δ| {worst:.2e}");
                assert!(
                    worst <= bound,
                    "{name} {dtype:?}: logits max |Δ| {worst:e} > {bound:e}"
                );
            }
        }
    }
}

/// An f16 *checkpoint* (safetensors dtype F16) loads, upcast to f32 at load time.
#[test]
fn f16_safetensors_checkpoint_loads() {
    use safetensors::tensor::TensorView;
    use safetensors::{Dtype, SafeTensors};
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        fixture("gqa").join("config.json"),
        dir.path().join("config.json"),
    )
    .unwrap();
    let bytes = std::fs::read(fixture("gqa").join("model.safetensors")).unwrap();
    let file = SafeTensors::deserialize(&bytes).unwrap();
    let converted: Vec<(String, Vec<usize>, Vec<u8>)> = file
        .tensors()
        .into_iter()
        .map(|(name, view)| {
            let data: Vec<u8> = view
                .data()
                .chunks_exact(4)
                .flat_map(|b| {
                    half::f16::from_f32(f32::from_le_bytes(b.try_into().unwrap())).to_le_bytes()
                })
                .collect();
            (name, view.shape().to_vec(), data)
        })
        .collect();
    let views: Vec<(String, TensorView)> = converted
        .iter()
        .map(|(n, s, d)| {
            (
                n.clone(),
                TensorView::new(Dtype::F16, s.clone(), d).unwrap(),
            )
        })
        .collect();
    safetensors::serialize_to_file(views, None, &dir.path().join("model.safetensors")).unwrap();

    let model = Pretrained::open(dir.path())
        .unwrap()
        .load::<Cpu>(&LoadOptions::new(cpu()))
        .unwrap();
    let expected = expected("gqa");
    let case = &expected.cases[0];
    let got: Vec<f32> = model
        .forward(model.input_ids(&case.input_ids).unwrap())
        .unwrap()
        .into_data()
        .to_vec()
        .unwrap();
    let worst = got
        .iter()
        .zip(case.logits.concat())
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    assert!(worst <= 2e-2, "f16 checkpoint: logits max |Δ| {worst:e}");
}
