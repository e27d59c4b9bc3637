//! The scaled dot-product at the heart of attention, `softmax(q kᵀ · scale + mask) v`, in
//! interchangeable kernels.

use burn::tensor::activation::softmax;
use burn::tensor::module::attention;
use burn::tensor::ops::AttentionModuleOptions;
use burn::tensor::{Bool, DType, Tensor, backend::Backend};

use phi3_core::{AttentionMask, Positions, hidden_tile, masked_tensor};

#[cfg(feature = "flex")]
mod cpu;

/// Which scaled dot-product implementation to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub enum AttentionKernel {
    /// The fastest kernel for the backend and shape: [`Self::Cpu`] where it runs (Burn's Flex
    /// backend, f32, [`phi3_core::fast::enabled`]), [`Self::Naive`] elsewhere.
    #[default]
    Auto,
    /// Explicit `q kᵀ`, mask, softmax, `· v`: transformers' `eager` path, the reference. Builds
    /// the whole `[q_len, k_len]` score matrix per head.
    Naive,
    /// Flash-style tiling (Dao et al., 2022) written in Burn tensor ops: queries and keys in
    /// tiles of `block`, an online softmax (running maximum and sum per query), tiles the mask
    /// hides entirely skipped. Never builds more than a `[block, block]` score tile per head.
    Tiled {
        /// Tile edge, in tokens.
        block: usize,
    },
    /// Burn's fused `attention` op (tiled with online softmax on Flex, cubecl kernels on CUDA).
    Fused,
    /// phi3's CPU kernel: the flash-style tiling of [`Self::Tiled`] on Flex's raw slices, gemm's
    /// micro-kernels for the two products of each tile and a vectorized `exp`; no mask or score
    /// tensor, `q`, `k`, `v` read in place. A decode step stacks the query heads of a group.
    /// Where it does not run (another backend or dtype), [`Self::Tiled`] with `queries`.
    Cpu {
        /// Query rows per tile.
        queries: usize,
        /// Keys per tile.
        keys: usize,
    },
}

impl AttentionKernel {
    /// [`Self::Cpu`]'s tiles under [`Self::Auto`]: 64 queries fill gemm's micro-kernel rows;
    /// 256 keys keep a tile of scores (64 KiB) in the L2 cache beside `k` and `v`.
    pub const CPU_TILES: (usize, usize) = (64, 256);
}

/// What the mask of one attention call needs: the pattern, where the queries sit, and the
/// column of every key.
#[derive(Clone, Copy)]
pub struct MaskInput<'a> {
    /// The pattern.
    pub mask: &'a dyn AttentionMask,
    /// The queries' columns (and the batch's padding).
    pub positions: &'a Positions,
    /// The column of each key along `k`'s dimension 2.
    pub key_columns: &'a [usize],
}

/// A finite stand-in for −∞ in the tiled kernel: a tile whose keys are all hidden from a row
/// must not produce `exp(−∞ − (−∞)) = NaN` in the running sums. The most negative f16 where the
/// activations are f16 (−1e30 would round to −∞ there).
fn hidden_value(dtype: DType) -> f32 {
    match dtype {
        DType::F16 => -65504.0,
        _ => -1e30,
    }
}

/// Runs `kernel` on already-projected heads. `k` and `v` may have fewer heads than `q`
/// (grouped-query attention): query head `i` uses key/value head `i / (heads / kv_heads)`.
///
/// The naive and tiled kernels never copy keys and values per query head: the query heads of a
/// group are stacked along the sequence axis (`[b, kv, groups·q_len, d]`) and multiplied with
/// their one key/value head, so a step reads each cached key once — which is what makes MQA and
/// GQA decode faster than MHA, not only smaller. Burn's fused op, which needs equal head counts,
/// gets the same stacking: one "head" of `groups · q_len` queries per key/value head.
///
/// # Shapes
/// - q: `[batch, heads, q_len, head_dim]`, k / v: `[batch, kv_heads, k_len, head_dim]`
/// - output: `[batch, heads, q_len, head_dim]`
pub fn scaled_dot_product<B: Backend>(
    kernel: AttentionKernel,
    q: Tensor<B, 4>,
    k: Tensor<B, 4>,
    v: Tensor<B, 4>,
    mask: MaskInput<'_>,
    scale: f64,
) -> Tensor<B, 4> {
    let [batch, heads, q_len, head_dim] = q.dims();
    let [_, kv_heads, k_len, _] = k.dims();
    let groups = heads / kv_heads;
    // [rows, q, k] hidden flags → broadcast over [batch, kv_heads, groups·q, k].
    let grouped_mask = |hidden: Tensor<B, 3, Bool>, q: usize, k: usize| -> Tensor<B, 4, Bool> {
        let rows = hidden.dims()[0];
        hidden
            .reshape([rows, 1, 1, q, k])
            .expand([batch, kv_heads, groups, q, k])
            .reshape([batch, kv_heads, groups * q, k])
    };
    // phi3's CPU kernel where it runs; where it does not, what stands in for it.
    let (tiles, fallback) = match kernel {
        AttentionKernel::Auto => (Some(AttentionKernel::CPU_TILES), AttentionKernel::Naive),
        AttentionKernel::Cpu { queries, keys } => (
            Some((queries, keys)),
            AttentionKernel::Tiled { block: queries },
        ),
        other => (None, other),
    };
    #[cfg(feature = "flex")]
    if let Some(tiles) = tiles
        && let Some(out) = cpu::attention(q.clone(), k.clone(), v.clone(), mask, scale, tiles)
    {
        return out;
    }
    #[cfg(not(feature = "flex"))]
    let _ = tiles;
    let kernel = fallback;
    match kernel {
        AttentionKernel::Naive | AttentionKernel::Auto | AttentionKernel::Cpu { .. } => {
            let hidden =
                masked_tensor::<B, _>(mask.mask, mask.positions, mask.key_columns, &q.device());
            let q = q.reshape([batch, kv_heads, groups * q_len, head_dim]);
            let scores = q.matmul(k.swap_dims(2, 3)) * scale;
            let scores = scores.mask_fill(grouped_mask(hidden, q_len, k_len), f32::NEG_INFINITY);
            // In f32 whatever the activations' dtype, as transformers' eager attention.
            let dtype = scores.dtype();
            softmax(scores.cast(DType::F32), 3)
                .cast(dtype)
                .matmul(v)
                .reshape([batch, heads, q_len, head_dim])
        }
        AttentionKernel::Fused => {
            // The query heads of a group stacked as one head of `groups · q_len` queries, as in
            // the naive kernel: the op sees equal head counts without keys and values copied.
            let hidden =
                masked_tensor::<B, _>(mask.mask, mask.positions, mask.key_columns, &q.device());
            let options = AttentionModuleOptions {
                scale: Some(scale),
                softcap: None,
                is_causal: false,
            };
            attention(
                q.reshape([batch, kv_heads, groups * q_len, head_dim]),
                k,
                v,
                Some(grouped_mask(hidden, q_len, k_len)),
                None,
                options,
            )
            .reshape([batch, heads, q_len, head_dim])
        }
        AttentionKernel::Tiled { block } => tiled(q, k, v, mask, scale, block.max(1)),
    }
}

