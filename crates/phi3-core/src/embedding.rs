//! The token embedding, whose table may be kept in GGML blocks like [`Linear`](crate::Linear)'s.

use burn::module::{Content, DisplaySettings, Initializer, Module, ModuleDisplay, Param};
use burn::tensor::module::embedding;
use burn::tensor::{Int, Tensor, TensorData, backend::Backend};

use crate::error::Result;
use crate::linear::no_blocks;
use crate::quant::QuantizedMatrix;

/// A `[vocab, hidden]` table of token vectors: floats in `weight`, or GGML blocks in `quantized`
/// (one row per token, as GGUF's `token_embd` stores them), of which a lookup dequantizes only
/// the rows it needs. A tied `lm_head` multiplies by the same table.
#[derive(Module, Debug)]
#[module(custom_display)]
pub struct Embedding<B: Backend> {
    /// GGML blocks, or empty. The first field: the loader fills it before `weight`.
    pub quantized: Param<Tensor<B, 1, Int>>,
    /// `[vocab, hidden]`; lazily dequantized from `quantized` when that holds the table.
    pub weight: Param<Tensor<B, 2>>,
}

impl<B: Backend> Embedding<B> {
    /// Random N(0, 1) vectors (as PyTorch's and Burn's `Embedding`), created lazily.
    pub fn init(vocab: usize, hidden: usize, device: &B::Device) -> Self {
        let init = Initializer::Normal {
            mean: 0.0,
            std: 1.0,
        };
        Self {
            quantized: no_blocks(device),
            weight: init.init([vocab, hidden], device),
        }
    }

    /// An embedding from a `[vocab, hidden]` table.
    pub fn new(weight: Tensor<B, 2>) -> Self {
        Self {
            quantized: no_blocks(&weight.device()),
            weight: Param::from_tensor(weight),
        }
    }

    /// `[vocab, hidden]`, read without initialising a lazy table.
    pub fn dims(&self) -> [usize; 2] {
        self.weight.lazy_shape().dims()
    }

    /// The vectors of `ids`.
    ///
    /// # Shapes
    /// - ids: `[batch, seq]` → `[batch, seq, hidden]`
    pub fn forward(&self, ids: Tensor<B, 2, Int>) -> Result<Tensor<B, 3>> {
        if self.quantized.lazy_shape().dims::<1>()[0] == 0 {
            return Ok(embedding(self.weight.val(), ids));
        }
        let [batch, seq] = ids.dims();
        let device = ids.device();
        let ids: Vec<i64> = ids.into_data().convert::<i64>().into_vec()?;
        // The table is tens of MB and a lookup reads a few rows: borrowed in place on Flex, read
        // back elsewhere.
        #[cfg(feature = "flex")]
        if let Some(flex) = crate::flex::int_bytes(self.quantized.val()) {
            return rows_of(flex.bytes(), &ids, [batch, seq], &device);
        }
        let data = self.quantized.val().into_data();
        rows_of(data.as_bytes(), &ids, [batch, seq], &device)
    }
}

/// The dequantized rows `ids` of the blocks in `bytes`, shaped `[batch, seq, hidden]`.
fn rows_of<B: Backend>(
    bytes: &[u8],
    ids: &[i64],
    [batch, seq]: [usize; 2],
    device: &B::Device,
) -> Result<Tensor<B, 3>> {
    let m = QuantizedMatrix::from_bytes(bytes)
        .map_err(|message| crate::ModelError::part("Embedding", "quantized", message))?;
    let mut rows = Vec::with_capacity(ids.len() * m.cols());
    let mut row = Vec::with_capacity(m.cols());
    for &id in ids {
        m.dequantize_rows(id as usize, 1, &mut row);
        rows.extend_from_slice(&row);
    }
    Ok(Tensor::from_data(
        TensorData::new(rows, [batch, seq, m.cols()]),
        device,
    ))
}

impl<B: Backend> ModuleDisplay for Embedding<B> {
    fn custom_settings(&self) -> Option<DisplaySettings> {
        DisplaySettings::new()
            .with_new_line_after_attribute(false)
            .optional()
    }

    fn custom_content(&self, content: Content) -> Option<Content> {
        let [vocab, hidden] = self.dims();
        content
            .add("n_embedding", &vocab)
            .add("d_model", &hidden)
            .optional()
    }
}
