//! Grouped-query attention (Ainslie et al., 2023) with Phi-3's fused `qkv_proj`.
//! Multi-head attention is the case `kv_heads == heads`, multi-query attention `kv_heads == 1`.

use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::tensor::{Tensor, backend::Backend};

use super::Attention;
use super::kernel::{AttentionKernel, MaskInput, scaled_dot_product};
use crate::cache::{CachedKv, KvCache};
use crate::linear::linear;
use crate::mask::AttentionMask;
use crate::position::PositionEncoding;
use crate::positions::Positions;

/// Head layout of an attention block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AttentionShape {
    /// Model width.
    pub hidden: usize,
    /// Query heads.
    pub heads: usize,
    /// Key/value heads; divides `heads`.
    pub kv_heads: usize,
    /// Size of each head.
    pub head_dim: usize,
}

impl AttentionShape {
    /// Rows of the fused projection: queries, then keys, then values.
    pub fn qkv_rows(&self) -> usize {
        (self.heads + 2 * self.kv_heads) * self.head_dim
    }
}

/// Self-attention with a fused `qkv_proj` (rows: Q, then K, then V) and `o_proj`, key/value heads
/// shared by groups of `heads / kv_heads` query heads.
#[derive(Module, Debug)]
pub struct GroupedQueryAttention<B: Backend> {
    /// `hidden → (heads + 2·kv_heads)·head_dim`.
    pub qkv_proj: Linear<B>,
    /// `heads·head_dim → hidden`.
    pub o_proj: Linear<B>,
    heads: usize,
    kv_heads: usize,
    head_dim: usize,
    #[module(skip)]
    kernel: AttentionKernel,
}

impl<B: Backend> GroupedQueryAttention<B> {
    /// Builds the block from its two projections (e.g. loaded from a checkpoint).
    pub fn new(shape: AttentionShape, qkv_proj: Linear<B>, o_proj: Linear<B>) -> Self {
        Self {
            qkv_proj,
            o_proj,
            heads: shape.heads,
            kv_heads: shape.kv_heads,
            head_dim: shape.head_dim,
            kernel: AttentionKernel::default(),
        }
    }

    /// Random weights, for building decoders in code.
    pub fn init(shape: AttentionShape, device: &B::Device) -> Self {
        let qkv = LinearConfig::new(shape.hidden, shape.qkv_rows())
            .with_bias(false)
            .init(device);
        let o = LinearConfig::new(shape.heads * shape.head_dim, shape.hidden)
            .with_bias(false)
            .init(device);
        Self::new(shape, qkv, o)
    }

    /// Multi-head attention (Vaswani et al., 2017): every query head has its own key/value head.
    pub fn mha(hidden: usize, heads: usize, device: &B::Device) -> Self {
        Self::gqa(hidden, heads, heads, device)
    }

    /// Multi-query attention (Shazeer, 2019): one key/value head shared by all query heads.
    pub fn mqa(hidden: usize, heads: usize, device: &B::Device) -> Self {
        Self::gqa(hidden, heads, 1, device)
    }

    /// Grouped-query attention (Ainslie et al., 2023): `kv_heads` key/value heads, each shared by
    /// `heads / kv_heads` query heads.
    pub fn gqa(hidden: usize, heads: usize, kv_heads: usize, device: &B::Device) -> Self {
        Self::init(
            AttentionShape {
                hidden,
                heads,
                kv_heads,
                head_dim: hidden / heads,
            },
            device,
        )
    }

    /// Chooses the scaled dot-product kernel.
    pub fn with_kernel(mut self, kernel: AttentionKernel) -> Self {
        self.kernel = kernel;
        self
    }

    /// The head layout.
    pub fn shape(&self) -> AttentionShape {
        AttentionShape {
            hidden: self.o_proj.weight.dims()[1],
            heads: self.heads,
            kv_heads: self.kv_heads,
            head_dim: self.head_dim,
        }
    }
}

impl<B: Backend> Attention<B> for GroupedQueryAttention<B> {
    fn forward<P: PositionEncoding<B>>(
        &self,
        x: Tensor<B, 3>,
        encoding: &P,
        mask: &dyn AttentionMask,
        positions: &Positions,
        cache: Option<&mut dyn KvCache<B>>,
    ) -> Tensor<B, 3> {
        let [batch, seq, _] = x.dims();
        let (h, kv, d) = (self.heads, self.kv_heads, self.head_dim);
        let qkv = linear(&self.qkv_proj, x); // [b, s, (h + 2kv)·d]
        let heads = |t: Tensor<B, 3>, n: usize| t.reshape([batch, seq, n, d]).swap_dims(1, 2);
        let q = heads(qkv.clone().narrow(2, 0, h * d), h); // [b, h, s, d]
        let k = heads(qkv.clone().narrow(2, h * d, kv * d), kv); // [b, kv, s, d]
        let v = heads(qkv.narrow(2, (h + kv) * d, kv * d), kv);
        let (q, k) = encoding.rotate(q, k, positions);

        let CachedKv {
            keys,
            values,
            columns,
        } = match cache {
            Some(cache) => cache.update(k, v, positions.start),
            None => CachedKv {
                keys: k,
                values: v,
                columns: (positions.start..positions.end()).collect(),
            },
        };
        let mask = MaskInput {
            mask,
            positions,
            key_columns: &columns,
        };
        let scale = (d as f64).powf(-0.5);
        let out = scaled_dot_product(self.kernel, q, keys, values, mask, scale);
        linear(
            &self.o_proj,
            out.swap_dims(1, 2).reshape([batch, seq, h * d]),
        )
    }
}
