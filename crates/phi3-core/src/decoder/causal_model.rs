//! The one seam for "a causal language model": what generation, the pipeline, the examples and
//! user code take, without naming a composition's parts.

use burn::tensor::{Int, Tensor, TensorData, backend::Backend};

use crate::cache::ModelCache;
use crate::config::Phi3Config;
use crate::error::{ModelError, Result};
use crate::positions::Positions;

/// A decoder-only language model: token ids in, hidden states and logits out, with a KV cache.
///
/// [`CausalLm`](crate::CausalLm) implements it for every composition of parts; a model of your
/// own that implements it gets generation and the text pipeline of the root `phi3` crate. The
/// trait is object-safe: `Box<dyn CausalModel<B>>` chooses a model at run time.
pub trait CausalModel<B: Backend> {
    /// Sizes, context length and special tokens.
    fn config(&self) -> &Phi3Config;

    /// The device the weights live on.
    fn device(&self) -> B::Device;

    /// Hidden states after the final norm (transformers' `model.model(...)`) for the columns
    /// `positions` describes. With `cache`, keys and values are stored there and attention
    /// covers everything it holds.
    ///
    /// # Shapes
    /// - input_ids: `[batch, positions.len]` → `[batch, positions.len, hidden]`
    fn hidden_states(
        &self,
        input_ids: Tensor<B, 2, Int>,
        positions: &Positions,
        cache: Option<&mut ModelCache<B>>,
    ) -> Result<Tensor<B, 3>>;

    /// Vocabulary logits of hidden states (transformers' `lm_head`).
    ///
    /// # Shapes
    /// - hidden: `[batch, seq, hidden]` → `[batch, seq, vocab]`
    fn logits(&self, hidden: Tensor<B, 3>) -> Tensor<B, 3>;

    /// An empty cache for up to `capacity` columns, one per layer.
    fn new_cache(&self, capacity: usize) -> ModelCache<B>;

    /// The cache epoch a sequence of `max_len` tokens needs: cached keys of another epoch are
    /// stale (LongRoPE switching to its long factors).
    fn cache_epoch(&self, max_len: usize) -> usize;

    /// Checks token ids against the vocabulary and makes a `[1, len]` batch of them.
    fn input_ids(&self, ids: &[u32]) -> Result<Tensor<B, 2, Int>> {
        let vocab = self.config().vocab_size;
        if ids.is_empty() {
            return Err(ModelError::EmptyInput);
        }
        if let Some(&id) = ids.iter().find(|&&id| id as usize >= vocab) {
            return Err(ModelError::TokenOutOfRange {
                id: id.into(),
                vocab,
            });
        }
        let data: Vec<i64> = ids.iter().map(|&id| id as i64).collect();
        Ok(Tensor::from_data(
            TensorData::new(data, [1, ids.len()]),
            &self.device(),
        ))
    }
}
