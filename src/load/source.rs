//! Where a checkpoint's tensors come from: [`WeightSource`], answered by safetensors directories
//! ([`Checkpoint`](super::Checkpoint)) and GGUF files ([`GgufWeights`](crate::gguf::GgufWeights)).

use burn::tensor::TensorData;
use phi3_core::quant::GgmlType;

use crate::error::Result;

/// A checkpoint's tensors, addressed by their checkpoint (Hugging Face) names and read one at a
/// time, so that the loader never holds more than one tensor beside the model it fills.
pub trait WeightSource {
    /// The file that names the tensors (a safetensors file, a shard index, a GGUF file), for
    /// messages.
    fn origin(&self) -> std::path::PathBuf;

    /// Whether the checkpoint holds `name`.
    fn contains(&self, name: &str) -> bool;

    /// The shape of `name` as stored, if present.
    fn shape(&self, name: &str) -> Option<Vec<usize>>;

    /// Tensor `name` as host data in a float type (f32, f16 or bf16); its stored shape must be
    /// `expected`. Errors name the tensor and the file.
    fn read(&mut self, name: &str, expected: &[usize]) -> Result<TensorData>;

    /// How `name` is stored, when it is stored in GGML blocks (GGUF); `None` for float tensors.
    fn block_type(&self, _name: &str) -> Option<GgmlType> {
        None
    }

    /// Tensor `name`'s GGML blocks (along its last dimension, one row per entry of the first),
    /// read straight into `out`, which is exactly their size. Only for tensors
    /// [`Self::block_type`] names; its stored shape must be `expected`.
    fn read_blocks_into(&mut self, name: &str, expected: &[usize], out: &mut [u8]) -> Result<()> {
        let _ = (expected, out);
        Err(phi3_core::ModelError::part(
            "WeightSource",
            "read_blocks",
            format!("`{name}` is not stored in GGML blocks"),
        )
        .into())
    }

    /// The bytes `name` takes in the checkpoint, for progress reports (`None`: unknown).
    fn stored_size(&self, _name: &str) -> Option<u64> {
        None
    }

    /// How many tensors a load reads and their stored bytes, for progress reports (`(0, 0)`:
    /// unknown).
    fn inventory(&self) -> (usize, u64) {
        (0, 0)
    }

    /// Fails if the checkpoint holds tensors that were never read: a config that does not match
    /// its weights must not load silently.
    fn finish(&self) -> Result<()>;
}
