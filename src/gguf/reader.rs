//! The GGUF container (versions 2 and 3): header, metadata, tensor infos, aligned data, read
//! from a memory map (tensor data is read from the file as needed). Every length and offset is checked against the file before anything is
//! allocated from it, so a damaged or hostile file is an error, never a panic or a huge
//! allocation.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use memmap2::Mmap;

use crate::error::{Phi3Error, Result};
use phi3_core::quant::{GgmlType, dequantize};

/// One metadata value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// Any unsigned or signed integer type.
    Int(i128),
    /// `f32` or `f64`.
    Float(f64),
    /// `bool`.
    Bool(bool),
    /// UTF-8 string.
    String(String),
    /// Array of values.
    Array(Vec<Value>),
}

impl Value {
    /// As an unsigned integer.
    pub fn as_usize(&self) -> Option<usize> {
        match self {
            Self::Int(i) => usize::try_from(*i).ok(),
            _ => None,
        }
    }
    /// As a float.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Self::Float(f) => Some(*f),
            Self::Int(i) => Some(*i as f64),
            _ => None,
        }
    }
    /// As a string.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Self::String(s) => Some(s),
            _ => None,
        }
    }
    /// As an array.
    pub fn as_array(&self) -> Option<&[Value]> {
        match self {
            Self::Array(a) => Some(a),
            _ => None,
        }
    }
}

/// Where one tensor lives and what it holds.
#[derive(Debug, Clone, PartialEq)]
pub struct TensorInfo {
    /// Dimensions in GGUF order (`ne[0]`, the contiguous one, first).
    pub dims: Vec<usize>,
    /// Element type.
    pub ty: GgmlType,
    /// Absolute byte offset of the data in the file.
    pub offset: usize,
    /// Bytes of data.
    pub bytes: usize,
}

impl TensorInfo {
    /// The shape in PyTorch's order (`ne[0]` last): a GGUF `[in, out]` matrix is `[out, in]`.
    pub fn shape(&self) -> Vec<usize> {
        self.dims.iter().rev().copied().collect()
    }
    /// Number of elements.
    pub fn numel(&self) -> usize {
        self.dims.iter().product()
    }
}

/// An opened GGUF file.
pub struct GgufFile {
    path: PathBuf,
    file: std::fs::File,
    /// Format version (2 or 3).
    pub version: u32,
    /// Metadata key → value.
    pub metadata: BTreeMap<String, Value>,
    /// Tensor name → info.
    pub tensors: BTreeMap<String, TensorInfo>,
}

/// Largest element count of one tensor we accept (2^40): any real model's tensor is far below,
/// and it keeps size arithmetic from overflowing.
const MAX_ELEMENTS: u128 = 1 << 40;
const MAX_DIMS: u32 = 4;

struct Cursor<'a> {
    data: &'a [u8],
    pos: usize,
    path: &'a Path,
}

