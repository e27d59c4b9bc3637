//! Bad input gives a typed error naming the file, tensor or field, never a panic.

use std::fs;
mod common;

use std::path::Path;

use common::{copy_fixture, fixture, load_dir as load};
use phi3::Phi3Error;
use phi3::attention::{AttentionShape, GroupedQueryAttention, MaskSchedule};
use phi3::burn::tensor::DType;
use phi3::device::{Cpu, cpu};
use phi3::prelude::*;
use phi3::{ModelError, Phi3Config};
use safetensors::tensor::TensorView;
use safetensors::{Dtype, SafeTensors};

type Owned = (String, Dtype, Vec<usize>, Vec<u8>);

/// Rewrites `model.safetensors` after `edit` changes its list of tensors.
fn rewrite(dir: &Path, edit: impl FnOnce(&mut Vec<Owned>)) {
    let path = dir.join("model.safetensors");
    let bytes = fs::read(&path).unwrap();
    let file = SafeTensors::deserialize(&bytes).unwrap();
    let mut tensors: Vec<Owned> = file
        .tensors()
        .into_iter()
        .map(|(name, view)| {
            (
                name,
                view.dtype(),
                view.shape().to_vec(),
                view.data().to_vec(),
            )
        })
        .collect();
    edit(&mut tensors);
    let views: Vec<(String, TensorView)> = tensors
        .iter()
        .map(|(n, d, s, b)| (n.clone(), TensorView::new(*d, s.clone(), b).unwrap()))
        .collect();
    safetensors::serialize_to_file(views, None, &path).unwrap();
}

#[test]
fn truncated_file_is_a_safetensors_error() {
    let dir = copy_fixture("mha");
    let path = dir.path().join("model.safetensors");
    let len = fs::metadata(&path).unwrap().len();
    fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(len / 2)
        .unwrap();
    let err = load(dir.path()).unwrap_err();
    assert!(
        matches!(&err, Phi3Error::Safetensors { file, .. } if *file == path),
        "{err}"
    );
    assert!(err.to_string().contains("model.safetensors"), "{err}");

    // A file cut inside its header.
    fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(5)
        .unwrap();
    assert!(matches!(
        load(dir.path()),
        Err(Phi3Error::Safetensors { .. })
    ));
}

/// A header whose byte ranges do not fit the shapes and types it declares (the reader's own
/// checks; safetensors files are untrusted input).
#[test]
fn header_ranges_that_do_not_fit_are_safetensors_errors() {
    let dir = copy_fixture("mha");
    let path = dir.path().join("model.safetensors");
    for (header, needle) in [
        // 2 × 2 f32 values are 16 bytes, not 8.
        (
            r#"{"x":{"dtype":"F32","shape":[2,2],"data_offsets":[0,8]}}"#,
            "`x`",
        ),
        // Past the end of the data.
        (
            r#"{"y":{"dtype":"F16","shape":[16],"data_offsets":[0,32]}}"#,
            "`y`",
        ),
        // Start after end.
        (
            r#"{"z":{"dtype":"F32","shape":[0],"data_offsets":[8,0]}}"#,
            "`z`",
        ),
        // A header length beyond the file.
        ("", "header of"),
    ] {
        let mut bytes = match header {
            "" => u64::MAX.to_le_bytes().to_vec(),
            _ => (header.len() as u64).to_le_bytes().to_vec(),
        };
        bytes.extend_from_slice(header.as_bytes());
        bytes.extend_from_slice(&[0u8; 16]);
        fs::write(&path, &bytes).unwrap();
        let err = load(dir.path()).unwrap_err();
        assert!(
            matches!(&err, Phi3Error::Safetensors { file, .. } if *file == path),
            "{err}"
        );
        assert!(err.to_string().contains(needle), "{needle}: {err}");
    }
}

