//! What the examples share: choosing the backend at run time (`--device cpu|wgpu|cuda[:N]`).
#![allow(dead_code)]

use phi3::Phi3Error;

/// A backend and device named on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Device {
    /// Burn's Flex backend.
    Cpu,
    /// Burn's wgpu backend (cubecl on Vulkan: a GPU, or Mesa's lavapipe on the CPU).
    #[cfg(feature = "wgpu")]
    Wgpu,
    /// Burn's CUDA backend, device N.
    #[cfg(feature = "cuda")]
    Cuda(usize),
}

impl std::str::FromStr for Device {
    type Err = Phi3Error;

    /// `cpu`, `wgpu`, `cuda` or `cuda:N`; a backend this build lacks is a typed error naming
    /// the cargo feature it needs.
    fn from_str(s: &str) -> Result<Self, Phi3Error> {
        let missing = |feature: &str| Phi3Error::InvalidOption {
            option: "device",
            message: format!("{s:?} needs phi3 built with the `{feature}` feature"),
        };
        match s {
            "cpu" => Ok(Self::Cpu),
            "wgpu" => {
                #[cfg(feature = "wgpu")]
                return Ok(Self::Wgpu);
                #[cfg(not(feature = "wgpu"))]
                Err(missing("wgpu"))
            }
            _ if s == "cuda" || s.starts_with("cuda:") => {
                let index = match s.strip_prefix("cuda:") {
                    None => 0,
                    Some(n) => n.parse().map_err(|_| Phi3Error::InvalidOption {
                        option: "device",
                        message: format!("{s:?}: expected cuda:N with N a device index"),
                    })?,
                };
                #[cfg(feature = "cuda")]
                return Ok(Self::Cuda(index));
                #[cfg(not(feature = "cuda"))]
                {
                    let _ = index;
                    Err(missing("cuda"))
                }
            }
            other => Err(Phi3Error::InvalidOption {
                option: "device",
                message: format!("is {other:?}, expected cpu, wgpu, cuda or cuda:N"),
            }),
        }
    }
}

/// Calls `$run::<B>(args..., device)` with the backend type and device `$device` names.
#[macro_export]
macro_rules! on_device {
    ($device:expr, $run:ident($($arg:expr),*)) => {
        match $device {
            common::Device::Cpu => $run::<phi3::device::Cpu>($($arg,)* phi3::device::cpu()),
            #[cfg(feature = "wgpu")]
            common::Device::Wgpu => $run::<phi3::device::Wgpu>($($arg,)* phi3::device::wgpu()),
            #[cfg(feature = "cuda")]
            common::Device::Cuda(i) => {
                $run::<phi3::device::Cuda>($($arg,)* phi3::device::cuda(i)?)
            }
        }
    };
}
