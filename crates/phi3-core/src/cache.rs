//! Key/value caches: what an attention layer remembers between decode steps.
//!
//! A cache stores keys and values by *column* (see [`Positions`](crate::Positions)) and hands back
//! everything the new queries may attend to, with the column of each key so that masks can be
//! applied by position. [`NoCache`] is the "no cache" case every attention would otherwise write
//! itself; the preallocated dense and ring-buffer caches live in `phi3-attention`.

use burn::tensor::{Tensor, backend::Backend};

/// The keys/values a layer attends to after an update, with their columns.
pub struct CachedKv<B: Backend> {
    /// `[batch, kv_heads, keys, head_dim]`
    pub keys: Tensor<B, 4>,
    /// `[batch, kv_heads, keys, head_dim]`
    pub values: Tensor<B, 4>,
    /// Column of each key along dimension 2.
    pub columns: Vec<usize>,
}

/// One layer's key/value cache.
pub trait KvCache<B: Backend>: Send {
    /// Stores the keys/values of columns `start..start + n` and returns what the queries of those
    /// columns may attend to (always including the new columns).
    ///
    /// # Shapes
    /// - keys, values: `[batch, kv_heads, n, head_dim]`
    fn update(&mut self, keys: Tensor<B, 4>, values: Tensor<B, 4>, start: usize) -> CachedKv<B>;

    /// Columns stored so far (the next call's `start`).
    fn len(&self) -> usize;

    /// Whether nothing is stored.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Forgets everything: a new generation starts from an empty cache.
    fn reset(&mut self);
}

/// No memory at all: the keys and values of this call are all the queries see. The decoder hands
/// it to every layer of a forward pass without a cache.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoCache;

impl<B: Backend> KvCache<B> for NoCache {
    fn update(&mut self, keys: Tensor<B, 4>, values: Tensor<B, 4>, start: usize) -> CachedKv<B> {
        let n = keys.dims()[2];
        CachedKv {
            keys,
            values,
            columns: (start..start + n).collect(),
        }
    }

    fn len(&self) -> usize {
        0
    }

    fn reset(&mut self) {}
}

/// The caches of every layer of a model, plus the position-encoding epoch they were filled under.
pub struct ModelCache<B: Backend> {
    layers: Vec<Box<dyn KvCache<B>>>,
    epoch: usize,
}

impl<B: Backend> ModelCache<B> {
    /// A cache from per-layer caches.
    pub fn new(layers: Vec<Box<dyn KvCache<B>>>) -> Self {
        Self { layers, epoch: 0 }
    }

    /// Columns cached so far.
    pub fn len(&self) -> usize {
        self.layers.first().map_or(0, |l| l.len())
    }

    /// Whether nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The position-encoding epoch the contents were computed under.
    pub fn epoch(&self) -> usize {
        self.epoch
    }

    /// Empties every layer and records the epoch of what will be written next.
    pub fn reset(&mut self, epoch: usize) {
        for layer in &mut self.layers {
            layer.reset();
        }
        self.epoch = epoch;
    }

    /// Layer `i`'s cache.
    pub fn layer(&mut self, i: usize) -> &mut dyn KvCache<B> {
        self.layers[i].as_mut()
    }

    /// Number of layers.
    pub fn num_layers(&self) -> usize {
        self.layers.len()
    }
}
