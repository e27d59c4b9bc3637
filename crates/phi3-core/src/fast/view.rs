//! Flex tensors' values in place, for kernels of one's own.

/// A float tensor's f32 values as Flex holds them, without a copy: the element at index `i`
/// is `values()[offset() + Σ i[a] · strides()[a]]`. For kernels of one's own (phi3-attention's
/// CPU attention is one); made by [`f32_view`].
pub struct F32View<const D: usize> {
    #[cfg(feature = "flex")]
    tensor: burn::backend::flex::FlexTensor,
    shape: [usize; D],
    strides: [usize; D],
    offset: usize,
}

impl<const D: usize> F32View<D> {
    /// The whole buffer the view reads from.
    pub fn values(&self) -> &[f32] {
        #[cfg(feature = "flex")]
        return bytemuck::cast_slice(self.tensor.bytes());
        #[cfg(not(feature = "flex"))]
        &[]
    }

    /// The view's shape.
    pub fn shape(&self) -> [usize; D] {
        self.shape
    }

    /// Elements between neighbours along each axis.
    pub fn strides(&self) -> [usize; D] {
        self.strides
    }

    /// Where element `[0, …, 0]` sits in [`Self::values`].
    pub fn offset(&self) -> usize {
        self.offset
    }
}

/// `t`'s values in place when phi3's kernels run for `B` (Flex, [`enabled`]), `t` is f32 and its
/// layout has non-negative strides within its buffer; `None` otherwise (the caller keeps
/// Burn's ops).
pub fn f32_view<B: burn::tensor::backend::Backend, const D: usize>(
    t: burn::tensor::Tensor<B, D>,
) -> Option<F32View<D>> {
    #[cfg(feature = "flex")]
    {
        if !super::applies::<B>() || t.dtype() != burn::tensor::DType::F32 {
            return None;
        }
        let tensor = crate::flex::raw(t)?;
        let layout = tensor.layout();
        let shape: [usize; D] = layout.shape().to_vec().try_into().ok()?;
        let strides: Vec<usize> = layout
            .strides()
            .iter()
            .map(|&s| usize::try_from(s).ok())
            .collect::<Option<_>>()?;
        let strides: [usize; D] = strides.try_into().ok()?;
        let offset = layout.start_offset();
        let view = F32View {
            tensor,
            shape,
            strides,
            offset,
        };
        let len = view.values().len();
        let last = shape.iter().zip(strides).try_fold(offset, |at, (&n, s)| {
            at.checked_add(n.checked_sub(1)?.checked_mul(s)?)
        });
        match last {
            Some(last) if last < len => Some(view),
            // Empty (some axis of size 0) or out of bounds: nothing a kernel should read.
            _ => None,
        }
    }
    #[cfg(not(feature = "flex"))]
    {
        let _ = t;
        None
    }
}

/// A row-major f32 tensor of `shape` from `values` (the output of a kernel of one's own).
pub fn f32_tensor<B: burn::tensor::backend::Backend, const D: usize>(
    values: Vec<f32>,
    shape: [usize; D],
    device: &B::Device,
) -> burn::tensor::Tensor<B, D> {
    burn::tensor::Tensor::from_data(burn::tensor::TensorData::new(values, shape), device)
}
