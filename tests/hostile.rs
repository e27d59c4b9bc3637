//! Files from strangers (docs/reliability.md): shard indexes that point outside the checkpoint,
//! sizes no file can justify, configs that validate into NaN, NaN weights, endless "files" — each
//! a typed error naming what is wrong, under a memory limit where an allocation is the danger.

mod common;

use std::fs;
use std::os::unix::fs::symlink;

use common::{copy_fixture, fixture, load_dir as load};
use phi3::device::{Cpu, cpu};
use phi3::prelude::*;
use phi3::{ModelError, Phi3Error};

const INDEX: &str = "model.safetensors.index.json";
const FIRST_SHARD: &str = "model-00001-of-00004.safetensors";

/// The sharded fixture with every mention of the first shard in its index replaced by `name`.
fn index_naming(name: &str) -> tempfile::TempDir {
    let dir = copy_fixture("sharded");
    let index = fs::read_to_string(dir.path().join(INDEX)).unwrap();
    let name = serde_json::to_string(name).unwrap();
    let index = index.replace(&format!("\"{FIRST_SHARD}\""), &name);
    fs::write(dir.path().join(INDEX), index).unwrap();
    dir
}

#[test]
fn shard_names_outside_the_directory_are_refused_alike_whether_or_not_they_exist() {
    let outside = tempfile::tempdir().unwrap();
    fs::copy(
        fixture("sharded").join(FIRST_SHARD),
        outside.path().join("real.safetensors"),
    )
    .unwrap();
    let real = outside.path().join("real.safetensors");
    let mut messages = vec![];
    for name in [
        format!("../{}/real.safetensors", outside.path().display()),
        "../missing.safetensors".to_string(),
        real.display().to_string(),
        "/nonexistent/missing.safetensors".to_string(),
        "sub/../../x.safetensors".to_string(),
    ] {
        let dir = index_naming(&name);
        match load(dir.path()) {
            Err(Phi3Error::UnsafeShardPath { shard, reason, .. }) => {
                assert_eq!(shard, name);
                messages.push(reason);
            }
            other => panic!("{name}: {:?}", other.map(|_| ())),
        }
    }
    // One message for existing and missing targets: the error tells nothing about the outside.
    messages.dedup();
    assert_eq!(messages.len(), 1, "{messages:?}");

    // A symlink inside the directory that leads out of it.
    let dir = copy_fixture("sharded");
    fs::remove_file(dir.path().join(FIRST_SHARD)).unwrap();
    symlink(&real, dir.path().join(FIRST_SHARD)).unwrap();
    assert!(matches!(
        load(dir.path()),
        Err(Phi3Error::UnsafeShardPath { .. })
    ));
}

#[test]
fn the_index_decides_where_each_tensor_is() {
    // The same tensor in two shards: an error, not "the later one wins".
    let dir = copy_fixture("sharded");
    fs::copy(
        dir.path().join(FIRST_SHARD),
        dir.path().join("model-00005-of-00004.safetensors"),
    )
    .unwrap();
    let index = fs::read_to_string(dir.path().join(INDEX))
        .unwrap()
        .replacen(
            "\"lm_head.weight\": \"model-00004-of-00004.safetensors\"",
            "\"lm_head.weight\": \"model-00005-of-00004.safetensors\"",
            1,
        );
    fs::write(dir.path().join(INDEX), index).unwrap();
    let err = load(dir.path()).map(|_| ()).unwrap_err();
    assert!(matches!(err, Phi3Error::Safetensors { .. }), "{err}");
    assert!(err.to_string().contains("also in"), "{err}");

    // A tensor in a shard the index does not name for it (both shards opened).
    let dir = copy_fixture("sharded");
    let index = fs::read_to_string(dir.path().join(INDEX))
        .unwrap()
        .replacen(
            "\"model.norm.weight\": \"model-00003-of-00004.safetensors\"",
            "\"model.norm.weight\": \"model-00004-of-00004.safetensors\"",
            1,
        );
    fs::write(dir.path().join(INDEX), index).unwrap();
    let err = load(dir.path()).map(|_| ()).unwrap_err();
    assert!(err.to_string().contains("places in"), "{err}");
}

/// `config.json` of the gqa fixture with `edit` applied.
fn config_with(edit: impl FnOnce(&mut serde_json::Value)) -> tempfile::TempDir {
    let dir = copy_fixture("gqa");
    let path = dir.path().join("config.json");
    let mut config: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(&path).unwrap()).unwrap();
    edit(&mut config);
    fs::write(&path, config.to_string()).unwrap();
    dir
}

