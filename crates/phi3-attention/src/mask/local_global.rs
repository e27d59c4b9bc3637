//! Longformer's attention (Beltagy et al., 2020), causal: a local window plus global tokens.

use super::AttentionMask;

/// A sliding window of `window` keys, plus `global` positions that every later query sees and
/// that themselves see every earlier key (e.g. a task prefix or a `<s>` token).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalGlobal {
    /// Local window, as [`SlidingWindow`](super::SlidingWindow).
    pub window: usize,
    /// Global positions.
    pub global: Vec<usize>,
}

impl AttentionMask for LocalGlobal {
    fn visible(&self, query: usize, key: usize) -> bool {
        key <= query
            && (query - key < self.window
                || self.global.contains(&key)
                || self.global.contains(&query))
    }
    fn name(&self) -> String {
        format!("local_global({}, {:?})", self.window, self.global)
    }
}
