//! Kernels of our own on Burn's Flex backend: its tensors' raw slices, reached through the public
//! `into_primitive` / `FlexTensor` API (no fork of Burn). Everything here answers `None` on any
//! other backend, whose callers keep Burn's generic path.

#[cfg(feature = "flex")]
use std::any::Any;

use burn::tensor::backend::Backend;
#[cfg(feature = "flex")]
use burn::tensor::{Int, Tensor, TensorPrimitive};

/// Whether `B` is Burn's Flex CPU backend.
pub(crate) fn is_flex<B: Backend>() -> bool {
    #[cfg(feature = "flex")]
    return std::any::TypeId::of::<B>() == std::any::TypeId::of::<burn::backend::Flex>();
    #[cfg(not(feature = "flex"))]
    false
}

/// The row-major f32 values of a float tensor on Flex (copied only if it is a strided view).
#[cfg(feature = "flex")]
pub(crate) fn f32_values<B: Backend, const D: usize>(
    t: Tensor<B, D>,
) -> Option<burn::backend::flex::FlexTensor> {
    use burn::backend::flex::FlexTensor;
    use burn::tensor::DType;
    if t.dtype() != DType::F32 {
        return None;
    }
    let TensorPrimitive::Float(p) = t.into_primitive() else {
        return None;
    };
    let flex = (Box::new(p) as Box<dyn Any>)
        .downcast::<FlexTensor>()
        .ok()?;
    let flex = if flex.is_contiguous() && flex.layout().start_offset() == 0 {
        *flex
    } else {
        flex.to_contiguous()
    };
    flex.as_slice::<f32>().is_some().then_some(flex)
}

/// A float tensor on Flex as it is held (any layout, any float dtype).
#[cfg(feature = "flex")]
pub(crate) fn raw<B: Backend, const D: usize>(
    t: Tensor<B, D>,
) -> Option<burn::backend::flex::FlexTensor> {
    use burn::backend::flex::FlexTensor;
    let TensorPrimitive::Float(p) = t.into_primitive() else {
        return None;
    };
    (Box::new(p) as Box<dyn Any>)
        .downcast::<FlexTensor>()
        .ok()
        .map(|t| *t)
}

/// The bytes of an integer tensor on Flex.
#[cfg(feature = "flex")]
pub(crate) fn int_bytes<B: Backend, const D: usize>(
    t: Tensor<B, D, Int>,
) -> Option<burn::backend::flex::FlexTensor> {
    use burn::backend::flex::FlexTensor;
    let p = t.into_primitive();
    let flex = (Box::new(p) as Box<dyn Any>)
        .downcast::<FlexTensor>()
        .ok()?;
    flex.is_contiguous().then_some(*flex)
}