#[test]
fn configs_that_would_allocate_without_bound_or_compute_nan_are_refused() {
    let cases: Vec<(&str, serde_json::Value)> = vec![
        ("num_hidden_layers", (1u64 << 40).into()),
        ("max_position_embeddings", (1u64 << 40).into()),
        ("vocab_size", (1u64 << 40).into()),
        ("hidden_size", (1u64 << 62).into()),
        ("rope_theta", 1e-30.into()),
        ("rope_theta", 0.5.into()),
        ("original_max_position_embeddings", 0.into()),
    ];
    for (field, value) in cases {
        let dir = config_with(|c| match field {
            // The fixture's own spelling: transformers 5's rope_parameters.
            "rope_theta" => c["rope_parameters"][field] = value.clone(),
            _ => c[field] = value.clone(),
        });
        match load(dir.path()) {
            Err(Phi3Error::Model(ModelError::Config { field: f, .. })) => {
                assert!(f == field || field == "hidden_size", "{field}: {f}")
            }
            Err(Phi3Error::Model(ModelError::Json { .. })) => {} // out of the field's type
            other => panic!("{field} = {value}: {:?}", other.map(|_| ())),
        }
    }
    // Both RoPE spellings, disagreeing: one would be ignored in silence.
    let dir = config_with(|c| {
        c["rope_scaling"] = serde_json::json!({"rope_type": "linear", "factor": 2.0});
        c["rope_parameters"] = serde_json::json!({"rope_type": "linear", "factor": 4.0});
    });
    assert!(matches!(
        load(dir.path()),
        Err(Phi3Error::Model(ModelError::Config {
            field: "rope_scaling",
            ..
        }))
    ));
}

#[test]
fn nan_and_infinite_weights_are_named_at_load() {
    for (bits, what) in [(f32::NAN, "NaN"), (f32::INFINITY, "inf")] {
        let dir = copy_fixture("gqa");
        let path = dir.path().join("model.safetensors");
        let bytes = fs::read(&path).unwrap();
        // The last f32 of the file's data belongs to some tensor: poison it.
        let mut poisoned = bytes.clone();
        let n = poisoned.len();
        poisoned[n - 4..].copy_from_slice(&bits.to_le_bytes());
        fs::write(&path, poisoned).unwrap();
        match load(dir.path()) {
            Err(Phi3Error::NonFiniteWeight { tensor, .. }) => assert!(!tensor.is_empty()),
            other => panic!("{what}: {:?}", other.map(|_| ())),
        }
    }
}

#[test]
fn endless_files_are_refused_not_read_forever() {
    for file in ["config.json", "generation_config.json"] {
        let dir = copy_fixture("gqa");
        let path = dir.path().join(file);
        let _ = fs::remove_file(&path);
        symlink("/dev/zero", &path).unwrap();
        let err = Pretrained::open(dir.path())
            .map(|_| ())
            .unwrap_err()
            .to_string();
        assert!(err.contains("more than"), "{file}: {err}");
    }
    for file in ["tokenizer.json", "tokenizer_config.json"] {
        let dir = copy_fixture("tokenizer");
        let path = dir.path().join(file);
        fs::remove_file(&path).unwrap();
        symlink("/dev/zero", &path).unwrap();
        let err = phi3::tokenizer::Tokenizer::from_dir(dir.path())
            .map(|_| ())
            .unwrap_err()
            .to_string();
        assert!(err.contains("more than"), "{file}: {err}");
    }
}

#[test]
fn lengths_that_wrap_or_are_zero_are_typed_errors() {
    let model = common::load("gqa");
    for max_new_tokens in [usize::MAX, usize::MAX - 3, 0] {
        let config = GenerationConfig {
            max_new_tokens,
            ..Default::default()
        };
        match model.generate(&[1, 2, 3], &config, &mut |_, _| Control::Continue) {
            Err(Phi3Error::PromptTooLong { .. }) if max_new_tokens > 0 => {}
            Err(Phi3Error::InvalidOption { option, .. }) if max_new_tokens == 0 => {
                assert_eq!(option, "max_new_tokens")
            }
            other => panic!("{max_new_tokens}: {:?}", other.map(|_| ())),
        }
    }
}

