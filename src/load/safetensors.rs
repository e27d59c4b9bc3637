//! Reading a Hugging Face checkpoint directory, one tensor at a time.
//!
//! Each file's header is parsed and checked when the directory is opened; each tensor is then read
//! from its file straight into the buffer the model keeps (no memory map: mapped pages would count
//! as a second copy of the weights in the process's memory until unmapped), checked against the
//! shape the model needs and handed to the model before the next one is read. At no point do two
//! copies of the weights exist.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use burn::tensor::{Bytes, DType, TensorData};
use phi3_core::ModelError;
use phi3_core::text_file::{SETTINGS_LIMIT, read_text};
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
    file: std::fs::File,
    /// Where the tensor data starts: after the 8-byte length and the JSON header.
    data_start: u64,
}

/// One tensor's entry in a file's header.
struct Entry {
    shard: usize,
    dtype: String,
    shape: Vec<usize>,
    /// Byte range within the file's data.
    range: (u64, u64),
}

/// Headers longer than this are refused: real ones are a few hundred KB.
const MAX_HEADER: u64 = 100 << 20;

/// The tensors of a checkpoint directory (`model.safetensors`, or shards listed in
/// `model.safetensors.index.json`), read lazily by name.
pub struct Checkpoint {
    shards: Vec<Shard>,
    /// Tensor name → its shard, type, shape and bytes.
    location: HashMap<String, Entry>,
    taken: BTreeSet<String>,
}

impl Checkpoint {
    /// Opens every file of the checkpoint in `dir` and reads their headers.
    pub fn open(dir: impl AsRef<Path>) -> Result<Self> {
        let dir = dir.as_ref();
        let index_path = dir.join(SHARD_INDEX);
        let mut weight_map = None;
        let files: Vec<PathBuf> = if index_path.exists() {
            let text = read_text(&index_path, SETTINGS_LIMIT)
                .map_err(|source| Phi3Error::io(&index_path, source))?;
            let index: ShardIndex = serde_json::from_str(&text).map_err(|e| ModelError::Json {
                path: index_path.clone(),
                what: "a safetensors shard index",
                message: e.to_string(),
            })?;
            let names: BTreeSet<&String> = index.weight_map.values().collect();
            let files: Vec<PathBuf> = names
                .into_iter()
                .map(|name| shard_path(dir, &index_path, name))
                .collect::<Result<_>>()?;
            weight_map = Some(index.weight_map);
            files
        } else if dir.join(SINGLE_FILE).is_file() {
            vec![dir.join(SINGLE_FILE)]
        } else {
            return Err(Phi3Error::NoWeights { dir: dir.into() });
        };

        let mut shards = Vec::with_capacity(files.len());
        let mut location: HashMap<String, Entry> = HashMap::new();
        for (i, path) in files.into_iter().enumerate() {
            let (shard, entries) = read_header(&path)?;
            for (name, mut entry) in entries {
                entry.shard = i;
                if let Some(earlier) = location.get(&name) {
                    let earlier: &Shard = &shards[earlier.shard];
                    return Err(invalid(
                        &path,
                        format!("tensor `{name}` is also in {}", earlier.path.display()),
                    ));
                }
                location.insert(name, entry);
            }
            shards.push(shard);
        }
        // The index says where each tensor is: a tensor found elsewhere is an error, not a guess.
        if let Some(map) = &weight_map {
            for (name, entry) in &location {
                let held = &shards[entry.shard].path;
                if map.get(name).is_none_or(|s| dir.join(s) != *held) {
                    return Err(invalid(
                        held,
                        format!(
                            "holds tensor `{name}`, which {SHARD_INDEX} places in {}",
                            map.get(name).map_or("no shard", String::as_str)
                        ),
                    ));
                }
            }
        }
        Ok(Self {
            shards,
            location,
            taken: BTreeSet::new(),
        })
    }

