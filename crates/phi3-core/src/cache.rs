//! The model's KV cache: one [`KvCache`] per layer, chosen from the config.

use burn::tensor::backend::Backend;
pub use phi3_attention::{CachedKv, DenseCache, KvCache, WindowCache};

/// The caches of every layer, plus the position-encoding epoch they were filled under.
pub struct ModelCache<B: Backend> {
    layers: Vec<Box<dyn KvCache<B>>>,
    epoch: usize,
}

impl<B: Backend> ModelCache<B> {
    /// A cache from per-layer caches.
    pub fn new(layers: Vec<Box<dyn KvCache<B>>>) -> Self {
        Self { layers, epoch: 0 }
    }

    /// One cache per layer: a ring buffer of `w` slots for a layer whose mask looks back at
    /// most `w` keys (`Some(w)`, narrower than `capacity`), a dense cache otherwise.
    pub fn for_windows(windows: &[Option<usize>], capacity: usize) -> Self {
        Self::new(
            windows
                .iter()
                .map(|window| -> Box<dyn KvCache<B>> {
                    match window {
                        Some(w) if *w < capacity => Box::new(WindowCache::new(*w)),
                        _ => Box::new(DenseCache::new(capacity)),
                    }
                })
                .collect(),
        )
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