impl<'a> Cursor<'a> {
    fn err(&self, message: String) -> Phi3Error {
        Phi3Error::Gguf {
            file: self.path.into(),
            message,
        }
    }

    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8]> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.data.len())
            .ok_or_else(|| {
                self.err(format!(
                    "truncated: {what} needs {n} bytes at offset {}, file has {}",
                    self.pos,
                    self.data.len()
                ))
            })?;
        let bytes = &self.data[self.pos..end];
        self.pos = end;
        Ok(bytes)
    }

    /// The next `N` bytes as an array.
    fn array<const N: usize>(&mut self, what: &str) -> Result<[u8; N]> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N, what)?);
        Ok(out)
    }

    fn u32(&mut self, what: &str) -> Result<u32> {
        Ok(u32::from_le_bytes(self.array(what)?))
    }

    fn u64(&mut self, what: &str) -> Result<u64> {
        Ok(u64::from_le_bytes(self.array(what)?))
    }

    /// A count that must fit in the rest of the file at `min_bytes` each.
    fn count(&mut self, what: &str, min_bytes: usize) -> Result<usize> {
        let n = self.u64(what)?;
        let remaining = (self.data.len() - self.pos) as u64;
        if n.saturating_mul(min_bytes.max(1) as u64) > remaining {
            return Err(self.err(format!(
                "{what} of {n} cannot fit in the {remaining} bytes left"
            )));
        }
        Ok(n as usize)
    }

    fn string(&mut self, what: &str) -> Result<String> {
        let n = self.count(what, 1)?;
        let bytes = self.take(n, what)?;
        String::from_utf8(bytes.to_vec()).map_err(|_| self.err(format!("{what} is not UTF-8")))
    }

    fn value(&mut self, ty: u32, key: &str, depth: usize) -> Result<Value> {
        Ok(match ty {
            0 => Value::Int(self.take(1, key)?[0] as i128),
            1 => Value::Int(self.take(1, key)?[0] as i8 as i128),
            2 => Value::Int(u16::from_le_bytes(self.array(key)?) as i128),
            3 => Value::Int(i16::from_le_bytes(self.array(key)?) as i128),
            4 => Value::Int(self.u32(key)? as i128),
            5 => Value::Int(self.u32(key)? as i32 as i128),
            6 => Value::Float(f32::from_le_bytes(self.array(key)?) as f64),
            7 => Value::Bool(self.take(1, key)?[0] != 0),
            8 => Value::String(self.string(key)?),
            9 => {
                if depth > 2 {
                    return Err(self.err(format!("`{key}`: arrays nested too deep")));
                }
                let elem = self.u32(key)?;
                // Each element takes at least its own encoded size: a count the rest of the file
                // cannot hold is refused before anything is allocated for it.
                let min_bytes = match elem {
                    2 | 3 => 2,
                    4..=6 => 4,
                    8 | 10..=12 => 8,
                    9 => 12,
                    _ => 1,
                };
                let n = self.count(&format!("length of array `{key}`"), min_bytes)?;
                let mut items = Vec::with_capacity(n.min(1 << 20));
                for _ in 0..n {
                    items.push(self.value(elem, key, depth + 1)?);
                }
                Value::Array(items)
            }
            10 => Value::Int(self.u64(key)? as i128),
            11 => Value::Int(self.u64(key)? as i64 as i128),
            12 => Value::Float(f64::from_le_bytes(self.array(key)?)),
            other => return Err(self.err(format!("`{key}` has unknown metadata type {other}"))),
        })
    }
}

impl std::fmt::Debug for GgufFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GgufFile")
            .field("path", &self.path)
            .field("version", &self.version)
            .field("metadata", &self.metadata.len())
            .field("tensors", &self.tensors.len())
            .finish()
    }
}

