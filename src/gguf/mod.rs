//! GGUF: llama.cpp's single-file format. [`GgufFile`] reads the container, and [`GgufWeights`]
//! maps llama.cpp's tensor names onto the Hugging Face names the decoder asks for, with the config
//! and tokenizer taken from the metadata. The block types themselves ([`GgmlType`],
//! [`dequantize`]) are `phi3-core`'s, whose kernels compute with them.

mod reader;
mod weights;

pub use phi3_core::quant::{GgmlType, dequantize};
pub use reader::{GgufFile, TensorInfo, Value};
pub use weights::{GgufWeights, config_from_gguf, generation_defaults, tokenizer_from_gguf};
