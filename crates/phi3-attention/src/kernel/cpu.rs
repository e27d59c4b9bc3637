//! phi3's CPU attention: flash-style tiles (Dao et al., 2022) on Flex's raw slices. gemm's
//! micro-kernels compute each tile's two products, a vectorized `exp` the online softmax; no
//! score or mask tensor is built and `q`, `k`, `v` are read where they lie (the cache's buffer,
//! any strides). The output is written in `[batch, seq, heads, head_dim]` order, the order
//! `o_proj` reads, and handed back as a `[batch, heads, seq, head_dim]` view of it.

use std::ops::Range;
use std::sync::atomic::{AtomicUsize, Ordering};

use burn::tensor::{Tensor, backend::Backend};
use phi3_core::fast::{self, F32View};

use super::MaskInput;

/// Below this many multiply-adds (`rows · keys · head_dim`) one thread does the whole call.
const PARALLEL_MIN: usize = 1 << 18;

/// The kernel, or `None` where it does not run (another backend or dtype, phi3's kernels
/// switched off): the caller then runs Burn's ops.
///
/// # Shapes
/// - q: `[batch, heads, q_len, head_dim]`, k / v: `[batch, kv_heads, k_len, head_dim]`
/// - output: `[batch, heads, q_len, head_dim]`
pub(crate) fn attention<B: Backend>(
    q: Tensor<B, 4>,
    k: Tensor<B, 4>,
    v: Tensor<B, 4>,
    mask: MaskInput<'_>,
    scale: f64,
    (query_tile, key_tile): (usize, usize),
) -> Option<Tensor<B, 4>> {
    let device = q.device();
    let (q, k, v) = (fast::f32_view(q)?, fast::f32_view(k)?, fast::f32_view(v)?);
    let [batch, heads, q_len, head_dim] = q.shape();
    let [kb, kv_heads, k_len, kd] = k.shape();
    if kb != batch
        || v.shape() != k.shape()
        || kd != head_dim
        || kv_heads == 0
        || !heads.is_multiple_of(kv_heads)
        || mask.key_columns.len() != k_len
    {
        return None;
    }
    let rows = RowKeys::new(mask, batch, q_len, k_len);
    let plan = Plan {
        q: &q,
        k: &k,
        v: &v,
        rows: &rows,
        heads,
        groups: heads / kv_heads,
        scale: scale as f32,
        // A decode step stacks the query heads of a group (one key/value read for all);
        // longer inputs tile the sequence of each head.
        by_heads: q_len == 1,
        query_tile: query_tile.max(1),
        key_tile: key_tile.max(1),
    };
    let mut out = vec![0f32; batch * q_len * heads * head_dim];
    let tasks = plan.tasks();
    let work = batch * heads * q_len * k_len * head_dim;
    let threads = match work < PARALLEL_MIN {
        true => 1,
        false => fast::threads().min(tasks.len()).max(1),
    };
    let next = AtomicUsize::new(0);
    let dst = SharedOut(out.as_mut_ptr());
    fast::split(threads, &|_| {
        let mut scratch = Scratch::new(plan.query_tile.max(plan.groups), plan.key_tile);
        loop {
            let t = next.fetch_add(1, Ordering::Relaxed);
            let Some(task) = tasks.get(t) else { break };
            // SAFETY: the rows a task writes belong to it alone (see `Plan::tasks`), and `out`
            // outlives the split.
            unsafe { plan.run(task, dst, &mut scratch) };
        }
    });
    let out = fast::f32_tensor::<B, 4>(out, [batch, q_len, heads, head_dim], &device);
    Some(out.swap_dims(1, 2))
}

/// The output buffer, written by tasks at disjoint rows.
#[derive(Clone, Copy)]
struct SharedOut(*mut f32);
// SAFETY: tasks write disjoint rows (see `Plan::tasks`) and the buffer outlives them.
unsafe impl Sync for SharedOut {}
unsafe impl Send for SharedOut {}

/// Which keys (indices along `k`'s dimension 2) each query sees, per padded row of the batch.
struct RowKeys {
    /// 1 for a batch without padding (every row alike), else the batch.
    rows: usize,
    q_len: usize,
    /// Per (row, query): the first and one past the last visible key, and where its flags
    /// start in `flags` when the visible keys between them are not all visible.
    spans: Vec<(Range<usize>, Option<usize>)>,
    flags: Vec<bool>,
}