    /// The tensors' names, in no particular order.
    pub fn tensor_names(&self) -> impl Iterator<Item = &str> {
        self.location.keys().map(String::as_str)
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

/// A malformed checkpoint, named by its file.
fn invalid(file: &Path, message: String) -> Phi3Error {
    Phi3Error::Safetensors {
        file: file.into(),
        message,
    }
}

/// A shard the index names, as a path inside `dir`: a name that is absolute, climbs out with
/// `..`, or resolves (through symlinks) outside the directory is refused before anything is
/// opened, with one message whether or not that path exists.
/// Where a shard may resolve to: inside the checkpoint directory — or, for a snapshot of the
/// Hugging Face cache (`models--org--name/snapshots/<commit>/`, whose files are symlinks to
/// `models--org--name/blobs/`), inside that repository's folder.
fn confinement_root(dir: &Path) -> Option<PathBuf> {
    let root = dir.canonicalize().ok()?;
    let repo = root
        .parent()
        .filter(|p| p.file_name() == Some("snapshots".as_ref()))
        .and_then(Path::parent)
        .filter(|r| {
            let name = r.file_name().and_then(|n| n.to_str());
            name.is_some_and(|n| n.starts_with("models--"))
        });
    Some(repo.map_or(root.clone(), Path::to_path_buf))
}

fn shard_path(dir: &Path, index: &Path, name: &str) -> Result<PathBuf> {
    use std::path::Component;
    let unsafe_name = |reason: &str| Phi3Error::UnsafeShardPath {
        index: index.into(),
        shard: name.into(),
        reason: reason.into(),
    };
    let relative = Path::new(name);
    if !relative
        .components()
        .all(|c| matches!(c, Component::Normal(_)))
    {
        return Err(unsafe_name(
            "shard names must be plain file names inside the checkpoint directory",
        ));
    }
    let path = dir.join(relative);
    if !path.is_file() {
        return Err(Phi3Error::MissingShard {
            index: index.into(),
            shard: path,
        });
    }
    // A symlink inside the directory may still point out of it.
    let inside = match (path.canonicalize(), confinement_root(dir)) {
        (Ok(target), Some(root)) => target.starts_with(root),
        _ => false,
    };
    if !inside {
        return Err(unsafe_name(
            "the shard resolves outside the checkpoint directory",
        ));
    }
    Ok(path)
}

impl WeightSource for Checkpoint {
    fn origin(&self) -> PathBuf {
        self.searched()
    }

    fn contains(&self, name: &str) -> bool {
        self.location.contains_key(name)
    }

    fn shape(&self, name: &str) -> Option<Vec<usize>> {
        self.location.get(name).map(|e| e.shape.clone())
    }

    /// Reads tensor `name` in its stored float type (f32, f16, bf16) after checking its shape.
    fn read(&mut self, name: &str, expected: &[usize]) -> Result<TensorData> {
        let Some(entry) = self.location.get(name) else {
            return Err(Phi3Error::MissingTensor {
                tensor: name.into(),
                file: self.searched(),
                expected: expected.to_vec(),
            });
        };
        let shard = &self.shards[entry.shard];
        let file = shard.path.clone();
        if entry.shape != expected {
            return Err(Phi3Error::ShapeMismatch {
                tensor: name.into(),
                file,
                found: entry.shape.clone(),
                expected: expected.to_vec(),
            });
        }
        let dtype = match entry.dtype.as_str() {
            "F32" => DType::F32,
            "F16" => DType::F16,
            "BF16" => DType::BF16,
            other => {
                return Err(Phi3Error::UnsupportedDtype {
                    tensor: name.into(),
                    file,
                    found: other.to_string(),
                });
            }
        };
        let len = entry.range.1 - entry.range.0;
        let at = shard.data_start + entry.range.0;
        // The buffer the tensor keeps, in its element type (so no realignment copy follows),
        // advised onto huge pages before its first write.
        let bytes = match dtype {
            DType::F32 => read_elems::<f32>(&shard.file, at, len),
            _ => read_elems::<u16>(&shard.file, at, len),
        }
        .map_err(|source| Phi3Error::io(&file, source))?;
        self.taken.insert(name.to_string());
        Ok(TensorData::from_bytes(bytes, entry.shape.clone(), dtype))
    }

    fn stored_size(&self, name: &str) -> Option<u64> {
        self.location.get(name).map(|e| e.range.1 - e.range.0)
    }

    fn inventory(&self) -> (usize, u64) {
        let bytes = self.location.values().map(|e| e.range.1 - e.range.0).sum();
        (self.location.len(), bytes)
    }

    /// Fails if the checkpoint holds tensors that were never read: a config that does not match
    /// its weights must not load silently.
    fn finish(&self) -> Result<()> {
        let mut unused: Vec<(&String, usize)> = self
            .location
            .iter()
            .filter(|(name, _)| !self.taken.contains(*name))
            .map(|(name, e)| (name, e.shard))
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

/// `len` bytes of `file` from `at`, in a buffer of `E` (little-endian, as safetensors stores).
fn read_elems<E: bytemuck::Pod + Send + Sync>(
    file: &std::fs::File,
    at: u64,
    len: u64,
) -> std::io::Result<Bytes> {
    let size = std::mem::size_of::<E>();
    let mut values = vec![E::zeroed(); len as usize / size];
    let buffer: &mut [u8] = bytemuck::cast_slice_mut(&mut values);
    phi3_core::fast::advise_huge_pages(buffer, false);
    // In pieces on every core: the time goes to faulting in and zeroing the new pages and to
    // copying from the page cache, both per core.
    use rayon::prelude::*;
    const PIECE: usize = 16 << 20;
    buffer
        .par_chunks_mut(PIECE)
        .enumerate()
        .try_for_each(|(i, piece)| read_exact_at(file, piece, at + (i * PIECE) as u64))?;
    Ok(Bytes::from_elems(values))
}

#[cfg(unix)]
fn read_exact_at(file: &std::fs::File, buffer: &mut [u8], at: u64) -> std::io::Result<()> {
    std::os::unix::fs::FileExt::read_exact_at(file, buffer, at)
}

#[cfg(not(unix))]
fn read_exact_at(file: &std::fs::File, buffer: &mut [u8], at: u64) -> std::io::Result<()> {
    use std::io::{Read, Seek, SeekFrom};
    let mut file = file;
    file.seek(SeekFrom::Start(at))?;
    file.read_exact(buffer)
}

/// A safetensors file's header, checked: an 8-byte little-endian length, a JSON object naming
/// each tensor's `dtype`, `shape` and `data_offsets` (plus an optional `__metadata__`), then the
/// data, which every tensor's byte range must lie within and fill exactly for its shape and type.
fn read_header(path: &Path) -> Result<(Shard, Vec<(String, Entry)>)> {
    use std::io::Read;
    let bad = |message: String| Phi3Error::Safetensors {
        file: path.to_path_buf(),
        message,
    };
    let mut file = std::fs::File::open(path).map_err(|source| Phi3Error::io(path, source))?;
    let size = file
        .metadata()
        .map_err(|source| Phi3Error::io(path, source))?
        .len();
    let mut prefix = [0u8; 8];
    file.read_exact(&mut prefix).map_err(|_| {
        bad(format!(
            "{size} bytes: shorter than the 8-byte header length"
        ))
    })?;
    let header_len = u64::from_le_bytes(prefix);
    if header_len > MAX_HEADER || 8 + header_len > size {
        return Err(bad(format!(
            "header of {header_len} bytes in a {size}-byte file (at most {MAX_HEADER})"
        )));
    }
    let mut header = vec![0u8; header_len as usize];
    file.read_exact(&mut header)
        .map_err(|source| Phi3Error::io(path, source))?;
    let header: BTreeMap<String, serde_json::Value> = serde_json::from_slice(&header)
        .map_err(|e| bad(format!("header is not a JSON object: {e}")))?;
    let data_start = 8 + header_len;
    let data_len = size - data_start;
    let mut entries = Vec::with_capacity(header.len());
    for (name, value) in header {
        if name == "__metadata__" {
            continue;
        }
        #[derive(Deserialize)]
        struct Raw {
            dtype: String,
            shape: Vec<usize>,
            data_offsets: (u64, u64),
        }
        let raw: Raw =
            serde_json::from_value(value).map_err(|e| bad(format!("tensor `{name}`: {e}")))?;
        let (start, end) = raw.data_offsets;
        let width: u64 = match raw.dtype.as_str() {
            "F64" | "I64" | "U64" => 8,
            "F32" | "I32" | "U32" => 4,
            "F16" | "BF16" | "I16" | "U16" => 2,
            "I8" | "U8" | "BOOL" | "F8_E4M3" | "F8_E5M2" => 1,
            other => return Err(bad(format!("tensor `{name}`: unknown dtype {other}"))),
        };
        let expected = raw
            .shape
            .iter()
            .try_fold(width, |n, &d| n.checked_mul(d as u64));
        if start > end || end > data_len || expected != Some(end - start) {
            return Err(bad(format!(
                "tensor `{name}`: bytes {start}..{end} of {data_len} for {} {:?}",
                raw.dtype, raw.shape
            )));
        }
        entries.push((
            name,
            Entry {
                shard: 0,
                dtype: raw.dtype,
                shape: raw.shape,
                range: (start, end),
            },
        ));
    }
    let shard = Shard {
        path: path.to_path_buf(),
        file,
        data_start,
    };
    Ok((shard, entries))
}
