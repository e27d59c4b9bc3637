//! The two factorized patterns of "Generating Long Sequences with Sparse Transformers"
//! (Child et al., 2019), as causal masks.

use super::AttentionMask;

/// Strided pattern: each query sees the previous `stride` keys (itself included) and every
/// `stride`-th key before that — suited to data with a period, like images.
/// Query `i` sees key `j ≤ i` when `i − j < stride` or `(i − j) mod stride = 0`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StridedSparse {
    /// Local band width and stride (the paper's `l`, about √n).
    pub stride: usize,
}

impl AttentionMask for StridedSparse {
    fn visible(&self, query: usize, key: usize) -> bool {
        key <= query
            && ((query - key) < self.stride || (query - key).is_multiple_of(self.stride.max(1)))
    }
    fn name(&self) -> String {
        format!("strided_sparse({})", self.stride)
    }
}

/// Fixed pattern: keys in the query's own block, plus the last `summary` keys of every block,
/// which summarise it — suited to text. Query `i` sees key `j ≤ i` when `⌊j/block⌋ = ⌊i/block⌋` or
/// `j mod block ≥ block − summary`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FixedSparse {
    /// Block length (the paper's `l`).
    pub block: usize,
    /// Summary keys at the end of each block (the paper's `c`).
    pub summary: usize,
}

impl AttentionMask for FixedSparse {
    fn visible(&self, query: usize, key: usize) -> bool {
        let block = self.block.max(1);
        key <= query
            && (key / block == query / block || key % block >= block.saturating_sub(self.summary))
    }
    fn name(&self) -> String {
        format!("fixed_sparse({}, {})", self.block, self.summary)
    }
}
