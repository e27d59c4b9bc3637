//! The composed models: each a choice of parts for the generic decoder, with the names its
//! checkpoints give those parts.
//!
//! - [`phi3`] — Phi-3 (and Llama): grouped-query attention, SwiGLU, RMSNorm, RoPE / LongRoPE.
//! - [`gpt2`] — GPT-2: multi-head attention with biases, GELU MLP, LayerNorm, learned positions.

pub mod gpt2;
pub mod phi3;
pub mod print;

pub use phi3::{Phi3DecoderLayer, Phi3ForCausalLM, Phi3Model};
pub use print::{model_tree, parameter_count};
