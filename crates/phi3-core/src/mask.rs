//! Attention masks: which key positions each query position may see.
//!
//! A mask is a pure function of absolute positions, so the same mask serves a full forward pass
//! and a cached decode step (where the single query sits at the end of the sequence). The
//! implementations (causal, sliding window, sparse, Longformer) live in `phi3-attention`.

use std::fmt::Debug;
use std::sync::Arc;

use burn::tensor::{Bool, Int, Tensor, TensorData, backend::Backend};

use crate::positions::Positions;

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

    /// The keys `query` sees as one range of positions, when they form one (causal, sliding
    /// window): a kernel then skips asking [`Self::visible`] key by key. `None`, the default,
    /// when they do not (sparse patterns). Must agree with `visible`.
    fn visible_range(&self, query: usize) -> Option<std::ops::Range<usize>> {
        let _ = query;
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
/// Where the mask names each query's keys as one range ([`AttentionMask::visible_range`]:
/// causal, sliding window) the grid is computed on the device from a bound per query and a
/// position per key — `rows · (q + k)` integers sent rather than `rows · q · k` flags, which
/// matters on a GPU, where this runs every layer. Other masks are built on the host.
///
/// # Shapes
/// - output: `[batch, q_len, k_len]` (batch 1 when no row is padded; it broadcasts)
pub fn masked_tensor<B: Backend, M: AttentionMask + ?Sized>(
    mask: &M,
    positions: &Positions,
    key_columns: &[usize],
    device: &B::Device,
) -> Tensor<B, 3, Bool> {
    let columns = positions.start..positions.end();
    if let Some(bounds) = range_bounds(mask, positions, columns.clone(), key_columns) {
        return bounds.hidden(device);
    }
    let (hidden, shape) = hidden_tile(mask, positions, columns, key_columns);
    Tensor::from_data(TensorData::new(hidden, shape), device)
}

/// A range mask in `rows · (q + k)` integers: query `i` of row `r` sees key `j` exactly when
/// `low[r, i] ≤ key[r, j] < high[r, i]`.
struct RangeBounds {
    low: Vec<i64>,
    high: Vec<i64>,
    keys: Vec<i64>,
    shape: [usize; 3],
}

/// What stands for a padding column, as a key position and as the one key a padding query sees:
/// negative, so no real query's range (≥ 0) contains it, and distinct per column.
fn padding_code(column: usize) -> i64 {
    -(column as i64) - 2
}

/// The bounds of `mask` for the queries in `columns`, or `None` when some query's keys are not
/// one range.
fn range_bounds<M: AttentionMask + ?Sized>(
    mask: &M,
    positions: &Positions,
    columns: std::ops::Range<usize>,
    key_columns: &[usize],
) -> Option<RangeBounds> {
    let rows = if positions.is_uniform() {
        1
    } else {
        positions.batch()
    };
    let (q_len, k_len) = (columns.len(), key_columns.len());
    let mut bounds = RangeBounds {
        low: Vec::with_capacity(rows * q_len),
        high: Vec::with_capacity(rows * q_len),
        keys: Vec::with_capacity(rows * k_len),
        shape: [rows, q_len, k_len],
    };
    for row in 0..rows {
        for q_col in columns.clone() {
            let (low, high) = match positions.position(row, q_col) {
                None => (padding_code(q_col), padding_code(q_col) + 1),
                Some(q) => {
                    let range = mask.visible_range(q)?;
                    (range.start as i64, range.end as i64)
                }
            };
            bounds.low.push(low);
            bounds.high.push(high);
        }
        for &k_col in key_columns {
            let key = positions.position(row, k_col);
            bounds
                .keys
                .push(key.map_or(padding_code(k_col), |k| k as i64));
        }
    }
    Some(bounds)
}

impl RangeBounds {
    /// The hidden flags, compared on the device.
    fn hidden<B: Backend>(self, device: &B::Device) -> Tensor<B, 3, Bool> {
        let [rows, q_len, k_len] = self.shape;
        let column = |values: Vec<i64>| {
            Tensor::<B, 3, Int>::from_data(TensorData::new(values, [rows, q_len, 1]), device)
                .expand([rows, q_len, k_len])
        };
        let (low, high) = (column(self.low), column(self.high));
        let keys =
            Tensor::<B, 3, Int>::from_data(TensorData::new(self.keys, [rows, 1, k_len]), device)
                .expand([rows, q_len, k_len]);
        keys.clone().lower(low).bool_or(keys.greater_equal(high))
    }
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
    fn visible_range(&self, query: usize) -> Option<std::ops::Range<usize>> {
        (**self).visible_range(query)
    }
}
