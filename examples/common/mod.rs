//! What the examples share: choosing the backend at run time (`--device cpu|wgpu|cuda[:N]`,
//! `--compute f32|f16|bf16`, and for measurements `--no-fusion`).
#![allow(dead_code)]

use phi3::Phi3Error;
use phi3::burn::tensor::{DType, backend::Backend};

/// `options` drawing an `indicatif` bar on stderr while the weights load: stored bytes read,
/// and tensors in its message. (indicatif draws nothing when stderr is not a terminal.)
pub fn with_load_bar<B: Backend>(options: phi3::LoadOptions<B>) -> phi3::LoadOptions<B> {
    let style = indicatif::ProgressStyle::with_template(
        "loading {bar:32.cyan/blue} {bytes}/{total_bytes} ({bytes_per_sec}) {msg}",
    )
    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
    let bar = indicatif::ProgressBar::new(0).with_style(style);
    options.progress(move |p| {
        bar.set_length(p.bytes_total);
        bar.set_position(p.bytes_done);
        bar.set_message(format!("{}/{} tensors", p.tensors_done, p.tensors_total));
        if p.tensors_done == p.tensors_total {
            bar.finish();
        }
    })
}

/// An example's exit status: success, or the error printed to stderr.
pub fn exit(result: Result<(), Phi3Error>) -> std::process::ExitCode {
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// `--device` and `--compute`, the options every example shares (`#[command(flatten)]`).
#[derive(clap::Args, Debug, Clone)]
pub struct BackendArgs {
    /// The backend and device: cpu (Burn's Flex), wgpu (needs the `wgpu` feature), cuda or
    /// cuda:N (needs `cuda`).
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// The compute (activation) dtype: f32, f16 or bf16 (bf16 on cuda; f16 on cuda and on wgpu
    /// adapters with it; f16/bf16 on the cpu run Burn's generic ops, not phi3's kernels).
    #[arg(long, default_value = "f32")]
    pub compute: String,
}

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
    /// wgpu without Burn's fusion layer.
    #[cfg(feature = "wgpu")]
    WgpuUnfused,
    /// CUDA device N without Burn's fusion layer.
    #[cfg(feature = "cuda")]
    CudaUnfused(usize),
}

impl Device {
    /// The same device without Burn's fusion layer (`--no-fusion`); the CPU backend has none.
    pub fn without_fusion(self) -> Result<Self, Phi3Error> {
        match self {
            Self::Cpu => Err(Phi3Error::InvalidOption {
                option: "no-fusion",
                message: "the cpu backend (Flex) has no fusion layer to turn off".into(),
            }),
            #[cfg(feature = "wgpu")]
            Self::Wgpu | Self::WgpuUnfused => Ok(Self::WgpuUnfused),
            #[cfg(feature = "cuda")]
            Self::Cuda(i) | Self::CudaUnfused(i) => Ok(Self::CudaUnfused(i)),
        }
    }
}

/// Sets the compute dtype `--compute` names (`f32`, `f16`, `bf16`) on `device`, before anything
/// is loaded there; a dtype the backend lacks is a typed error.
pub fn set_compute<B: Backend>(device: &B::Device, name: &str) -> Result<(), Phi3Error> {
    let dtype = match name {
        "f32" => DType::F32,
        "f16" => DType::F16,
        "bf16" => DType::BF16,
        other => {
            return Err(Phi3Error::InvalidOption {
                option: "compute",
                message: format!("is {other:?}, expected f32, f16 or bf16"),
            });
        }
    };
    Ok(phi3::device::set_compute_dtype::<B>(device, dtype)?)
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
            #[cfg(feature = "wgpu")]
            common::Device::WgpuUnfused => {
                $run::<phi3::device::WgpuUnfused>($($arg,)* phi3::device::wgpu())
            }
            #[cfg(feature = "cuda")]
            common::Device::CudaUnfused(i) => {
                $run::<phi3::device::CudaUnfused>($($arg,)* phi3::device::cuda(i)?)
            }
        }
    };
}
