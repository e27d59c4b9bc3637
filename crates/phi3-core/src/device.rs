//! Backends and devices: Flex on the CPU (the default feature), CUDA when built with `cuda`.
//!
//! [`cuda`] has one signature under every feature set, so code that asks for a GPU compiles
//! everywhere and learns at run time, as a typed error, that this build or machine has none.

use burn::tensor::{DType, backend::Backend};

use crate::error::{ModelError, Result};

/// The activation (compute) dtype of `device`: the float dtype Burn creates tensors in there
/// (Burn's per-device default, the backend's float element unless [`set_compute_dtype`] chose
/// another). Activations, norms and position tables use it; matrices keep their storage dtype
/// and [`Linear`](crate::Linear) converts at the product.
pub fn compute_dtype<B: Backend>(device: &B::Device) -> DType {
    burn::tensor::get_device_settings::<B>(device)
        .float_dtype
        .into()
}

/// Computes in `dtype` (`F32`, `F16` or `BF16`) on `device` — `transformers`' `torch_dtype`,
/// Burn 0.21's per-device default float dtype. Call it before anything creates a tensor on the
/// device: Burn fixes a device's defaults at its first tensor, after which this is an error, as
/// is a dtype the backend cannot compute in (bf16 on wgpu) or that is not a float.
pub fn set_compute_dtype<B: Backend>(device: &B::Device, dtype: DType) -> Result<()> {
    let invalid = |reason: String| ModelError::DeviceUnavailable {
        device: format!("{device:?} computing in {dtype:?}"),
        reason,
    };
    if !matches!(dtype, DType::F32 | DType::F16 | DType::BF16) {
        return Err(invalid("the compute dtype must be F32, F16 or BF16".into()));
    }
    let int = <B::IntElem as burn::tensor::Element>::dtype();
    match burn::tensor::set_default_dtypes::<B>(device, dtype, int) {
        Ok(()) => Ok(()),
        // Already fixed — by an earlier call or a first tensor: fine if fixed to this dtype.
        Err(_) if compute_dtype::<B>(device) == dtype => Ok(()),
        Err(e) => Err(invalid(e.to_string())),
    }
}

/// Burn's pure-Rust CPU backend (gemm + SIMD + rayon). f32 by default (phi3's CPU kernels
/// run there); f16 or bf16 through [`set_compute_dtype`] take Burn's generic ops.
#[cfg(feature = "flex")]
pub type Cpu = burn::backend::Flex;

/// Burn's CUDA backend (with its fusion layer). f32 is the default compute dtype; f16 or bf16
/// through [`set_compute_dtype`].
#[cfg(feature = "cuda")]
pub type Cuda = burn::backend::Cuda<f32, i32>;

/// Burn's wgpu backend (cubecl on Vulkan, Metal or DX12, with fusion); f32 by default, f16
/// through [`set_compute_dtype`] where the adapter has it.
#[cfg(feature = "wgpu")]
pub type Wgpu = burn::backend::Wgpu<f32, i32>;

/// Burn's CUDA backend without its fusion layer: every op its own kernel launch (what fusion is
/// measured against).
#[cfg(feature = "cuda")]
pub type CudaUnfused = burn_cubecl::CubeBackend<burn::cubecl::cuda::CudaRuntime, f32, i32, u8>;

/// Burn's wgpu backend without its fusion layer.
#[cfg(feature = "wgpu")]
pub type WgpuUnfused =
    burn::backend::wgpu::CubeBackend<burn::backend::wgpu::WgpuRuntime, f32, i32, u32>;

/// The default wgpu device (the first adapter: a GPU, or Mesa's lavapipe on the CPU).
#[cfg(feature = "wgpu")]
pub fn wgpu() -> burn::tensor::Device<Wgpu> {
    Default::default()
}

/// Burn's deprecated NdArray CPU backend (kept for comparison benchmarks only).
#[cfg(feature = "ndarray")]
pub type NdArray = burn::backend::NdArray<f32>;

/// The CPU device.
#[cfg(feature = "flex")]
pub fn cpu() -> burn::tensor::Device<Cpu> {
    Default::default()
}

/// A CUDA device (Burn's `CudaDevice`).
#[cfg(feature = "cuda")]
pub type CudaDevice = burn::backend::cuda::CudaDevice;

/// A CUDA device. This build has no `cuda` feature, so none can exist: [`cuda`] always fails.
#[cfg(not(feature = "cuda"))]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CudaDevice {}

/// The CUDA driver libraries Burn's CUDA runtime loads at start-up.
#[cfg(feature = "cuda")]
const CUDA_DRIVER_LIBS: [&str; 2] = ["libcuda.so.1", "libcuda.so"];

/// CUDA device `index`, after checking that the CUDA driver can be loaded at all.
///
/// Burn's CUDA runtime panics ("Unable to dynamically load the cuda shared library") when the
/// driver is missing, so the driver is probed here first and its absence becomes
/// [`ModelError::DeviceUnavailable`]; so does a build without the `cuda` feature.
pub fn cuda(index: usize) -> Result<CudaDevice> {
    let unavailable = |reason: String| ModelError::DeviceUnavailable {
        device: format!("cuda:{index}"),
        reason,
    };
    #[cfg(feature = "cuda")]
    {
        let mut last_error = String::new();
        for name in CUDA_DRIVER_LIBS {
            // SAFETY: loading the CUDA driver runs its initialisers, exactly as cudarc does when
            // Burn creates the device; the handle is closed again before returning.
            match unsafe { libloading::Library::new(name) } {
                Ok(_) => return Ok(CudaDevice::new(index)),
                Err(e) => last_error = e.to_string(),
            }
        }
        Err(unavailable(format!(
            "the CUDA driver library could not be loaded ({last_error})"
        )))
    }
    #[cfg(not(feature = "cuda"))]
    Err(unavailable(
        "phi3 was built without the `cuda` feature".into(),
    ))
}