impl RowKeys {
    /// Asks the mask once per query where it names its visible keys as one range (causal,
    /// sliding window) and keys sit at consecutive positions (a dense cache), per key otherwise
    /// — with `hidden_tile`'s rules for padding: a padding key is hidden from every query, a
    /// padding query sees only itself.
    fn new(mask: MaskInput<'_>, batch: usize, q_len: usize, k_len: usize) -> Self {
        let positions = mask.positions;
        let rows = if positions.is_uniform() { 1 } else { batch };
        let mut spans = Vec::with_capacity(rows * q_len);
        let mut flags = Vec::new();
        for row in 0..rows {
            let key_positions: Vec<Option<usize>> = mask
                .key_columns
                .iter()
                .map(|&c| positions.position(row, c))
                .collect();
            let first = key_positions.first().copied().flatten();
            let consecutive = first.is_some_and(|first| {
                key_positions
                    .iter()
                    .enumerate()
                    .all(|(j, &p)| p == Some(first + j))
            });
            for i in 0..q_len {
                let q_col = positions.start + i;
                let q_pos = positions.position(row, q_col);
                if let (Some(q), Some(first), true) = (q_pos, first, consecutive)
                    && let Some(range) = mask.mask.visible_range(q)
                {
                    let to_index = |p: usize| p.saturating_sub(first).min(k_len);
                    spans.push((to_index(range.start)..to_index(range.end), None));
                    continue;
                }
                let at = flags.len();
                flags.extend(
                    key_positions
                        .iter()
                        .zip(mask.key_columns)
                        .map(|(&k_pos, &k_col)| match (q_pos, k_pos) {
                            (None, _) => k_col == q_col,
                            (Some(_), None) => false,
                            (Some(q), Some(k)) => mask.mask.visible(q, k),
                        }),
                );
                let row_flags = &flags[at..];
                let lo = row_flags.iter().position(|&f| f).unwrap_or(0);
                let hi = row_flags.iter().rposition(|&f| f).map_or(0, |j| j + 1);
                spans.push((lo..hi.max(lo), Some(at)));
            }
        }
        Self {
            rows,
            q_len,
            spans,
            flags,
        }
    }

    fn get(&self, batch_index: usize, query: usize) -> &(Range<usize>, Option<usize>) {
        let row = if self.rows == 1 { 0 } else { batch_index };
        &self.spans[row * self.q_len + query]
    }
}

/// One unit of work: `rows` query rows of one batch entry, either consecutive queries of one
/// head or (a decode step) the heads of one group at one query.
struct Task {
    batch: usize,
    head: usize,
    query: usize,
    rows: usize,
}

/// Per-thread buffers: one tile of scores, and the running maximum and sum per row.
struct Scratch {
    scores: Vec<f32>,
    max: Vec<f32>,
    sum: Vec<f32>,
}

impl Scratch {
    fn new(rows: usize, key_tile: usize) -> Self {
        Self {
            scores: vec![0.0; rows * key_tile],
            max: vec![0.0; rows],
            sum: vec![0.0; rows],
        }
    }
}

struct Plan<'a> {
    q: &'a F32View<4>,
    k: &'a F32View<4>,
    v: &'a F32View<4>,
    rows: &'a RowKeys,
    heads: usize,
    groups: usize,
    scale: f32,
    by_heads: bool,
    query_tile: usize,
    key_tile: usize,
}