impl GgufFile {
    /// Opens and validates `path`: the header, all metadata, every tensor's type, size and
    /// bounds. Tensor data is not read until asked for.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let file = std::fs::File::open(path).map_err(|source| Phi3Error::io(path, source))?;
        // SAFETY: the map is read-only; like every memory-mapped loader we rely on the file not
        // being truncated by another process while the model loads.
        let map = unsafe { Mmap::map(&file) }.map_err(|source| Phi3Error::io(path, source))?;
        let (version, metadata, tensors) = Self::parse(&map, path)?;
        Ok(Self {
            path: path.into(),
            file,
            version,
            metadata,
            tensors,
        })
    }

    #[allow(clippy::type_complexity)]
    fn parse(
        data: &[u8],
        path: &Path,
    ) -> Result<(u32, BTreeMap<String, Value>, BTreeMap<String, TensorInfo>)> {
        let mut c = Cursor { data, pos: 0, path };
        let magic = c.take(4, "magic")?;
        if magic != b"GGUF" {
            return Err(c.err(format!("bad magic {magic:?}, expected \"GGUF\"")));
        }
        let version = c.u32("version")?;
        if !(2..=3).contains(&version) {
            return Err(c.err(format!("unsupported version {version}, expected 2 or 3")));
        }
        // A tensor info is at least 4 + 8 + 4 + 8 bytes; a metadata entry at least 8 + 4 + 1.
        let n_tensors = c.count("tensor count", 24)?;
        let n_kv = c.count("metadata count", 13)?;
        let mut metadata = BTreeMap::new();
        for _ in 0..n_kv {
            let key = c.string("metadata key")?;
            let ty = c.u32(&key)?;
            let value = c.value(ty, &key, 0)?;
            metadata.insert(key, value);
        }
        let alignment = match metadata.get("general.alignment") {
            None => 32,
            Some(v) => match v.as_usize() {
                Some(a) if a.is_power_of_two() => a,
                _ => return Err(c.err(format!("general.alignment {v:?} is not a power of two"))),
            },
        };
        let mut infos = Vec::with_capacity(n_tensors);
        for _ in 0..n_tensors {
            let name = c.string("tensor name")?;
            let n_dims = c.u32(&name)?;
            if n_dims == 0 || n_dims > MAX_DIMS {
                return Err(c.err(format!(
                    "tensor `{name}` has {n_dims} dimensions, expected 1..=4"
                )));
            }
            let mut dims = Vec::with_capacity(n_dims as usize);
            for _ in 0..n_dims {
                dims.push(c.u64(&name)?);
            }
            let type_id = c.u32(&name)?;
            let offset = c.u64(&name)?;
            infos.push((name, dims, type_id, offset));
        }
        let data_start = c.pos.next_multiple_of(alignment);
        let mut tensors = BTreeMap::new();
        for (name, dims, type_id, offset) in infos {
            let ty =
                GgmlType::from_id(type_id).ok_or_else(|| Phi3Error::UnsupportedTensorType {
                    file: path.into(),
                    tensor: name.clone(),
                    type_id,
                })?;
            let numel: u128 = dims
                .iter()
                .try_fold(1u128, |n, &d| n.checked_mul(d as u128))
                .unwrap_or(u128::MAX);
            if numel == 0 || numel > MAX_ELEMENTS {
                return Err(c.err(format!(
                    "tensor `{name}` declares dimensions {dims:?}: {numel} elements"
                )));
            }
            if !dims[0].is_multiple_of(ty.block_size() as u64) {
                return Err(c.err(format!(
                    "tensor `{name}`: row length {} is not a multiple of the {ty:?} block size {}",
                    dims[0],
                    ty.block_size()
                )));
            }
            if !offset.is_multiple_of(alignment as u64) {
                return Err(c.err(format!(
                    "tensor `{name}`: offset {offset} is not a multiple of the alignment {alignment}"
                )));
            }
            let bytes = (numel / ty.block_size() as u128 * ty.block_bytes() as u128) as usize;
            let start = (data_start as u128) + offset as u128;
            let end = start + bytes as u128;
            if end > data.len() as u128 {
                return Err(Phi3Error::TensorOutOfBounds {
                    file: path.into(),
                    tensor: name,
                    end: end.min(u64::MAX as u128) as u64,
                    len: data.len() as u64,
                });
            }
            let dims = dims.into_iter().map(|d| d as usize).collect();
            tensors.insert(
                name,
                TensorInfo {
                    dims,
                    ty,
                    offset: start as usize,
                    bytes,
                },
            );
        }
        // As ggml requires: no two tensors share bytes (overlapping ranges would let one
        // tensor's data be read as another's).
        let mut ranges: Vec<(usize, usize, &String)> = tensors
            .iter()
            .map(|(name, t)| (t.offset, t.offset + t.bytes, name))
            .collect();
        ranges.sort_unstable();
        for pair in ranges.windows(2) {
            if pair[1].0 < pair[0].1 {
                return Err(c.err(format!(
                    "tensors `{}` and `{}` overlap",
                    pair[0].2, pair[1].2
                )));
            }
        }
        Ok((version, metadata, tensors))
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The tensors' names and infos, in name order.
    pub fn tensors(&self) -> impl Iterator<Item = (&str, &TensorInfo)> {
        self.tensors
            .iter()
            .map(|(name, info)| (name.as_str(), info))
    }

    /// A metadata value.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.metadata.get(key)
    }

    /// Dequantises tensor `name` to f32, in PyTorch's shape order.
    pub fn tensor_f32(&self, name: &str) -> Result<(Vec<f32>, Vec<usize>)> {
        let info = self
            .tensors
            .get(name)
            .ok_or_else(|| Phi3Error::MissingTensor {
                tensor: name.into(),
                file: self.path.clone(),
                expected: vec![],
            })?;
        let mut out = Vec::with_capacity(info.numel());
        dequantize(info.ty, &self.raw(info)?, &mut out);
        Ok((out, info.shape()))
    }

    /// A tensor's stored bytes. Read from the file rather than through the map (which only
    /// serves the header), so the file's pages do not stay resident beside the dequantised
    /// weights.
    pub(crate) fn raw(&self, info: &TensorInfo) -> Result<Vec<u8>> {
        let mut bytes = vec![0u8; info.bytes];
        self.raw_into(info, &mut bytes)?;
        Ok(bytes)
    }

    /// A tensor's stored bytes, read into `out` (exactly their size).
    pub(crate) fn raw_into(&self, info: &TensorInfo, out: &mut [u8]) -> Result<()> {
        use std::io::{Read, Seek, SeekFrom};
        let io = |source| Phi3Error::io(&self.path, source);
        if out.len() != info.bytes {
            return Err(Phi3Error::Gguf {
                file: self.path.clone(),
                message: format!("{} bytes asked of a {}-byte tensor", out.len(), info.bytes),
            });
        }
        let mut file = &self.file;
        file.seek(SeekFrom::Start(info.offset as u64)).map_err(io)?;
        file.read_exact(out).map_err(io)
    }
}
