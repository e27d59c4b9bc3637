//! Progress of a load that takes seconds: a callback [`LoadOptions::progress`] registers, called
//! once before the first tensor and after each tensor read (the examples draw an `indicatif`
//! bar with it).
//!
//! [`LoadOptions::progress`]: super::LoadOptions::progress

use std::collections::BTreeSet;
use std::sync::Arc;

use burn::tensor::TensorData;
use phi3_core::quant::GgmlType;

use super::source::WeightSource;
use crate::error::Result;

/// How far a load has got.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LoadProgress {
    /// Checkpoint tensors read so far.
    pub tensors_done: usize,
    /// Checkpoint tensors the load will read (0 when the source cannot tell).
    pub tensors_total: usize,
    /// Their stored bytes read so far.
    pub bytes_done: u64,
    /// Stored bytes of every tensor the load will read (0 when the source cannot tell).
    pub bytes_total: u64,
    /// The checkpoint name of the tensor just read (empty in the first call).
    pub tensor: String,
}

/// A callback that receives [`LoadProgress`]; cheap to clone.
#[derive(Clone)]
pub struct ProgressCallback(Arc<dyn Fn(&LoadProgress) + Send + Sync>);

impl ProgressCallback {
    /// Wraps `f`.
    pub fn new(f: impl Fn(&LoadProgress) + Send + Sync + 'static) -> Self {
        Self(Arc::new(f))
    }
}

impl std::fmt::Debug for ProgressCallback {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ProgressCallback")
    }
}

/// A [`WeightSource`] that reports each tensor it hands out, each one once (a tied `lm_head`
/// reads the embedding again; a fused `qkv_proj` reads three tensors).
pub(crate) struct Tracked<'a> {
    inner: &'a mut dyn WeightSource,
    callback: &'a ProgressCallback,
    seen: BTreeSet<String>,
    state: LoadProgress,
}

impl<'a> Tracked<'a> {
    /// Wraps `inner` and reports the start.
    pub(crate) fn new(inner: &'a mut dyn WeightSource, callback: &'a ProgressCallback) -> Self {
        let (tensors_total, bytes_total) = inner.inventory();
        let state = LoadProgress {
            tensors_total,
            bytes_total,
            ..LoadProgress::default()
        };
        (callback.0)(&state);
        Self {
            inner,
            callback,
            seen: BTreeSet::new(),
            state,
        }
    }

    fn advance(&mut self, name: &str) {
        if !self.seen.insert(name.to_string()) {
            return;
        }
        self.state.tensors_done += 1;
        self.state.bytes_done += self.inner.stored_size(name).unwrap_or(0);
        self.state.tensor = name.to_string();
        (self.callback.0)(&self.state);
    }
}

impl WeightSource for Tracked<'_> {
    fn origin(&self) -> std::path::PathBuf {
        self.inner.origin()
    }

    fn contains(&self, name: &str) -> bool {
        self.inner.contains(name)
    }

    fn shape(&self, name: &str) -> Option<Vec<usize>> {
        self.inner.shape(name)
    }

    fn read(&mut self, name: &str, expected: &[usize]) -> Result<TensorData> {
        let data = self.inner.read(name, expected)?;
        self.advance(name);
        Ok(data)
    }

    fn block_type(&self, name: &str) -> Option<GgmlType> {
        self.inner.block_type(name)
    }

    fn read_blocks_into(&mut self, name: &str, expected: &[usize], out: &mut [u8]) -> Result<()> {
        self.inner.read_blocks_into(name, expected, out)?;
        self.advance(name);
        Ok(())
    }

    fn stored_size(&self, name: &str) -> Option<u64> {
        self.inner.stored_size(name)
    }

    fn inventory(&self) -> (usize, u64) {
        self.inner.inventory()
    }

    fn finish(&self) -> Result<()> {
        self.inner.finish()
    }
}