#[test]
fn wrong_shape_names_tensor_file_and_both_shapes() {
    let dir = copy_fixture("mha");
    rewrite(dir.path(), |tensors| {
        let t = tensors
            .iter_mut()
            .find(|t| t.0 == "model.layers.1.mlp.down_proj.weight")
            .unwrap();
        t.2 = vec![128, 64]; // transposed: [intermediate, hidden] instead of [hidden, intermediate]
    });
    let err = load(dir.path()).unwrap_err();
    match &err {
        Phi3Error::ShapeMismatch {
            tensor,
            file,
            found,
            expected,
        } => {
            assert_eq!(tensor, "model.layers.1.mlp.down_proj.weight");
            assert_eq!(file, &dir.path().join("model.safetensors"));
            assert_eq!(found, &vec![128, 64]);
            assert_eq!(expected, &vec![64, 128]);
        }
        other => panic!("expected ShapeMismatch, got {other}"),
    }
    let text = err.to_string();
    assert!(
        text.contains("[128, 64]") && text.contains("[64, 128]"),
        "{text}"
    );
}

#[test]
fn missing_tensor_is_named() {
    let dir = copy_fixture("mha");
    rewrite(dir.path(), |tensors| {
        tensors.retain(|t| t.0 != "model.norm.weight")
    });
    let err = load(dir.path()).unwrap_err();
    assert!(
        matches!(&err, Phi3Error::MissingTensor { tensor, expected, .. }
            if tensor == "model.norm.weight" && expected == &vec![64]),
        "{err}"
    );
}

#[test]
fn unexpected_tensor_is_named() {
    let dir = copy_fixture("mha");
    rewrite(dir.path(), |tensors| {
        tensors.push((
            "model.layers.2.mlp.down_proj.weight".into(),
            Dtype::F32,
            vec![2],
            vec![0; 8],
        ));
    });
    let err = load(dir.path()).unwrap_err();
    assert!(
        matches!(&err, Phi3Error::UnexpectedTensors { tensors, .. }
            if tensors == &vec!["model.layers.2.mlp.down_proj.weight".to_string()]),
        "{err}"
    );
}

#[test]
fn unsupported_dtype_is_named() {
    let dir = copy_fixture("mha");
    rewrite(dir.path(), |tensors| {
        let t = tensors
            .iter_mut()
            .find(|t| t.0 == "model.norm.weight")
            .unwrap();
        t.1 = Dtype::I32;
    });
    let err = load(dir.path()).unwrap_err();
    assert!(
        matches!(&err, Phi3Error::UnsupportedDtype { tensor, .. } if tensor == "model.norm.weight"),
        "{err}"
    );
}

#[test]
fn missing_shard_names_index_and_shard() {
    let dir = copy_fixture("sharded");
    let shard = dir.path().join("model-00002-of-00004.safetensors");
    fs::remove_file(&shard).unwrap();
    let err = load(dir.path()).unwrap_err();
    assert!(
        matches!(&err, Phi3Error::MissingShard { index, shard: s }
            if *s == shard && index.ends_with("model.safetensors.index.json")),
        "{err}"
    );
}

#[test]
fn directory_without_weights() {
    let dir = tempfile::tempdir().unwrap();
    fs::copy(
        fixture("mha").join("config.json"),
        dir.path().join("config.json"),
    )
    .unwrap();
    assert!(matches!(load(dir.path()), Err(Phi3Error::NoWeights { .. })));
    let empty = tempfile::tempdir().unwrap();
    assert!(matches!(
        load(empty.path()),
        Err(Phi3Error::Model(ModelError::Io { .. }))
    ));
}

fn edit_config(dir: &Path, edit: impl FnOnce(&mut serde_json::Value)) {
    let path = dir.join("config.json");
    let mut value: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(&path).unwrap()).unwrap();
    edit(&mut value);
    fs::write(&path, serde_json::to_string_pretty(&value).unwrap()).unwrap();
}

#[test]
fn unknown_rope_scaling_type() {
    let dir = copy_fixture("longrope");
    edit_config(dir.path(), |c| {
        c["rope_parameters"]["rope_type"] = "dynamic".into()
    });
    let err = load(dir.path()).unwrap_err();
    assert!(
        matches!(
            err,
            Phi3Error::Model(ModelError::Config {
                field: "rope_scaling",
                ..
            })
        ),
        "{err}"
    );
    assert!(err.to_string().contains("\"dynamic\""), "{err}");
}

