//! Backends and devices: Flex on the CPU (the default feature), CUDA when built with `cuda`.

#[cfg(feature = "cuda")]
use crate::error::Phi3Error;
use crate::error::Result;

/// Burn's pure-Rust CPU backend (gemm + SIMD + rayon), f32.
#[cfg(feature = "flex")]
pub type Cpu = burn::backend::Flex;

/// Burn's CUDA backend, f32.
#[cfg(feature = "cuda")]
pub type Cuda = burn::backend::Cuda<f32, i32>;

/// Burn's deprecated NdArray CPU backend (kept for comparison benchmarks only).
#[cfg(feature = "ndarray")]
pub type NdArray = burn::backend::NdArray<f32>;

/// The CPU device.
#[cfg(feature = "flex")]
pub fn cpu() -> burn::tensor::Device<Cpu> {
    Default::default()
}

/// The CUDA driver libraries Burn's CUDA runtime loads at start-up.
#[cfg(feature = "cuda")]
const CUDA_DRIVER_LIBS: [&str; 2] = ["libcuda.so.1", "libcuda.so"];

/// CUDA device `index`, after checking that the CUDA driver can be loaded at all.
///
/// Burn's CUDA runtime panics ("Unable to dynamically load the cuda shared library") when the
/// driver is missing, so the driver is probed here first and its absence becomes
/// [`Phi3Error::DeviceUnavailable`].
#[cfg(feature = "cuda")]
pub fn cuda(index: usize) -> Result<burn::tensor::Device<Cuda>> {
    let mut last_error = String::new();
    for name in CUDA_DRIVER_LIBS {
        // SAFETY: loading the CUDA driver runs its initialisers, exactly as cudarc does when
        // Burn creates the device; the handle is closed again before returning.
        match unsafe { libloading::Library::new(name) } {
            Ok(_) => return Ok(burn::backend::cuda::CudaDevice::new(index)),
            Err(e) => last_error = e.to_string(),
        }
    }
    Err(Phi3Error::DeviceUnavailable {
        device: format!("cuda:{index}"),
        reason: format!("the CUDA driver library could not be loaded ({last_error})"),
    })
}

/// Always fails: this build has no CUDA support.
#[cfg(not(feature = "cuda"))]
pub fn cuda(index: usize) -> Result<()> {
    Err(crate::error::Phi3Error::DeviceUnavailable {
        device: format!("cuda:{index}"),
        reason: "phi3 was built without the `cuda` feature".into(),
    })
}
