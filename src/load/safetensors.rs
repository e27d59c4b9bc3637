//! Reading a Hugging Face checkpoint directory, one tensor at a time.
//!
//! Files are opened with burn-store's memory-mapped [`SafetensorsStore`]; each tensor is read,
//! checked against the shape the model needs and handed to the model before the next one is
//! read. At no point do two copies of the weights exist.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use burn::tensor::{DType, TensorData};
use burn_store::{ModuleStore, SafetensorsStore};
use phi3_core::ModelError;
use serde::Deserialize;

use super::source::WeightSource;
use crate::error::{Phi3Error, Result};

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
    /// Tensor name → index into `shards` and stored shape.
    location: HashMap<String, (usize, Vec<usize>)>,
    taken: BTreeSet<String>,
}

impl Checkpoint {
    /// Opens every file of the checkpoint in `dir` and reads their headers.
    pub fn open(dir: impl AsRef<Path>) -> Result<Self> {
        let dir = dir.as_ref();
        let index_path = dir.join(SHARD_INDEX);
        let files: Vec<PathBuf> = if index_path.exists() {
            let text = std::fs::read_to_string(&index_path)
                .map_err(|source| Phi3Error::io(&index_path, source))?;
            let index: ShardIndex = serde_json::from_str(&text).map_err(|e| ModelError::Json {
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
                let shape = store
                    .get_snapshot(&key)
                    .ok()
                    .flatten()
                    .map(|t| t.shape.to_vec())
                    .unwrap_or_default();
                location.insert(key, (i, shape));
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
}

impl WeightSource for Checkpoint {
    fn origin(&self) -> PathBuf {
        self.searched()
    }

    fn contains(&self, name: &str) -> bool {
        self.location.contains_key(name)
    }

    fn shape(&self, name: &str) -> Option<Vec<usize>> {
        self.location.get(name).map(|(_, shape)| shape.clone())
    }

    /// Reads tensor `name` in its stored float type (f32, f16, bf16) after checking its shape.
    fn read(&mut self, name: &str, expected: &[usize]) -> Result<TensorData> {
        let Some(&(i, _)) = self.location.get(name) else {
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
        Ok(data)
    }

    /// Fails if the checkpoint holds tensors that were never read: a config that does not match
    /// its weights must not load silently.
    fn finish(&self) -> Result<()> {
        let mut unused: Vec<(&String, usize)> = self
            .location
            .iter()
            .filter(|(name, _)| !self.taken.contains(*name))
            .map(|(name, &(i, _))| (name, i))
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
