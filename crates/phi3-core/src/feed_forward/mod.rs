//! Feed-forward blocks behind the [`FeedForward`] trait: the gated SwiGLU of Phi-3 and Llama, and
//! the two-layer MLP of GPT-2 (GELU) and the original Transformer (ReLU).

mod mlp;
pub(crate) mod swiglu;

pub use mlp::Mlp;
pub use swiglu::SwiGlu;

use burn::module::{Module, ModuleDisplay};
use burn::tensor::activation::{gelu, gelu_approximate, relu, silu};
use burn::tensor::{Tensor, backend::Backend};

/// The position-wise feed-forward block of a decoder layer.
pub trait FeedForward<B: Backend>: Module<B> + ModuleDisplay + Sync {
    /// # Shapes
    /// - x: `[batch, seq, hidden]` → `[batch, seq, hidden]`
    fn forward(&self, x: Tensor<B, 3>) -> Tensor<B, 3>;
}

/// An element-wise nonlinearity, named as transformers' `hidden_act` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Activation {
    /// `max(0, x)` (Vaswani et al., 2017).
    Relu,
    /// `x · Φ(x)` with the exact normal CDF (`gelu`).
    Gelu,
    /// GELU's tanh approximation, as GPT-2 (`gelu_new`, `gelu_pytorch_tanh`).
    GeluTanh,
    /// `x · σ(x)` (`silu`, `swish`), Phi-3's and Llama's.
    Silu,
}

impl Activation {
    /// The `hidden_act` values [`Self::from_hf`] understands.
    pub const HF_NAMES: [&'static str; 7] = [
        "relu",
        "gelu",
        "gelu_new",
        "gelu_pytorch_tanh",
        "gelu_fast",
        "silu",
        "swish",
    ];

    /// The activation transformers' `ACT2FN[name]` is, if known.
    pub fn from_hf(name: &str) -> Option<Self> {
        Some(match name {
            "relu" => Self::Relu,
            "gelu" => Self::Gelu,
            "gelu_new" | "gelu_pytorch_tanh" | "gelu_fast" => Self::GeluTanh,
            "silu" | "swish" => Self::Silu,
            _ => return None,
        })
    }

    /// Applies the activation element-wise.
    pub fn apply<B: Backend, const D: usize>(self, x: Tensor<B, D>) -> Tensor<B, D> {
        match self {
            Self::Relu => relu(x),
            Self::Gelu => gelu(x),
            Self::GeluTanh => gelu_approximate(x),
            Self::Silu => silu(x),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Activation;
    use burn::backend::Flex;
    use burn::tensor::{Tensor, TensorData};

    #[test]
    fn activations_match_their_formulas() {
        let xs = [-2.0f32, -0.5, 0.0, 0.7, 3.0];
        let x =
            Tensor::<Flex, 1>::from_data(TensorData::new(xs.to_vec(), [5]), &Default::default());
        let erf_gelu = |v: f64| 0.5 * v * (1.0 + erf(v / 2f64.sqrt()));
        let tanh_gelu = |v: f64| {
            0.5 * v
                * (1.0 + ((2.0 / std::f64::consts::PI).sqrt() * (v + 0.044715 * v.powi(3))).tanh())
        };
        let cases: [(Activation, &dyn Fn(f64) -> f64); 4] = [
            (Activation::Relu, &|v| v.max(0.0)),
            (Activation::Gelu, &erf_gelu),
            (Activation::GeluTanh, &tanh_gelu),
            (Activation::Silu, &|v| v / (1.0 + (-v).exp())),
        ];
        for (act, f) in cases {
            let y: Vec<f32> = act.apply(x.clone()).into_data().to_vec().unwrap();
            for (v, got) in xs.iter().zip(y) {
                let want = f(*v as f64);
                assert!(
                    (got as f64 - want).abs() < 1e-5,
                    "{act:?}({v}) = {got}, want {want}"
                );
            }
        }
    }

    /// Abramowitz-Stegun 7.1.26 is too coarse for 1e-5; a series is exact enough here.
    fn erf(x: f64) -> f64 {
        let mut sum = 0.0;
        let mut term = x;
        for n in 0..60 {
            sum += term / (2 * n + 1) as f64;
            term *= -x * x / (n + 1) as f64;
        }
        2.0 / std::f64::consts::PI.sqrt() * sum
    }
}
