//! Backends and devices: Flex on the CPU (the default feature), CUDA when built with `cuda`.
//!
//! [`cuda`] has one signature under every feature set, so code that asks for a GPU compiles
//! everywhere and learns at run time, as a typed error, that this build or machine has none.

use crate::error::{ModelError, Result};

/// Burn's pure-Rust CPU backend (gemm + SIMD + rayon), f32.
#[cfg(feature = "flex")]
pub type Cpu = burn::backend::Flex;

/// Burn's CUDA backend, f32.
#[cfg(feature = "cuda")]
pub type Cuda = burn::backend::Cuda<f32, i32>;

/// Burn's wgpu backend (cubecl on Vulkan, Metal or DX12), f32.
#[cfg(feature = "wgpu")]
pub type Wgpu = burn::backend::Wgpu<f32, i32>;

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
