//! Absolute position encodings, added to the token embeddings: the original Transformer's fixed
//! sinusoids (Vaswani et al., 2017), learned vectors (GPT-2), and none at all.

use std::marker::PhantomData;

use burn::module::{Initializer, Module, Param};
use burn::tensor::{Int, Tensor, TensorData, backend::Backend};
use phi3_core::{PositionEncoding, Positions};

/// Rows `positions` of `table`, shaped to add to `[batch, seq, hidden]` embeddings.
fn rows_for<B: Backend>(table: Tensor<B, 2>, positions: &Positions) -> Tensor<B, 3> {
    let hidden = table.dims()[1];
    let seq = positions.len;
    if positions.is_uniform() {
        return table
            .narrow(0, positions.start, seq)
            .reshape([1, seq, hidden]);
    }
    let batch = positions.batch();
    let index = TensorData::new(positions.gather_index(), [batch * seq]);
    let index = Tensor::<B, 1, Int>::from_data(index, &table.device());
    table.select(0, index).reshape([batch, seq, hidden])
}

/// Fixed sinusoids: `PE(p, 2i) = sin(p / 10000^(2i/d))`, `PE(p, 2i+1) = cos(p / 10000^(2i/d))`.
#[derive(Module, Debug)]
pub struct SinusoidalPositions<B: Backend> {
    table: Tensor<B, 2>,
    max_positions: usize,
}

impl<B: Backend> SinusoidalPositions<B> {
    /// A table for `max_positions` positions of width `hidden` (even).
    pub fn new(max_positions: usize, hidden: usize, device: &B::Device) -> Self {
        let mut table = Vec::with_capacity(max_positions * hidden);
        for p in 0..max_positions {
            for i in 0..hidden {
                let angle = p as f64 / 10000f64.powf((i - i % 2) as f64 / hidden as f64);
                table.push(if i % 2 == 0 { angle.sin() } else { angle.cos() } as f32);
            }
        }
        Self {
            table: Tensor::from_data(TensorData::new(table, [max_positions, hidden]), device),
            max_positions,
        }
    }
}

impl<B: Backend> PositionEncoding<B> for SinusoidalPositions<B> {
    fn embed(&self, x: Tensor<B, 3>, positions: &Positions) -> Tensor<B, 3> {
        x + rows_for(self.table.clone(), positions)
    }
    fn max_positions(&self) -> Option<usize> {
        Some(self.max_positions)
    }
}

/// A learned vector per position (GPT-2's `wpe`), `[max_positions, hidden]`.
#[derive(Module, Debug)]
pub struct LearnedPositions<B: Backend> {
    /// The position embeddings.
    pub weight: Param<Tensor<B, 2>>,
}

impl<B: Backend> LearnedPositions<B> {
    /// Random N(0, 0.02²) embeddings, as GPT-2 initialises them (lazily: a model filled from a
    /// checkpoint never allocates them).
    pub fn new(max_positions: usize, hidden: usize, device: &B::Device) -> Self {
        let init = Initializer::Normal {
            mean: 0.0,
            std: 0.02,
        };
        Self {
            weight: init.init([max_positions, hidden], device),
        }
    }
}

impl<B: Backend> PositionEncoding<B> for LearnedPositions<B> {
    fn embed(&self, x: Tensor<B, 3>, positions: &Positions) -> Tensor<B, 3> {
        x + rows_for(self.weight.val(), positions)
    }
    fn max_positions(&self) -> Option<usize> {
        Some(self.weight.dims()[0])
    }
}

/// No position information at all ("NoPE"): a causal mask alone still lets a decoder infer order.
#[derive(Module, Debug, Default)]
pub struct NoPositions<B: Backend> {
    _backend: PhantomData<B>,
}

impl<B: Backend> NoPositions<B> {
    /// The identity encoding.
    pub fn new() -> Self {
        Self {
            _backend: PhantomData,
        }
    }
}

impl<B: Backend> PositionEncoding<B> for NoPositions<B> {}
