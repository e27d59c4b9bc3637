//! Key/value caches for [`GroupedQueryAttention`](crate::GroupedQueryAttention) and any attention
//! that stores `[batch, kv_heads, keys, head_dim]` keys and values. Both preallocate: a step writes
//! into its slot in place instead of concatenating a new tensor every step.

use burn::tensor::{Tensor, backend::Backend};
use phi3_core::{CachedKv, KvCache};

/// Every column, in one preallocated buffer per tensor that doubles when full.
#[derive(Debug)]
pub struct DenseCache<B: Backend> {
    keys: Option<Tensor<B, 4>>,
    values: Option<Tensor<B, 4>>,
    capacity: usize,
    len: usize,
}

impl<B: Backend> DenseCache<B> {
    /// A cache that will hold `capacity` columns without reallocating.
    pub fn new(capacity: usize) -> Self {
        Self {
            keys: None,
            values: None,
            capacity: capacity.max(1),
            len: 0,
        }
    }

    fn reserve(&mut self, like: &Tensor<B, 4>, needed: usize) {
        let [b, h, _, d] = like.dims();
        let allocated = self.keys.as_ref().map_or(0, |k| k.dims()[2]);
        if needed <= allocated {
            return;
        }
        let capacity = needed.max(self.capacity).max(2 * allocated);
        let device = like.device();
        let grow = |old: Option<Tensor<B, 4>>, len: usize| {
            let fresh = Tensor::<B, 4>::zeros([b, h, capacity, d], &device);
            match old {
                Some(old) if len > 0 => {
                    fresh.slice_assign([0..b, 0..h, 0..len, 0..d], old.narrow(2, 0, len))
                }
                _ => fresh,
            }
        };
        self.keys = Some(grow(self.keys.take(), self.len));
        self.values = Some(grow(self.values.take(), self.len));
        self.capacity = capacity;
    }
}

impl<B: Backend> KvCache<B> for DenseCache<B> {
    fn update(&mut self, keys: Tensor<B, 4>, values: Tensor<B, 4>, start: usize) -> CachedKv<B> {
        let [b, h, n, d] = keys.dims();
        debug_assert_eq!(start, self.len, "dense cache columns must be contiguous");
        let end = start + n;
        self.reserve(&keys, end);
        let range = [0..b, 0..h, start..end, 0..d];
        // slice_assign writes in place when the buffer is not shared: the views handed out by the
        // previous step are dropped by then.
        let k = self
            .keys
            .take()
            .expect("reserved")
            .slice_assign(range.clone(), keys);
        let v = self
            .values
            .take()
            .expect("reserved")
            .slice_assign(range, values);
        self.keys = Some(k.clone());
        self.values = Some(v.clone());
        self.len = end;
        CachedKv {
            keys: k.narrow(2, 0, end),
            values: v.narrow(2, 0, end),
            columns: (0..end).collect(),
        }
    }

    fn len(&self) -> usize {
        self.len
    }

    fn reset(&mut self) {
        self.len = 0;
    }
}

/// Only the last `window` columns, in a ring buffer: enough for a sliding-window layer, whose
/// queries never see further back. Slot `c % window` holds column `c`.
#[derive(Debug)]
pub struct WindowCache<B: Backend> {
    keys: Option<Tensor<B, 4>>,
    values: Option<Tensor<B, 4>>,
    window: usize,
    len: usize,
}

impl<B: Backend> WindowCache<B> {
    /// A ring of `window` slots.
    pub fn new(window: usize) -> Self {
        Self {
            keys: None,
            values: None,
            window: window.max(1),
            len: 0,
        }
    }

    /// Columns held in the ring, by slot.
    fn slot_columns(&self) -> Vec<usize> {
        let held = self.len.min(self.window);
        (0..held)
            .map(|slot| {
                // The latest column c < len with c % window == slot.
                let last = self.len - 1;
                last - ((last % self.window + self.window - slot) % self.window)
            })
            .collect()
    }

    fn write(&mut self, keys: Tensor<B, 4>, values: Tensor<B, 4>, start: usize) {
        let [b, h, n, d] = keys.dims();
        if self.keys.is_none() {
            let device = keys.device();
            self.keys = Some(Tensor::zeros([b, h, self.window, d], &device));
            self.values = Some(Tensor::zeros([b, h, self.window, d], &device));
        }
        // Only the last `window` new columns survive; write them slot by slot range.
        let first = n.saturating_sub(self.window);
        let mut i = first;
        while i < n {
            let slot = (start + i) % self.window;
            let run = (self.window - slot).min(n - i);
            let range = [0..b, 0..h, slot..slot + run, 0..d];
            let k = self.keys.take().expect("allocated");
            let v = self.values.take().expect("allocated");
            self.keys = Some(k.slice_assign(range.clone(), keys.clone().narrow(2, i, run)));
            self.values = Some(v.slice_assign(range, values.clone().narrow(2, i, run)));
            i += run;
        }
    }
}

impl<B: Backend> KvCache<B> for WindowCache<B> {
    fn update(&mut self, keys: Tensor<B, 4>, values: Tensor<B, 4>, start: usize) -> CachedKv<B> {
        let n = keys.dims()[2];
        debug_assert_eq!(start, self.len, "window cache columns must be contiguous");
        if n == 1 {
            // Decode step: write first, then the ring holds exactly what the query may see.
            self.write(keys, values, start);
            self.len = start + 1;
            let held = self.len.min(self.window);
            return CachedKv {
                keys: self.keys.clone().expect("written").narrow(2, 0, held),
                values: self.values.clone().expect("written").narrow(2, 0, held),
                columns: self.slot_columns(),
            };
        }
        // Several columns (prefill): attend over the ring's old contents plus all new columns,
        // then keep the last `window` of them.
        let mut columns = self.slot_columns();
        let (all_k, all_v) = match (&self.keys, &self.values) {
            (Some(k), Some(v)) if !columns.is_empty() => {
                let held = columns.len();
                (
                    Tensor::cat(vec![k.clone().narrow(2, 0, held), keys.clone()], 2),
                    Tensor::cat(vec![v.clone().narrow(2, 0, held), values.clone()], 2),
                )
            }
            _ => (keys.clone(), values.clone()),
        };
        columns.extend(start..start + n);
        self.write(keys, values, start);
        self.len = start + n;
        CachedKv {
            keys: all_k,
            values: all_v,
            columns,
        }
    }

    fn len(&self) -> usize {
        self.len
    }

    fn reset(&mut self) {
        self.len = 0;
    }
}
