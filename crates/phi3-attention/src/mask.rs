//! Attention masks: which key positions each query position may see.
//!
//! A mask is a pure function of absolute positions, so the same mask serves a full forward pass
//! and a cached decode step (where the single query sits at the end of the sequence).

use std::fmt::Debug;
use std::sync::Arc;

use burn::tensor::{Bool, Tensor, TensorData, backend::Backend};

/// Which keys a query may attend to. Positions are absolute token positions in the sequence.
pub trait AttentionMask: Debug + Send + Sync {
    /// `true` when the query at `query` may see the key at `key`.
    fn visible(&self, query: usize, key: usize) -> bool;

    /// A short human-readable name, e.g. `causal` or `sliding_window(4)`.
    fn name(&self) -> String;

    /// The boolean tensor Burn's attention ops expect, `true` where the score is **masked out**.
    ///
    /// # Shapes
    /// - output: `[q_len, k_len]` for queries at `q_start..q_start + q_len` and keys at
    ///   `k_start..k_start + k_len`.
    fn to_tensor<B: Backend>(
        &self,
        q_start: usize,
        q_len: usize,
        k_start: usize,
        k_len: usize,
        device: &B::Device,
    ) -> Tensor<B, 2, Bool>
    where
        Self: Sized,
    {
        masked_tensor(self, q_start, q_len, k_start, k_len, device)
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

/// [`AttentionMask::to_tensor`] for any mask, including trait objects.
pub fn masked_tensor<B: Backend, M: AttentionMask + ?Sized>(
    mask: &M,
    q_start: usize,
    q_len: usize,
    k_start: usize,
    k_len: usize,
    device: &B::Device,
) -> Tensor<B, 2, Bool> {
    let mut hidden = Vec::with_capacity(q_len * k_len);
    for q in q_start..q_start + q_len {
        for k in k_start..k_start + k_len {
            hidden.push(!mask.visible(q, k));
        }
    }
    Tensor::from_data(TensorData::new(hidden, [q_len, k_len]), device)
}

impl<M: AttentionMask + ?Sized> AttentionMask for Arc<M> {
    fn visible(&self, query: usize, key: usize) -> bool {
        (**self).visible(query, key)
    }
    fn name(&self) -> String {
        (**self).name()
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
    fn grid_draws_rows_as_queries() {
        assert_eq!(Causal.grid(3), "■ · ·\n■ ■ ·\n■ ■ ■\n");
    }
}
