//! The scaled dot-product at the heart of attention, `softmax(q kᵀ · scale + mask) v`, in
//! interchangeable kernels.

use burn::tensor::activation::softmax;
use burn::tensor::module::attention;
use burn::tensor::ops::AttentionModuleOptions;
use burn::tensor::{Bool, Tensor, backend::Backend};

/// Which scaled dot-product implementation to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub enum AttentionKernel {
    /// Explicit `q kᵀ`, mask, softmax, `· v`: transformers' `eager` path, the reference.
    #[default]
    Naive,
    /// Burn's fused `attention` op (tiled with online softmax on Flex, cubecl kernels on CUDA).
    Fused,
}

/// Runs `kernel` on already-projected heads; `k` and `v` must have as many heads as `q`.
///
/// # Shapes
/// - q: `[batch, heads, q_len, head_dim]`, k / v: `[batch, heads, k_len, head_dim]`
/// - masked: `[batch or 1, q_len, k_len]`, `true` where a score is hidden
/// - output: `[batch, heads, q_len, head_dim]`
pub fn scaled_dot_product<B: Backend>(
    kernel: AttentionKernel,
    q: Tensor<B, 4>,
    k: Tensor<B, 4>,
    v: Tensor<B, 4>,
    masked: Tensor<B, 3, Bool>,
    scale: f64,
) -> Tensor<B, 4> {
    let [batch, heads, q_len, _] = q.dims();
    let k_len = k.dims()[2];
    let rows = masked.dims()[0];
    match kernel {
        AttentionKernel::Naive => {
            let scores = q.matmul(k.swap_dims(2, 3)) * scale;
            let masked = masked
                .reshape([rows, 1, q_len, k_len])
                .expand([batch, heads, q_len, k_len]);
            let scores = scores.mask_fill(masked, f32::NEG_INFINITY);
            softmax(scores, 3).matmul(v)
        }
        AttentionKernel::Fused => {
            let masked = masked
                .reshape([rows, 1, q_len, k_len])
                .expand([batch, heads, q_len, k_len]);
            let options = AttentionModuleOptions {
                scale: Some(scale),
                softcap: None,
                is_causal: false,
            };
            attention(q, k, v, Some(masked), None, options)
        }
    }
}