/// Repeats each key/value head for the query heads of its group (for kernels of one's own that
/// need equal head counts; phi3's stack the query heads instead).
///
/// # Shapes
/// - x: `[batch, kv_heads, seq, head_dim]` → `[batch, kv_heads·groups, seq, head_dim]`
pub fn repeat_kv<B: Backend>(x: Tensor<B, 4>, groups: usize) -> Tensor<B, 4> {
    if groups == 1 {
        return x;
    }
    let [b, kv, s, d] = x.dims();
    x.unsqueeze_dim::<5>(2)
        .expand([b, kv, groups, s, d])
        .reshape([b, kv * groups, s, d])
}

/// The flash-style kernel: see [`AttentionKernel::Tiled`].
fn tiled<B: Backend>(
    q: Tensor<B, 4>,
    k: Tensor<B, 4>,
    v: Tensor<B, 4>,
    mask: MaskInput<'_>,
    scale: f64,
    block: usize,
) -> Tensor<B, 4> {
    let [batch, heads, q_len, head_dim] = q.dims();
    let [_, kv_heads, k_len, _] = k.dims();
    let groups = heads / kv_heads;
    let device = q.device();
    let start = mask.positions.start;
    let hidden_value = hidden_value(q.dtype());
    // The whole call's mask, built once (on the device where it can be); tiles narrow it.
    let call_mask = masked_tensor::<B, _>(mask.mask, mask.positions, mask.key_columns, &device);
    let rows = call_mask.dims()[0];
    let q = q.reshape([batch, kv_heads, groups, q_len, head_dim]);
    let mut outputs = Vec::with_capacity(q_len.div_ceil(block));
    for q0 in (0..q_len).step_by(block) {
        let bq = block.min(q_len - q0);
        let rows_per_tile = groups * bq;
        let q_tile =
            q.clone()
                .narrow(3, q0, bq)
                .reshape([batch, kv_heads, rows_per_tile, head_dim])
                * scale;
        // Running maximum, sum of exponentials and weighted values, per query row.
        let mut m =
            Tensor::<B, 4>::full([batch, kv_heads, rows_per_tile, 1], hidden_value, &device);
        let mut l = Tensor::<B, 4>::zeros([batch, kv_heads, rows_per_tile, 1], &device);
        let mut acc = Tensor::<B, 4>::zeros([batch, kv_heads, rows_per_tile, head_dim], &device);
        for k0 in (0..k_len).step_by(block) {
            let bk = block.min(k_len - k0);
            let columns = start + q0..start + q0 + bq;
            // Asked on the host, where the answer is: no tensor is read back to skip a tile.
            let (flags, _) = hidden_tile(
                mask.mask,
                mask.positions,
                columns,
                &mask.key_columns[k0..k0 + bk],
            );
            if flags.iter().all(|&h| h) {
                continue; // e.g. above the diagonal of a causal mask: nothing to compute
            }
            let hidden = call_mask
                .clone()
                .slice([0..rows, q0..q0 + bq, k0..k0 + bk])
                .reshape([rows, 1, 1, bq, bk])
                .expand([batch, kv_heads, groups, bq, bk])
                .reshape([batch, kv_heads, rows_per_tile, bk]);
            let scores = q_tile
                .clone()
                .matmul(k.clone().narrow(2, k0, bk).swap_dims(2, 3))
                .mask_fill(hidden, hidden_value);
            let m_new = m.clone().max_pair(scores.clone().max_dim(3));
            let p = (scores - m_new.clone()).exp();
            let correction = (m - m_new.clone()).exp();
            l = l * correction.clone() + p.clone().sum_dim(3);
            acc = acc * correction + p.matmul(v.clone().narrow(2, k0, bk));
            m = m_new;
        }
        outputs.push((acc / l).reshape([batch, kv_heads, groups, bq, head_dim]));
    }
    Tensor::cat(outputs, 3).reshape([batch, heads, q_len, head_dim])
}
