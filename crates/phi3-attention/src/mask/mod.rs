//! Attention masks: implementations of [`AttentionMask`] (the trait lives in `phi3-core`).

use phi3_core::AttentionMask;

mod local_global;
mod schedule;
mod sparse;

pub use local_global::LocalGlobal;
pub use schedule::MaskSchedule;
pub use sparse::{FixedSparse, StridedSparse};

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
    fn visible_range(&self, query: usize) -> Option<std::ops::Range<usize>> {
        Some(0..query + 1)
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
        // `query - key < window`, written so that no window, however large, wraps around.
        key <= query && query - key < self.window
    }
    fn name(&self) -> String {
        format!("sliding_window({})", self.window)
    }
    fn window(&self) -> Option<usize> {
        Some(self.window)
    }
    fn visible_range(&self, query: usize) -> Option<std::ops::Range<usize>> {
        Some((query + 1).saturating_sub(self.window)..query + 1)
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
        // A window near usize::MAX is plain causal too (it once wrapped: only key 0 visible).
        let huge = SlidingWindow { window: usize::MAX };
        assert_eq!(matrix(&huge, 5), matrix(&Causal, 5));
        assert_eq!(huge.visible_range(4), Some(0..5));
    }

    #[test]
    fn padded_rows_hide_padding_keys() {
        use burn::backend::Flex;
        use phi3_core::{Positions, masked_tensor};
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
    fn masks_built_on_the_device_equal_the_host_grid() {
        use burn::backend::Flex;
        use phi3_core::{Positions, hidden_tile, masked_tensor};
        let masks: [&dyn AttentionMask; 4] = [
            &Causal,
            &SlidingWindow { window: 1 },
            &SlidingWindow { window: 3 },
            &StridedSparse { stride: 2 }, // no ranges: the host path, checked alike
        ];
        let cases = [
            (Positions::new(1, 0, 6), (0..6).collect::<Vec<_>>()),
            (Positions::new(1, 5, 1), (0..6).collect()),
            (Positions::new(2, 7, 1), vec![4, 5, 6, 7]), // a window's ring, shifted
            (Positions::padded(vec![0, 2, 1], 0, 5), (0..5).collect()),
            (Positions::padded(vec![0, 2, 1], 4, 1), (0..5).collect()),
        ];
        for mask in masks {
            for (positions, keys) in &cases {
                let columns = positions.start..positions.end();
                let (expected, _) = hidden_tile(mask, positions, columns, keys);
                let got = masked_tensor::<Flex, _>(mask, positions, keys, &Default::default());
                let got: Vec<bool> = got.into_data().to_vec().unwrap();
                assert_eq!(got, expected, "{} {positions:?} {keys:?}", mask.name());
            }
        }
    }

    #[test]
    fn visible_ranges_agree_with_visible() {
        let masks: [&dyn AttentionMask; 5] = [
            &Causal,
            &SlidingWindow { window: 0 },
            &SlidingWindow { window: 1 },
            &SlidingWindow { window: 3 },
            &SlidingWindow { window: 40 },
        ];
        for mask in masks {
            for q in 0..24 {
                let range = mask.visible_range(q).expect("one range");
                for k in 0..30 {
                    assert_eq!(range.contains(&k), mask.visible(q, k), "{}", mask.name());
                }
            }
        }
    }

    #[test]
    fn grid_draws_rows_as_queries() {
        assert_eq!(Causal.grid(3), "■ · ·\n■ ■ ·\n■ ■ ■\n");
    }
}