impl Plan<'_> {
    /// Every task, the costliest first (a causal mask's last queries see the most keys), so
    /// that threads claiming them in order finish together. No two tasks share an output row.
    fn tasks(&self) -> Vec<Task> {
        let [batch, _, q_len, _] = self.q.shape();
        let mut tasks = Vec::new();
        if self.by_heads {
            for b in 0..batch {
                for head in (0..self.heads).step_by(self.groups) {
                    tasks.push(Task {
                        batch: b,
                        head,
                        query: 0,
                        rows: self.groups,
                    });
                }
            }
            return tasks;
        }
        let starts: Vec<usize> = (0..q_len).step_by(self.query_tile).collect();
        for &query in starts.iter().rev() {
            for b in 0..batch {
                for head in 0..self.heads {
                    tasks.push(Task {
                        batch: b,
                        head,
                        query,
                        rows: self.query_tile.min(q_len - query),
                    });
                }
            }
        }
        tasks
    }

    /// Runs one task: for each tile of keys any of its rows sees, the scores by gemm, the mask,
    /// the online-softmax update, and the weighted values added into the output rows by gemm;
    /// finally each row divided by its sum.
    ///
    /// # Safety
    /// `out` holds `[batch, q_len, heads, head_dim]` values and no other thread touches this
    /// task's rows meanwhile.
    unsafe fn run(&self, task: &Task, out: SharedOut, scratch: &mut Scratch) {
        let [_, _, q_len, d] = self.q.shape();
        let [qs0, qs1, qs2, qs3] = self.q.strides();
        let [ks0, ks1, ks2, ks3] = self.k.strides();
        let [vs0, vs1, vs2, vs3] = self.v.strides();
        let m = task.rows;
        // Row r of the task: its head and query.
        let row = |r: usize| match self.by_heads {
            true => (task.head + r, task.query),
            false => (task.head, task.query + r),
        };
        let kv_head = task.head / self.groups;
        let (q_row_stride, out_row_stride) = match self.by_heads {
            true => (qs1, d),
            false => (qs2, self.heads * d),
        };
        let q0 = self.q.offset() + task.batch * qs0 + task.head * qs1 + task.query * qs2;
        let k0 = self.k.offset() + task.batch * ks0 + kv_head * ks1;
        let v0 = self.v.offset() + task.batch * vs0 + kv_head * vs1;
        let out0 = ((task.batch * q_len + task.query) * self.heads + task.head) * d;
        let (q_values, k_values, v_values) = (self.q.values(), self.k.values(), self.v.values());

        let span = |r: usize| self.rows.get(task.batch, row(r).1);
        let lo = (0..m).map(|r| span(r).0.start).min().unwrap_or(0);
        let hi = (0..m).map(|r| span(r).0.end).max().unwrap_or(0);
        let Scratch { scores, max, sum } = scratch;
        max[..m].fill(f32::NEG_INFINITY);
        sum[..m].fill(0.0);
        let kt = self.key_tile;
        for start in (lo..hi).step_by(kt) {
            let n = kt.min(hi - start);
            // SAFETY: every index gemm reads is within the views (checked by `f32_view`: the
            // last element of each lies in its buffer) or within `scores` / this task's rows.
            unsafe {
                gemm::gemm(
                    m,
                    n,
                    d,
                    scores.as_mut_ptr(),
                    1,
                    kt as isize,
                    false,
                    q_values.as_ptr().add(q0),
                    qs3 as isize,
                    q_row_stride as isize,
                    k_values.as_ptr().add(k0 + start * ks2),
                    ks2 as isize,
                    ks3 as isize,
                    0.0f32,
                    self.scale,
                    false,
                    false,
                    false,
                    gemm::Parallelism::None,
                );
            }
            for r in 0..m {
                let s = &mut scores[r * kt..r * kt + n];
                let (visible, flags) = span(r);
                match flags {
                    None => {
                        for (j, s) in s.iter_mut().enumerate() {
                            if !visible.contains(&(start + j)) {
                                *s = f32::NEG_INFINITY;
                            }
                        }
                    }
                    Some(at) => {
                        let flags = &self.rows.flags[at + start..at + start + n];
                        for (s, &f) in s.iter_mut().zip(flags) {
                            if !f {
                                *s = f32::NEG_INFINITY;
                            }
                        }
                    }
                }
                let tile_max = s.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                if tile_max == f32::NEG_INFINITY {
                    s.fill(0.0); // nothing visible in this tile: no weight, no rescale
                    continue;
                }
                let new_max = max[r].max(tile_max);
                let correction = (max[r] - new_max).exp(); // 0 on the first visible tile
                sum[r] = sum[r] * correction + fast::exp_sum(s, new_max);
                if correction != 1.0 {
                    // SAFETY: row r of this task, `d` values.
                    let o = unsafe { out_row(out, out0 + r * out_row_stride, d) };
                    o.iter_mut().for_each(|o| *o *= correction);
                }
                max[r] = new_max;
            }
            // SAFETY: as for the scores; the destination rows are this task's.
            unsafe {
                gemm::gemm(
                    m,
                    d,
                    n,
                    out.0.add(out0),
                    1,
                    out_row_stride as isize,
                    true,
                    scores.as_ptr(),
                    1,
                    kt as isize,
                    v_values.as_ptr().add(v0 + start * vs2),
                    vs3 as isize,
                    vs2 as isize,
                    1.0f32,
                    1.0f32,
                    false,
                    false,
                    false,
                    gemm::Parallelism::None,
                );
            }
        }
        for (r, &total) in sum[..m].iter().enumerate() {
            // A row that sees no key divides 0 by 0: NaN, as the softmax of the naive kernel.
            // SAFETY: row r of this task.
            let o = unsafe { out_row(out, out0 + r * out_row_stride, d) };
            let inv = 1.0 / total;
            o.iter_mut().for_each(|o| *o *= inv);
        }
    }
}

