//! Reading a Hugging Face checkpoint directory, one tensor at a time.
//!
//! Files are opened with burn-store's memory-mapped [`SafetensorsStore`]; each tensor is read,
//! checked against the shape the model needs, converted to the runtime float type and handed
//! to the model before the next one is read. At no point do two copies of the weights exist.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use burn::tensor::{DType, Tensor, TensorData, backend::Backend};
use burn_store::{ModuleStore, SafetensorsStore};
use serde::Deserialize;

use crate::error::{Phi3Error, Result};

/// Where a model's tensors come from, addressed by their Hugging Face names and expected
/// shapes (`[out, in]` for Linear weights). Implemented for safetensors directories
/// ([`Checkpoint`]) and GGUF files ([`crate::gguf::GgufWeights`]).
pub trait WeightSource {
    /// Tensor `name` as f32 on `device`; its shape must be `expected`.
    fn tensor<B: Backend, const D: usize>(
        &mut self,
        name: &str,
        expected: [usize; D],
        device: &B::Device,
    ) -> Result<Tensor<B, D>>;

    /// Whether the source holds `name`.
    fn contains(&self, name: &str) -> bool;
}

/// Name of a single-file checkpoint.
pub const SINGLE_FILE: &str = "model.safetensors";
/// Name of a sharded checkpoint's index.
pub const SHARD_INDEX: &str = "model.safetensors.index.json";

#[derive(Deserialize)]
struct ShardIndex {
    weight_map: BTreeMap<String, String>,
}

struct Shard {
    path: PathBuf,
    store: SafetensorsStore,
}

/// The tensors of a checkpoint directory (`model.safetensors`, or shards listed in
/// `model.safetensors.index.json`), read lazily by name.
pub struct Checkpoint {
    shards: Vec<Shard>,
    /// Tensor name → index into `shards`.
    location: HashMap<String, usize>,
    taken: BTreeSet<String>,
}

impl Checkpoint {
    /// Opens every file of the checkpoint in `dir` and reads their headers.
    pub fn open(dir: impl AsRef<Path>) -> Result<Self> {
        let dir = dir.as_ref();
        let index_path = dir.join(SHARD_INDEX);
        let files: Vec<PathBuf> = if index_path.exists() {
            let text = std::fs::read_to_string(&index_path).map_err(|source| Phi3Error::Io {
                path: index_path.clone(),
                source,
            })?;
            let index: ShardIndex = serde_json::from_str(&text).map_err(|e| Phi3Error::Json {
                path: index_path.clone(),
                what: "a safetensors shard index",
                message: e.to_string(),
            })?;
            let names: BTreeSet<&String> = index.weight_map.values().collect();
            names
                .into_iter()
                .map(|name| {
                    let path = dir.join(name);
                    if path.is_file() {
                        Ok(path)
                    } else {
                        Err(Phi3Error::MissingShard {
                            index: index_path.clone(),
                            shard: path,
                        })
                    }
                })
                .collect::<Result<_>>()?
        } else if dir.join(SINGLE_FILE).is_file() {
            vec![dir.join(SINGLE_FILE)]
        } else {
            return Err(Phi3Error::NoWeights { dir: dir.into() });
        };

        let mut shards = Vec::with_capacity(files.len());
        let mut location = HashMap::new();
        for (i, path) in files.into_iter().enumerate() {
            let mut store = SafetensorsStore::from_file(&path);
            let keys = store.keys().map_err(|e| Phi3Error::Safetensors {
                file: path.clone(),
                message: e.to_string(),
            })?;
            for key in keys {
                location.insert(key, i);
            }
            shards.push(Shard { path, store });
        }
        Ok(Self {
            shards,
            location,
            taken: BTreeSet::new(),
        })
    }

    /// The file where a missing tensor was looked for (the only file, or the shard index).
    fn searched(&self) -> PathBuf {
        match self.shards.as_slice() {
            [one] => one.path.clone(),
            many => many
                .first()
                .and_then(|s| s.path.parent())
                .map(|d| d.join(SHARD_INDEX))
                .unwrap_or_default(),
        }
    }

    /// Fails if the checkpoint holds tensors that were never read: a config that does not match
    /// its weights must not load silently.
    pub fn finish(self) -> Result<()> {
        let mut unused: Vec<(&String, usize)> = self
            .location
            .iter()
            .filter(|(name, _)| !self.taken.contains(*name))
            .map(|(name, &i)| (name, i))
            .collect();
        if unused.is_empty() {
            return Ok(());
        }
        unused.sort();
        Err(Phi3Error::UnexpectedTensors {
            file: self.shards[unused[0].1].path.clone(),
            tensors: unused.iter().take(8).map(|(n, _)| n.to_string()).collect(),
        })
    }
}

impl WeightSource for Checkpoint {
    fn contains(&self, name: &str) -> bool {
        self.location.contains_key(name)
    }

    /// Reads tensor `name`, checks that its shape is `expected`, and converts it to f32 on
    /// `device` (f32, f16 and bf16 sources).
    fn tensor<B: Backend, const D: usize>(
        &mut self,
        name: &str,
        expected: [usize; D],
        device: &B::Device,
    ) -> Result<Tensor<B, D>> {
        let Some(&i) = self.location.get(name) else {
            return Err(Phi3Error::MissingTensor {
                tensor: name.into(),
                file: self.searched(),
                expected: expected.to_vec(),
            });
        };
        let shard = &mut self.shards[i];
        let file = shard.path.clone();
        let snapshot = shard
            .store
            .get_snapshot(name)
            .map_err(|e| Phi3Error::Safetensors {
                file: file.clone(),
                message: e.to_string(),
            })?
            .ok_or_else(|| Phi3Error::MissingTensor {
                tensor: name.into(),
                file: file.clone(),
                expected: expected.to_vec(),
            })?;
        let found = snapshot.shape.to_vec();
        if found != expected {
            return Err(Phi3Error::ShapeMismatch {
                tensor: name.into(),
                file,
                found,
                expected: expected.to_vec(),
            });
        }
        if !matches!(snapshot.dtype, DType::F32 | DType::F16 | DType::BF16) {
            return Err(Phi3Error::UnsupportedDtype {
                tensor: name.into(),
                file,
                found: format!("{:?}", snapshot.dtype),
            });
        }
        let data: TensorData = snapshot.to_data().map_err(|e| Phi3Error::Safetensors {
            file: file.clone(),
            message: format!("reading `{name}`: {e:?}"),
        })?;
        self.taken.insert(name.to_string());
        Ok(Tensor::from_data(data.convert::<f32>(), device))
    }
}
