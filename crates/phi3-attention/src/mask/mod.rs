//! Attention masks: which key positions each query position may see.
//!
//! A mask is a pure function of absolute positions, so the same mask serves a full forward pass
//! and a cached decode step (where the single query sits at the end of the sequence).

use std::fmt::Debug;
use std::sync::Arc;

use burn::tensor::{Bool, Tensor, TensorData, backend::Backend};

use crate::positions::Positions;

mod local_global;
mod schedule;
mod sparse;

pub use local_global::LocalGlobal;
pub use schedule::MaskSchedule;
pub use sparse::{FixedSparse, StridedSparse};

/// Which keys a query may attend to. Positions are absolute token positions in the sequence.
pub trait AttentionMask: Debug + Send + Sync {
    /// `true` when the query at `query` may see the key at `key`.
    fn visible(&self, query: usize, key: usize) -> bool;

    /// A short human-readable name, e.g. `causal` or `sliding_window(4)`.
    fn name(&self) -> String;

    /// `Some(w)` when no query ever sees a key more than `w - 1` positions back, so a KV cache
    /// of `w` slots suffices (a sliding window). `None` by default.
    fn window(&self) -> Option<usize> {
        None
    }

    /// The mask drawn as a grid: row `i` is query `i`, `■` a visible key, `·` a hidden one
    /// (the walk-through's pictures of attention patterns).
    fn grid(&self, len: usize) -> String {
        let mut out = String::new();
        for q in 0..len {
            for k in 0..len {
                out.push(if self.visible(q, k) { '■' } else { '·' });
                if k + 1 < len {
                    out.push(' ');
                }
            }
            out.push('\n');
        }
        out
    }
}

/// The boolean mask Burn's attention ops expect, `true` where a score is **hidden**, for the
/// queries of `positions` against keys at `key_columns`.
///
/// Padding keys are hidden from every query; a padding query sees only itself (so its softmax
/// row stays finite and cannot leak NaN into real rows).
///
/// # Shapes
/// - output: `[batch, q_len, k_len]` (batch 1 when no row is padded; it broadcasts)
pub fn masked_tensor<B: Backend, M: AttentionMask + ?Sized>(
    mask: &M,
    positions: &Positions,
    key_columns: &[usize],
    device: &B::Device,
) -> Tensor<B, 3, Bool> {
    let (hidden, shape) = hidden_tile(
        mask,
        positions,
        positions.start..positions.end(),
        key_columns,
    );
    Tensor::from_data(TensorData::new(hidden, shape), device)
}

/// The hidden flags of the queries in `columns` (a sub-range of `positions`) against
/// `key_columns`, row-major `[rows, q, k]`, `rows` = 1 for an unpadded batch.
pub fn hidden_tile<M: AttentionMask + ?Sized>(
    mask: &M,
    positions: &Positions,
    columns: std::ops::Range<usize>,
    key_columns: &[usize],
) -> (Vec<bool>, [usize; 3]) {
    let rows = if positions.is_uniform() {
        1
    } else {
        positions.batch()
    };
    let (q_len, k_len) = (columns.len(), key_columns.len());
    let mut hidden = Vec::with_capacity(rows * q_len * k_len);
    for row in 0..rows {
        for q_col in columns.clone() {
            let q_pos = positions.position(row, q_col);
            for &k_col in key_columns {
                let visible = match (q_pos, positions.position(row, k_col)) {
                    (None, _) => k_col == q_col,
                    (Some(_), None) => false,
                    (Some(q), Some(k)) => mask.visible(q, k),
                };
                hidden.push(!visible);
            }
        }
    }
    (hidden, [rows, q_len, k_len])
}

impl<M: AttentionMask + ?Sized> AttentionMask for Arc<M> {
    fn visible(&self, query: usize, key: usize) -> bool {
        (**self).visible(query, key)
    }
    fn name(&self) -> String {
        (**self).name()
    }
    fn window(&self) -> Option<usize> {
        (**self).window()
    }
}

/// Standard autoregressive mask: a query sees itself and every earlier key.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Causal;

impl AttentionMask for Causal {
    fn visible(&self, query: usize, key: usize) -> bool {
        key <= query
    }
    fn name(&self) -> String {
        "causal".into()
    }
}

/// Causal attention limited to the last `window` keys, with transformers' semantics
/// (`masking_utils.sliding_window_overlay`): the query at `i` sees keys `j` with
/// `i - window < j <= i`, so a window of 1 sees only itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlidingWindow {
    /// Number of keys (including the query's own position) each query sees.
    pub window: usize,
}

impl AttentionMask for SlidingWindow {
    fn visible(&self, query: usize, key: usize) -> bool {
        key <= query && key + self.window > query
    }
    fn name(&self) -> String {
        format!("sliding_window({})", self.window)
    }
    fn window(&self) -> Option<usize> {
        Some(self.window)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matrix(mask: &dyn AttentionMask, n: usize) -> Vec<Vec<u8>> {
        (0..n)
            .map(|q| (0..n).map(|k| mask.visible(q, k) as u8).collect())
            .collect()
    }

    #[test]
    fn causal_is_lower_triangular() {
        let expected = vec![
            vec![1, 0, 0, 0],
            vec![1, 1, 0, 0],
            vec![1, 1, 1, 0],
            vec![1, 1, 1, 1],
        ];
        assert_eq!(matrix(&Causal, 4), expected);
    }

    #[test]
    fn sliding_window_follows_transformers() {
        let expected = vec![
            vec![1, 0, 0, 0, 0],
            vec![1, 1, 0, 0, 0],
            vec![0, 1, 1, 0, 0],
            vec![0, 0, 1, 1, 0],
            vec![0, 0, 0, 1, 1],
        ];
        assert_eq!(matrix(&SlidingWindow { window: 2 }, 5), expected);
        // Window 1: only the diagonal. Window >= seq: plain causal.
        let diag: Vec<Vec<u8>> = (0..3)
            .map(|q| (0..3).map(|k| (q == k) as u8).collect())
            .collect();
        assert_eq!(matrix(&SlidingWindow { window: 1 }, 3), diag);
        assert_eq!(matrix(&SlidingWindow { window: 9 }, 5), matrix(&Causal, 5));
    }

    #[test]
    fn padded_rows_hide_padding_keys() {
        use burn::backend::Flex;
        // Row 1 has one padding column; its padding query sees only itself.
        let positions = Positions::padded(vec![0, 1], 0, 3);
        let t = masked_tensor::<Flex, _>(&Causal, &positions, &[0, 1, 2], &Default::default());
        let hidden: Vec<bool> = t.into_data().to_vec().unwrap();
        let visible: Vec<u8> = hidden.iter().map(|&h| !h as u8).collect();
        assert_eq!(
            visible,
            vec![
                1, 0, 0, 1, 1, 0, 1, 1, 1, /* row 1 */ 1, 0, 0, 0, 1, 0, 0, 1, 1
            ]
        );
    }

    #[test]
    fn grid_draws_rows_as_queries() {
        assert_eq!(Causal.grid(3), "■ · ·\n■ ■ ·\n■ ■ ■\n");
    }
}
