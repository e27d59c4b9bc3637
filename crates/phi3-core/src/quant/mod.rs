//! Weights kept in GGML's quantized blocks, as GGUF files store them, and the CPU kernels that
//! multiply by them without dequantizing the whole matrix: the block formats ([`GgmlType`],
//! [`dequantize`]), a matrix of blocks ([`QuantizedMatrix`]), activations quantized to 8 bits
//! ([`quantize_q8`], [`quantize_q8k`]), integer dot products compiled per instruction set
//! ([`Isa`]).

mod activation;
mod dot;
mod format;
mod kernels;
mod matrix;
mod team;
mod test_blocks;
#[cfg(target_arch = "x86_64")]
mod x86;

pub use activation::{Q8Blocks, Q8KBlocks, quantize_q8, quantize_q8k};
pub use format::{GgmlType, QK_K, dequantize, quantize};
pub use kernels::Isa;
pub use matrix::{MatrixBuffer, Part, QuantizedMatrix};
#[cfg_attr(not(feature = "flex"), allow(unused_imports))]
pub(crate) use team::{SharedOut, Team, split};
#[doc(hidden)]
pub use test_blocks::random_blocks;

/// Whether backend `B` runs phi3's block kernels (Burn's Flex CPU backend). Elsewhere a loader
/// dequantizes GGML blocks.
pub fn kernels_run_on<B: burn::tensor::backend::Backend>() -> bool {
    crate::flex::is_flex::<B>()
}
