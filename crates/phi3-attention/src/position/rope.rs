//! Rotary position embeddings (Su et al., 2021, "RoFormer") with Phi-3's LongRoPE scaling
//! (Ding et al., 2024) and partial rotary dimensions: the cos/sin tables, from which each forward
//! pass takes its rows as a [`Rotation`] (applied in the `rotate_half` layout).

use burn::config::Config;
use burn::module::Module;
use burn::tensor::{Int, Tensor, TensorData, backend::Backend};
use phi3_core::{PositionEncoding, Positions, RopeScaling, Rotation};

/// Configuration of a [`RotaryEmbedding`].
#[derive(Config, Debug)]
pub struct RotaryEmbeddingConfig {
    /// Size of one attention head.
    pub head_dim: usize,
    /// Number of leading head dimensions that are rotated (`head_dim * partial_rotary_factor`).
    pub rotary_dim: usize,
    /// Number of positions the tables cover (`max_position_embeddings`).
    pub max_positions: usize,
    /// Base wavelength (`rope_theta`).
    #[config(default = 10000.0)]
    pub theta: f64,
    /// Frequency scaling.
    #[config(default = "RopeScaling::None")]
    pub scaling: RopeScaling,
}

/// Rotary position embedding with precomputed cos/sin tables.
///
/// The tables are built once, in f32 whatever the model dtype (a known source of Phi-3 gibberish
/// elsewhere is building them in half precision), mirroring transformers' arithmetic: f32
/// inverse frequencies, f32 `position * inv_freq`, then cos/sin times the attention factor.
#[derive(Module, Debug)]
pub struct RotaryEmbedding<B: Backend> {
    /// `[max_positions, rotary_dim / 2]`, short factors (or plain RoPE).
    cos: Tensor<B, 2>,
    sin: Tensor<B, 2>,
    /// Long-factor tables; present for LongRoPE only.
    cos_long: Option<Tensor<B, 2>>,
    sin_long: Option<Tensor<B, 2>>,
    /// Sequences whose end exceeds this use the long tables.
    long_after: usize,
    rotary_dim: usize,
    max_positions: usize,
}

impl RotaryEmbeddingConfig {
    /// Builds the cos/sin tables on `device`.
    pub fn init<B: Backend>(&self, device: &B::Device) -> RotaryEmbedding<B> {
        let half = self.rotary_dim / 2;
        let table = |factors: Option<&[f64]>, position_scale: f32, attention: f32| {
            let inv_freq: Vec<f32> = (0..half)
                .map(|i| {
                    let exponent = (2 * i) as f32 / self.rotary_dim as f32;
                    let ext = factors.map_or(1.0, |f| f[i] as f32);
                    1.0 / (ext * (self.theta as f32).powf(exponent))
                })
                .collect();
            let mut cos = Vec::with_capacity(self.max_positions * half);
            let mut sin = Vec::with_capacity(self.max_positions * half);
            for p in 0..self.max_positions {
                for f in &inv_freq {
                    let angle = (p as f32 / position_scale) * f;
                    cos.push(angle.cos() * attention);
                    sin.push(angle.sin() * attention);
                }
            }
            let shape = [self.max_positions, half];
            (
                Tensor::<B, 2>::from_data(TensorData::new(cos, shape), device),
                Tensor::<B, 2>::from_data(TensorData::new(sin, shape), device),
            )
        };
        let (cos, sin, long, long_after) = match &self.scaling {
            RopeScaling::None => {
                let (c, s) = table(None, 1.0, 1.0);
                (c, s, None, usize::MAX)
            }
            RopeScaling::Linear { factor } => {
                let (c, s) = table(None, *factor as f32, 1.0);
                (c, s, None, usize::MAX)
            }
            RopeScaling::LongRope {
                short_factor,
                long_factor,
                original_max_position_embeddings,
                attention_factor,
            } => {
                let a = *attention_factor as f32;
                let (c, s) = table(Some(short_factor), 1.0, a);
                let long = table(Some(long_factor), 1.0, a);
                (c, s, Some(long), *original_max_position_embeddings)
            }
        };
        let (cos_long, sin_long) = match long {
            Some((c, s)) => (Some(c), Some(s)),
            None => (None, None),
        };
        RotaryEmbedding {
            cos,
            sin,
            cos_long,
            sin_long,
            long_after,
            rotary_dim: self.rotary_dim,
            max_positions: self.max_positions,
        }
    }
}

impl<B: Backend> RotaryEmbedding<B> {
    /// Number of rotated dimensions per head.
    pub fn rotary_dim(&self) -> usize {
        self.rotary_dim
    }

    /// Whether a sequence ending (exclusively) at `end` uses LongRoPE's long factors. Like
    /// transformers, the choice is made for the whole sequence from its total length.
    pub fn uses_long_factors(&self, end: usize) -> bool {
        self.cos_long.is_some() && end > self.long_after
    }
}

impl<B: Backend> PositionEncoding<B> for RotaryEmbedding<B> {
    /// The cos/sin rows of the forward's positions, gathered once for every layer; the table
    /// pair (LongRoPE short or long) is chosen from the whole sequence's length.
    fn rotation(&self, positions: &Positions, device: &B::Device) -> Option<Rotation<B>> {
        let (cos, sin) = match (&self.cos_long, &self.sin_long) {
            (Some(c), Some(s)) if self.uses_long_factors(positions.max_len()) => (c, s),
            _ => (&self.cos, &self.sin),
        };
        let (seq, half) = (positions.len, self.rotary_dim / 2);
        let (cos, sin) = if positions.is_uniform() {
            let rows = |t: &Tensor<B, 2>| {
                t.clone()
                    .narrow(0, positions.start, seq)
                    .reshape([1, 1, seq, half])
            };
            (rows(cos), rows(sin))
        } else {
            // Left-padded rows: gather each row's own positions (padding gets position 0; its
            // queries and keys are masked anyway).
            let batch = positions.batch();
            let index = TensorData::new(positions.gather_index(), [batch * seq]);
            let index = Tensor::<B, 1, Int>::from_data(index, device);
            let rows = |t: &Tensor<B, 2>| {
                t.clone()
                    .select(0, index.clone())
                    .reshape([batch, 1, seq, half])
            };
            (rows(cos), rows(sin))
        };
        Some(Rotation::new(cos, sin))
    }

    fn max_positions(&self) -> Option<usize> {
        Some(self.max_positions)
    }

    fn cache_epoch(&self, max_len: usize) -> usize {
        self.uses_long_factors(max_len) as usize
    }
}