/// `len` output values from `at`.
///
/// # Safety
/// Within the buffer, and owned by the calling task.
#[allow(clippy::mut_from_ref)]
unsafe fn out_row<'a>(out: SharedOut, at: usize, len: usize) -> &'a mut [f32] {
    // SAFETY: as the caller promises.
    unsafe { std::slice::from_raw_parts_mut(out.0.add(at), len) }
}

#[cfg(test)]
mod tests {
    use burn::backend::Flex;
    use burn::tensor::{Distribution, Tensor};
    use phi3_core::{AttentionMask, Positions};

    use crate::kernel::{AttentionKernel, MaskInput, scaled_dot_product};
    use crate::{Causal, SlidingWindow, StridedSparse};

    fn random(shape: [usize; 4]) -> Tensor<Flex, 4> {
        Tensor::random(shape, Distribution::Normal(0.0, 1.0), &Default::default())
    }

    /// The kernel runs (it is not the fallback) and equals the naive kernel: prefill and decode
    /// shapes, grouped heads, keys read from a strided view of a larger buffer (a cache), keys
    /// out of order (a ring buffer), padding, one-range and per-key masks, tiles that do not
    /// divide the lengths.
    #[test]
    fn equals_the_naive_kernel() {
        phi3_core::fast::set_enabled(true);
        let masks: [&dyn AttentionMask; 3] = [
            &Causal,
            &SlidingWindow { window: 5 },
            &StridedSparse { stride: 3 },
        ];
        let (b, h, kv, d, capacity) = (2, 6, 2, 8, 40);
        for (q_len, k_len) in [(11, 11), (1, 17), (4, 20)] {
            for positions in [
                Positions::new(b, k_len - q_len, q_len),
                Positions::padded(vec![0, 2], k_len - q_len, q_len),
            ] {
                for rotated in [false, true] {
                    // Key columns in order, or rotated as a ring buffer holds them.
                    let mut columns: Vec<usize> = (0..k_len).collect();
                    if rotated {
                        columns.rotate_left(k_len / 3);
                    }
                    let cache = |t: Tensor<Flex, 4>| t.narrow(2, 3, k_len);
                    let q = random([b, h, q_len, d]);
                    let (k, v) = (
                        cache(random([b, kv, capacity, d])),
                        cache(random([b, kv, capacity, d])),
                    );
                    for mask in masks {
                        let input = MaskInput {
                            mask,
                            positions: &positions,
                            key_columns: &columns,
                        };
                        let naive = scaled_dot_product(
                            AttentionKernel::Naive,
                            q.clone(),
                            k.clone(),
                            v.clone(),
                            input,
                            0.3,
                        );
                        for tiles in [(3, 4), (64, 256)] {
                            let got = super::attention(
                                q.clone(),
                                k.clone(),
                                v.clone(),
                                input,
                                0.3,
                                tiles,
                            )
                            .expect("runs on Flex f32");
                            let diff: f32 = (got - naive.clone()).abs().max().into_scalar();
                            assert!(
                                diff < 1e-5,
                                "{} q {q_len} k {k_len} rotated {rotated} tiles {tiles:?}: {diff}",
                                mask.name()
                            );
                        }
                    }
                }
            }
        }
    }
}
