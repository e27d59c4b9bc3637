//! Grouped-query attention (Ainslie et al., 2023) with Phi-3's fused `qkv_proj`.
//! Multi-head attention is the case `kv_heads == heads`, multi-query attention `kv_heads == 1`.

use burn::module::Module;
use burn::tensor::{Tensor, backend::Backend};
use phi3_core::{
    Attention, AttentionMask, AttentionStep, CachedKv, KvCache, Linear, ModelError, Result,
};

use crate::cache::{DenseCache, WindowCache};
use crate::kernel::{AttentionKernel, MaskInput, scaled_dot_product};

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

const PART: &str = "GroupedQueryAttention";

impl AttentionShape {
    /// `heads` query heads and `kv_heads` key/value heads of `hidden / heads` dimensions each.
    pub fn new(hidden: usize, heads: usize, kv_heads: usize) -> Result<Self> {
        if heads == 0 || !hidden.is_multiple_of(heads) {
            return Err(ModelError::part(
                PART,
                "heads",
                format!("({heads}) must be positive and divide hidden ({hidden})"),
            ));
        }
        let shape = Self {
            hidden,
            heads,
            kv_heads,
            head_dim: hidden / heads,
        };
        shape.validate()?;
        Ok(shape)
    }

    /// Checks that every size is positive and that `kv_heads` divides `heads`.
    pub fn validate(&self) -> Result<()> {
        for (parameter, value) in [
            ("hidden", self.hidden),
            ("heads", self.heads),
            ("head_dim", self.head_dim),
        ] {
            if value == 0 {
                return Err(ModelError::part(PART, parameter, "must be positive"));
            }
        }
        if self.kv_heads == 0 || !self.heads.is_multiple_of(self.kv_heads) {
            return Err(ModelError::part(
                PART,
                "kv_heads",
                format!(
                    "({}) must be positive and divide heads ({})",
                    self.kv_heads, self.heads
                ),
            ));
        }
        Ok(())
    }

    /// Columns of the fused projection: queries, then keys, then values.
    pub fn qkv_rows(&self) -> usize {
        (self.heads + 2 * self.kv_heads) * self.head_dim
    }
}

/// Self-attention with a fused `qkv_proj` (columns: Q, then K, then V) and `o_proj`, key/value
/// heads shared by groups of `heads / kv_heads` query heads. Projections may carry biases (GPT-2,
/// the original Transformer); Phi-3's and Llama's do not.
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
    /// The block from its two projections (e.g. loaded from a checkpoint), checked against `shape`.
    pub fn new(shape: AttentionShape, qkv_proj: Linear<B>, o_proj: Linear<B>) -> Result<Self> {
        shape.validate()?;
        let expect = |parameter, found: [usize; 2], expected: [usize; 2]| {
            if found == expected {
                Ok(())
            } else {
                Err(ModelError::part(
                    PART,
                    parameter,
                    format!("has [in, out] = {found:?}, expected {expected:?}"),
                ))
            }
        };
        expect(
            "qkv_proj",
            qkv_proj.dims(),
            [shape.hidden, shape.qkv_rows()],
        )?;
        expect(
            "o_proj",
            o_proj.dims(),
            [shape.heads * shape.head_dim, shape.hidden],
        )?;
        Ok(Self {
            qkv_proj,
            o_proj,
            heads: shape.heads,
            kv_heads: shape.kv_heads,
            head_dim: shape.head_dim,
            kernel: AttentionKernel::default(),
        })
    }

    /// Random (lazily initialised) projections, with biases when `bias`.
    pub fn init(shape: AttentionShape, bias: bool, device: &B::Device) -> Result<Self> {
        let qkv = Linear::init(shape.hidden, shape.qkv_rows(), bias, device);
        let o = Linear::init(shape.heads * shape.head_dim, shape.hidden, bias, device);
        Self::new(shape, qkv, o)
    }

    /// Multi-head attention (Vaswani et al., 2017): every query head has its own key/value head.
    pub fn mha(hidden: usize, heads: usize, device: &B::Device) -> Result<Self> {
        Self::gqa(hidden, heads, heads, device)
    }

    /// Multi-query attention (Shazeer, 2019): one key/value head shared by all query heads.
    pub fn mqa(hidden: usize, heads: usize, device: &B::Device) -> Result<Self> {
        Self::gqa(hidden, heads, 1, device)
    }

    /// Grouped-query attention (Ainslie et al., 2023): `kv_heads` key/value heads, each shared by
    /// `heads / kv_heads` query heads.
    pub fn gqa(hidden: usize, heads: usize, kv_heads: usize, device: &B::Device) -> Result<Self> {
        Self::init(AttentionShape::new(hidden, heads, kv_heads)?, false, device)
    }

    /// Chooses the scaled dot-product kernel.
    pub fn with_kernel(mut self, kernel: AttentionKernel) -> Self {
        self.kernel = kernel;
        self
    }

    /// The head layout.
    pub fn shape(&self) -> AttentionShape {
        AttentionShape {
            hidden: self.o_proj.dims()[1],
            heads: self.heads,
            kv_heads: self.kv_heads,
            head_dim: self.head_dim,
        }
    }
}

impl<B: Backend> Attention<B> for GroupedQueryAttention<B> {
    fn forward(&self, x: Tensor<B, 3>, step: &mut AttentionStep<'_, B>) -> Tensor<B, 3> {
        let [batch, seq, _] = x.dims();
        let (h, kv, d) = (self.heads, self.kv_heads, self.head_dim);
        let qkv = self.qkv_proj.forward(x); // [b, s, (h + 2kv)·d]
        let heads = |t: Tensor<B, 3>, n: usize| t.reshape([batch, seq, n, d]).swap_dims(1, 2);
        let q = heads(qkv.clone().narrow(2, 0, h * d), h); // [b, h, s, d]
        let k = heads(qkv.clone().narrow(2, h * d, kv * d), kv); // [b, kv, s, d]
        let v = heads(qkv.narrow(2, (h + kv) * d, kv * d), kv);
        let (q, k) = step.rotate(q, k);
        let CachedKv {
            keys,
            values,
            columns,
        } = step.keys_values(k, v);
        let mask = MaskInput {
            mask: step.mask,
            positions: step.positions,
            key_columns: &columns,
        };
        let scale = (d as f64).powf(-0.5);
        let out = scaled_dot_product(self.kernel, q, keys, values, mask, scale);
        self.o_proj
            .forward(out.swap_dims(1, 2).reshape([batch, seq, h * d]))
    }

    /// A ring buffer of the window for a sliding-window mask narrower than `capacity`, a dense
    /// cache otherwise.
    fn new_cache(&self, capacity: usize, mask: &dyn AttentionMask) -> Box<dyn KvCache<B>> {
        match mask.window() {
            Some(window) if window < capacity => Box::new(WindowCache::new(window)),
            _ => Box::new(DenseCache::new(capacity)),
        }
    }
}
