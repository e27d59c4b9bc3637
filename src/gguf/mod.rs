//! GGUF: llama.cpp's single-file format. [`GgufFile`] reads the container, [`dequant`] the
//! tensor types, and [`GgufWeights`] maps llama.cpp's tensor names onto the Hugging Face names
//! the decoder asks for, with the config and tokenizer taken from the metadata.

pub mod dequant;
mod reader;
mod weights;

pub use dequant::{GgmlType, dequantize};
pub use reader::{GgufFile, TensorInfo, Value};
pub use weights::{GgufWeights, config_from_gguf, tokenizer_from_gguf};