#[test]
fn heads_not_divisible_by_kv_heads() {
    let dir = copy_fixture("gqa");
    edit_config(dir.path(), |c| c["num_key_value_heads"] = 3.into());
    let err = load(dir.path()).unwrap_err();
    assert!(
        matches!(
            err,
            Phi3Error::Model(ModelError::Config {
                field: "num_key_value_heads",
                ..
            })
        ),
        "{err}"
    );
    assert!(
        err.to_string().contains("(3)") && err.to_string().contains("(8)"),
        "{err}"
    );
}

#[test]
fn malformed_config_names_the_file() {
    let dir = copy_fixture("mha");
    fs::write(dir.path().join("config.json"), "{\"vocab_size\": 10").unwrap();
    let err = load(dir.path()).unwrap_err();
    assert!(
        matches!(&err, Phi3Error::Model(ModelError::Json { path, .. }) if path.ends_with("config.json")),
        "{err}"
    );
}

#[test]
fn input_longer_than_context_and_bad_ids() {
    let model = load(&fixture("mha")).unwrap();
    let max = model.config.max_position_embeddings;
    let ids = model.input_ids(&vec![5; max + 1]).unwrap();
    let err = model.forward(ids).unwrap_err();
    assert!(
        matches!(err, ModelError::ContextOverflow { len, max: m } if len == max + 1 && m == max)
    );
    assert!(matches!(
        model.input_ids(&[3, 256]),
        Err(ModelError::TokenOutOfRange {
            id: 256,
            vocab: 256
        })
    ));
    assert!(matches!(model.input_ids(&[]), Err(ModelError::EmptyInput)));
}

#[test]
fn cuda_without_driver_is_a_typed_error() {
    let driver = [
        "/usr/lib/x86_64-linux-gnu/libcuda.so.1",
        "/usr/lib64/libcuda.so.1",
        "/usr/lib/libcuda.so.1",
    ]
    .iter()
    .any(|p| Path::new(p).exists());
    match phi3::device::cuda(0) {
        Err(ModelError::DeviceUnavailable { device, .. }) => assert_eq!(device, "cuda:0"),
        Err(other) => panic!("unexpected error {other}"),
        Ok(_) => assert!(driver, "got a CUDA device without a driver"),
    }
}

#[test]
fn attention_heads_that_do_not_divide_are_typed_errors() {
    let device = cpu();
    let err = GroupedQueryAttention::<Cpu>::gqa(64, 8, 3, &device).unwrap_err();
    assert!(
        matches!(
            &err,
            ModelError::Part {
                part: "GroupedQueryAttention",
                parameter: "kv_heads",
                ..
            }
        ),
        "{err}"
    );
    assert!(
        err.to_string().contains("(3)") && err.to_string().contains("(8)"),
        "{err}"
    );
    assert!(matches!(
        GroupedQueryAttention::<Cpu>::mha(64, 7, &device),
        Err(ModelError::Part {
            parameter: "heads",
            ..
        })
    ));
    assert!(matches!(
        AttentionShape::new(64, 0, 1),
        Err(ModelError::Part {
            parameter: "heads",
            ..
        })
    ));
    assert!(matches!(
        MaskSchedule::cycle(vec![]),
        Err(ModelError::Part {
            part: "MaskSchedule",
            ..
        })
    ));
}

#[test]
fn unknown_model_type_activation_and_weight_dtype() {
    let dir = copy_fixture("mha");
    edit_config(dir.path(), |c| c["model_type"] = "mamba".into());
    let err = load(dir.path()).unwrap_err();
    assert!(
        matches!(
            &err,
            Phi3Error::Model(ModelError::Config {
                field: "model_type",
                ..
            })
        ),
        "{err}"
    );
    assert!(err.to_string().contains("\"mamba\""), "{err}");

    let text = std::fs::read_to_string(fixture("mha").join("config.json")).unwrap();
    let err = Phi3Config::from_json(&text.replace("\"silu\"", "\"swiglu\"")).unwrap_err();
    assert!(
        matches!(
            &err,
            ModelError::Config {
                field: "hidden_act",
                ..
            }
        ),
        "{err}"
    );

    let options = LoadOptions::<Cpu>::new(cpu()).dtype(DType::I8);
    let err = Pretrained::open(fixture("mha"))
        .unwrap()
        .load(&options)
        .unwrap_err();
    assert!(
        matches!(
            &err,
            Phi3Error::InvalidOption {
                option: "dtype",
                ..
            }
        ),
        "{err}"
    );
}