/// Hostile files loaded in a child process whose address space is limited (`RLIMIT_AS`,
/// 2 GiB): an allocation sized by a header would abort the child; a typed error lets it print
/// the error and exit cleanly.
#[test]
fn hostile_files_under_a_memory_limit_get_typed_errors() {
    use std::os::unix::process::CommandExt;
    for case in [
        "gguf_array",
        "gguf_tensors",
        "safetensors_header",
        "config_layers",
    ] {
        let exe = std::env::current_exe().unwrap();
        let mut command = std::process::Command::new(exe);
        command
            .args(["--ignored", "--exact", "hostile_child", "--nocapture"])
            .env("PHI3_HOSTILE_CASE", case);
        // SAFETY: setrlimit is async-signal-safe; nothing else runs between fork and exec.
        unsafe {
            command.pre_exec(|| {
                let limit = libc::rlimit {
                    rlim_cur: 2 << 30,
                    rlim_max: 2 << 30,
                };
                if libc::setrlimit(libc::RLIMIT_AS, &limit) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let out = command.output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && stdout.contains("typed error:"),
            "{case}: {}\n{stdout}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// GGUF bytes: the header, `kvs` already encoded, `tensors` already encoded.
fn gguf(n_tensors: u64, n_kv: u64, body: &[u8]) -> Vec<u8> {
    let mut out = b"GGUF".to_vec();
    out.extend(3u32.to_le_bytes());
    out.extend(n_tensors.to_le_bytes());
    out.extend(n_kv.to_le_bytes());
    out.extend(body);
    out
}

fn key(name: &str) -> Vec<u8> {
    let mut out = (name.len() as u64).to_le_bytes().to_vec();
    out.extend(name.as_bytes());
    out
}

#[test]
#[ignore = "run by hostile_files_under_a_memory_limit_get_typed_errors in a limited child"]
fn hostile_child() {
    let dir = tempfile::tempdir().unwrap();
    let case = std::env::var("PHI3_HOSTILE_CASE").unwrap();
    let path = match case.as_str() {
        "gguf_array" => {
            // One metadata array claiming 2^40 u32 elements in a few bytes.
            let mut body = key("tokenizer.ggml.tokens");
            body.extend(9u32.to_le_bytes());
            body.extend(4u32.to_le_bytes());
            body.extend((1u64 << 40).to_le_bytes());
            body.extend([0u8; 64]);
            let path = dir.path().join("array.gguf");
            fs::write(&path, gguf(0, 1, &body)).unwrap();
            path
        }
        "gguf_tensors" => {
            let path = dir.path().join("tensors.gguf");
            fs::write(&path, gguf(1 << 50, 0, &[0u8; 64])).unwrap();
            path
        }
        "safetensors_header" => {
            let d = copy_fixture("gqa");
            let mut bytes = (1u64 << 60).to_le_bytes().to_vec();
            bytes.extend(b"{}");
            fs::write(d.path().join("model.safetensors"), bytes).unwrap();
            let kept = d.path().to_path_buf();
            std::mem::forget(d);
            kept
        }
        "config_layers" => {
            let d = config_with(|c| c["num_hidden_layers"] = (1u64 << 40).into());
            let kept = d.path().to_path_buf();
            std::mem::forget(d);
            kept
        }
        other => panic!("unknown case {other}"),
    };
    match load(&path) {
        Ok(_) => panic!("{case}: loaded"),
        Err(e) => println!("typed error: {e}"),
    }
}

#[test]
fn raw_id_tensors_outside_the_vocabulary_are_typed_errors() {
    use phi3::burn::tensor::{Int, Tensor, TensorData};
    let model = common::load("gqa");
    for bad in [256i64, 100_000, -1] {
        let ids =
            Tensor::<Cpu, 2, Int>::from_data(TensorData::new(vec![1i64, bad], [1, 2]), &cpu());
        match model.forward(ids) {
            Err(ModelError::TokenOutOfRange { id, vocab: 256 }) => assert_eq!(id, bad),
            other => panic!("{bad}: {:?}", other.map(|_| ())),
        }
    }
}

#[test]
fn stop_strings_are_never_ignored_in_silence() {
    let model = common::load("gqa");
    let config = GenerationConfig {
        stop_strings: vec!["\n".into()],
        ..Default::default()
    };
    // The token-level loop has no text to match them against: an error, not a run past them.
    match model.generate(&[1, 2, 3], &config, &mut |_, _| Control::Continue) {
        Err(Phi3Error::InvalidOption { option, .. }) => assert_eq!(option, "stop_strings"),
        other => panic!("{:?}", other.map(|_| ())),
    }
    // An empty stop string would stop every text at once.
    let tokenizer = phi3::tokenizer::Tokenizer::from_dir(fixture("tokenizer")).unwrap();
    let pipe = phi3::TextGenerationPipeline::new(model, tokenizer);
    let config = GenerationConfig {
        stop_strings: vec![String::new()],
        ..Default::default()
    };
    match pipe.generate("Hello", &config) {
        Err(Phi3Error::InvalidOption { option, .. }) => assert_eq!(option, "stop_strings"),
        other => panic!("{:?}", other.map(|_| ())),
    }
}
