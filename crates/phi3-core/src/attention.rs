//! Self-attention as a pluggable part: the [`Attention`] trait and the [`AttentionStep`] a decoder
//! layer hands it. The implementations (MHA / MQA / GQA, kernels) live in `phi3-attention`.

use burn::module::{Module, ModuleDisplay};
use burn::tensor::{Bool, Tensor, backend::Backend};

use crate::cache::{CachedKv, KvCache};
use crate::mask::{AttentionMask, masked_tensor};
use crate::position::Rotation;
use crate::positions::Positions;

/// A self-attention block: projections in, scaled dot-product attention, projection out.
///
/// Implement it to plug a new attention into a decoder layer; the layer hands it the normalised
/// hidden states and an [`AttentionStep`]: where the tokens sit, the layer's mask, the rotation
/// of the model's position encoding and the layer's KV cache. Like every part it is `Sync`: a
/// model is shared across threads (a forward runs on rayon's pool on the CPU).
pub trait Attention<B: Backend>: Module<B> + ModuleDisplay + Sync {
    /// Attends over `x`, the tokens of `step.positions`.
    ///
    /// # Shapes
    /// - x: `[batch, seq, hidden]` → `[batch, seq, hidden]`
    fn forward(&self, x: Tensor<B, 3>, step: &mut AttentionStep<'_, B>) -> Tensor<B, 3>;

    /// An empty KV cache for this attention, for up to `capacity` columns under `mask` (a layer
    /// whose mask never looks back further than a window may keep only that window).
    fn new_cache(&self, capacity: usize, mask: &dyn AttentionMask) -> Box<dyn KvCache<B>>;
}

/// Everything one attention call needs besides its input.
pub struct AttentionStep<'a, B: Backend> {
    /// The columns of this call (and each batch row's padding).
    pub positions: &'a Positions,
    /// Which keys each query may see in this layer.
    pub mask: &'a dyn AttentionMask,
    /// The position encoding's rotation of queries and keys, if it has one.
    pub rotation: Option<&'a Rotation<B>>,
    /// The layer's cache: a real one during cached generation, [`NoCache`](crate::NoCache)
    /// otherwise — so an attention never writes a "no cache" branch of its own.
    pub cache: &'a mut dyn KvCache<B>,
}

impl<B: Backend> AttentionStep<'_, B> {
    /// Queries and keys rotated by the position encoding (unchanged when it does not rotate).
    ///
    /// # Shapes
    /// - q: `[batch, heads, seq, head_dim]`, k: `[batch, kv_heads, seq, head_dim]`; both unchanged.
    pub fn rotate(&self, q: Tensor<B, 4>, k: Tensor<B, 4>) -> (Tensor<B, 4>, Tensor<B, 4>) {
        match self.rotation {
            Some(r) => (r.rotate(q), r.rotate(k)),
            None => (q, k),
        }
    }

    /// Stores this call's keys and values in the cache and returns everything the queries may
    /// attend to, with the column of each key.
    ///
    /// # Shapes
    /// - keys, values: `[batch, kv_heads, seq, head_dim]` → `[batch, kv_heads, keys, head_dim]`
    pub fn keys_values(&mut self, keys: Tensor<B, 4>, values: Tensor<B, 4>) -> CachedKv<B> {
        self.cache.update(keys, values, self.positions.start)
    }

    /// The mask as Burn's boolean tensor, `true` where a score is hidden, for this call's queries
    /// against keys at `key_columns`.
    ///
    /// # Shapes
    /// - output: `[batch or 1, seq, keys]`
    pub fn hidden(&self, key_columns: &[usize], device: &B::Device) -> Tensor<B, 3, Bool> {
        masked_tensor::<B, _>(self.mask, self.positions, key_columns, device)
    }
}
