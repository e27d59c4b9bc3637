//! The linear layer every projection of the decoder runs through, and the one place that decides
//! how a weight is stored and multiplied.

use burn::module::{Content, DisplaySettings, Initializer, Module, ModuleDisplay, Param, ParamId};
use burn::tensor::{DType, Int, Tensor, TensorData, backend::Backend};

#[cfg(feature = "flex")]
use crate::flex::is_flex;
#[cfg(feature = "flex")]
use crate::quant::QuantizedMatrix;

/// `y = x · W + b`, with the weight stored one of two ways:
///
/// - **as floats**, `weight` `[in, out]` (Burn's layout: from a checkpoint, the transposed view
///   of its PyTorch `[out, in]` matrix, held as stored), possibly narrower than the activations
///   (f16, bf16). On Flex, phi3's kernels multiply it with f32 activations and sums (a one-row
///   GEMV for a decode step, gemm on widened panels for a prefill); elsewhere the product is one
///   2-D matmul (the input cast to the weight's type, the result cast back). Either way a weight
///   held as a strided view (a checkpoint's, a tied `lm_head`) is read in place, unlike Burn's
///   `nn::Linear`, which reshapes its weight to the input's rank;
/// - **as GGML blocks**, `quantized`: a [`QuantizedMatrix`](crate::quant::QuantizedMatrix)
///   buffer (`out` rows of `in` values, as GGUF stores them) in a U8 tensor, multiplied by
///   phi3's own kernels on Flex (integer dot products for a decode step, dequantized tiles and
///   gemm for a prefill). `weight` is then a lazily initialised parameter that dequantizes the
///   blocks if anything reads it; the kernels never do.
///
/// `quantized` is empty (0 bytes) for float layers.
#[derive(Module, Debug)]
#[module(custom_display)]
pub struct Linear<B: Backend> {
    /// GGML blocks, or empty. The first field: the loader fills it before `weight`.
    pub quantized: Param<Tensor<B, 1, Int>>,
    /// `[in, out]`.
    pub weight: Param<Tensor<B, 2>>,
    /// `[out]`, if any.
    pub bias: Option<Param<Tensor<B, 1>>>,
}

/// An empty U8 tensor: no GGML blocks.
pub(crate) fn no_blocks<B: Backend>(device: &B::Device) -> Param<Tensor<B, 1, Int>> {
    let data = TensorData::from_bytes_vec(vec![], [0], DType::U8);
    Param::initialized(ParamId::new(), Tensor::from_data(data, (device, DType::U8)))
}

/// A U8 tensor holding a [`QuantizedMatrix`](crate::quant::QuantizedMatrix) buffer (its bytes
/// move into the tensor without a copy).
pub fn blocks_tensor<B: Backend>(
    buffer: crate::quant::MatrixBuffer,
    device: &B::Device,
) -> Tensor<B, 1, Int> {
    let words = buffer.into_words();
    let len = words.len() * 16;
    let data = TensorData::from_bytes(burn::tensor::Bytes::from_elems(words), [len], DType::U8);
    Tensor::from_data(data, (device, DType::U8))
}

impl<B: Backend> Linear<B> {
    /// Random weights (Kaiming uniform, as PyTorch's and Burn's `Linear`), created lazily: nothing
    /// is allocated until the weight is first used, so a model built only to be filled from a
    /// checkpoint never holds random weights.
    pub fn init(d_input: usize, d_output: usize, bias: bool, device: &B::Device) -> Self {
        let init = Initializer::KaimingUniform {
            gain: 1.0 / 3f64.sqrt(),
            fan_out_only: false,
        };
        let fans = (Some(d_input), Some(d_output));
        Self {
            quantized: no_blocks(device),
            weight: init.init_with([d_input, d_output], fans.0, fans.1, device),
            bias: bias.then(|| init.init_with([d_output], fans.0, fans.1, device)),
        }
    }

    /// A layer from an `[in, out]` weight (and an `[out]` bias).
    pub fn new(weight: Tensor<B, 2>, bias: Option<Tensor<B, 1>>) -> Self {
        Self {
            quantized: no_blocks(&weight.device()),
            weight: Param::from_tensor(weight),
            bias: bias.map(Param::from_tensor),
        }
    }

    /// Whether the weight is kept in GGML blocks.
    pub fn is_quantized(&self) -> bool {
        self.quantized.lazy_shape().dims::<1>()[0] > 0
    }

    /// `[in, out]`, read without initialising a lazy weight.
    pub fn dims(&self) -> [usize; 2] {
        self.weight.lazy_shape().dims()
    }

    /// # Shapes
    /// - x: `[..., in]` → `[..., out]`
    pub fn forward<const D: usize>(&self, x: Tensor<B, D>) -> Tensor<B, D> {
        let _timer = crate::profile::LinearTimer::start();
        let [inp, out] = self.dims();
        let dims = x.dims();
        let rows = dims[..D - 1].iter().product::<usize>();
        let in_dtype = x.dtype();
        let x = x.reshape([rows, inp]);
        let mut y = match self.forward_blocks(x.clone(), rows) {
            Some(y) => y,
            None => self.forward_float(x, rows),
        };
        if y.dtype() != in_dtype {
            y = y.cast(in_dtype);
        }
        if let Some(bias) = &self.bias {
            y = y + bias.val().cast(in_dtype).unsqueeze::<2>();
        }
        let mut out_dims = dims;
        out_dims[D - 1] = out;
        y.reshape(out_dims)
    }

    /// The float weight's product.
    fn forward_float(&self, mut x: Tensor<B, 2>, rows: usize) -> Tensor<B, 2> {
        let weight = self.weight.val();
        if let Some(y) = float_product(x.clone(), weight.clone(), rows) {
            return y;
        }
        if x.dtype() != weight.dtype() {
            x = x.cast(weight.dtype());
        }
        x.matmul(weight)
    }

    /// The GGML blocks' product, with phi3's kernels on Flex; `None` for float layers and on
    /// other backends.
    #[cfg(feature = "flex")]
    fn forward_blocks(&self, x: Tensor<B, 2>, rows: usize) -> Option<Tensor<B, 2>> {
        if !self.is_quantized() || !is_flex::<B>() {
            return None;
        }
        let blocks = crate::flex::int_bytes(self.quantized.val())?;
        let m = QuantizedMatrix::from_bytes(blocks.bytes()).ok()?;
        let device = x.device();
        let x = crate::flex::f32_values(x)?;
        let x = x.as_slice::<f32>()?;
        let mut out = vec![0f32; rows * m.rows()];
        if rows == 1 {
            m.matvec(x, &mut out);
        } else {
            m.matmul(x, rows, &mut out);
        }
        Some(Tensor::from_data(
            TensorData::new(out, [rows, m.rows()]),
            &device,
        ))
    }

    #[cfg(not(feature = "flex"))]
    fn forward_blocks(&self, _x: Tensor<B, 2>, _rows: usize) -> Option<Tensor<B, 2>> {
        None
    }
}

impl<B: Backend> ModuleDisplay for Linear<B> {
    fn custom_settings(&self) -> Option<DisplaySettings> {
        DisplaySettings::new()
            .with_new_line_after_attribute(false)
            .optional()
    }

    fn custom_content(&self, content: Content) -> Option<Content> {
        let [d_input, d_output] = self.dims();
        content
            .add("d_input", &d_input)
            .add("d_output", &d_output)
            .add("bias", &self.bias.is_some())
            .optional()
    }
}

/// A float weight's product by phi3's kernels on Flex, f32 activations and sums whatever the
/// weight's type; `None` elsewhere or for a weight layout they do not take.
///
/// - One row (a decode step): `gemv`, output columns split across cores. Flex's own one-row
///   product runs on one core (its gemm takes a gemv path that ignores rayon), and a decode step
///   is nothing but such reads (docs/performance.md, entries 4, 8 and 12).
/// - Several rows (a prefill), weight held `[out, in]` (the loader's transposed view): gemm on
///   panels of output rows, widened to f32 per panel (entry 12). Burn's path rounds f32
///   activations to a 16-bit weight's type, and converts bf16 operands whole on every call.
///
/// Backends with their own kernels (CUDA, wgpu) are left alone.
fn float_product<B: Backend>(
    x: Tensor<B, 2>,
    weight: Tensor<B, 2>,
    rows: usize,
) -> Option<Tensor<B, 2>> {
    #[cfg(feature = "flex")]
    {
        use crate::gemm_rows::gemm_rows;
        use crate::gemv::{Bf16, F16, F32, gemv};
        if !crate::fast::applies::<B>() {
            return None;
        }
        let device = x.device();
        let [_, out] = weight.dims();
        let dtype = weight.dtype();
        let w = crate::flex::raw(weight)?;
        let layout = w.layout();
        let (&[s0, s1], offset) = (layout.strides(), layout.start_offset()) else {
            return None;
        };
        let (s0, s1) = (usize::try_from(s0).ok()?, usize::try_from(s1).ok()?);
        let x = crate::flex::f32_values(x)?;
        let x = x.as_slice::<f32>()?;
        let bytes = w.bytes();
        let y = match (rows, dtype) {
            (1, DType::F32) => gemv::<F32>(
                x,
                bytemuck::try_cast_slice(bytes).ok()?,
                (offset, s0, s1),
                out,
            ),
            (1, DType::F16) => gemv::<F16>(
                x,
                bytemuck::try_cast_slice(bytes).ok()?,
                (offset, s0, s1),
                out,
            ),
            (1, DType::BF16) => gemv::<Bf16>(
                x,
                bytemuck::try_cast_slice(bytes).ok()?,
                (offset, s0, s1),
                out,
            ),
            // [in, out] as a view of [out, in]: output rows contiguous.
            (_, _) if s0 != 1 => None,
            (_, DType::F32) => gemm_rows::<F32>(
                x,
                rows,
                bytemuck::try_cast_slice(bytes).ok()?,
                (offset, s1),
                out,
            ),
            (_, DType::F16) => gemm_rows::<F16>(
                x,
                rows,
                bytemuck::try_cast_slice(bytes).ok()?,
                (offset, s1),
                out,
            ),
            (_, DType::BF16) => gemm_rows::<Bf16>(
                x,
                rows,
                bytemuck::try_cast_slice(bytes).ok()?,
                (offset, s1),
                out,
            ),
            _ => None,
        }?;
        Some(Tensor::from_data(TensorData::new(y, [rows, out]), &device))
    }
    #[cfg(not(feature = "flex"))]
    {
        let _ = (x, weight, rows);
        None
    }
}

#[cfg(all(test, feature = "flex"))]
mod tests {
    use burn::backend::Flex;
    use burn::tensor::{DType, Distribution, Tensor};

    use super::Linear;

    /// The float one-row kernel equals Burn's product of the same weights widened to f32, for a
    /// row-major weight and for the transposed view a tied head is.
    #[test]
    fn float_weights_one_row_equals_burns_f32_product() {
        // This tests phi3's kernel itself, also in a `PHI3_GENERIC=1` run.
        crate::fast::set_enabled(true);
        let device = Default::default();
        let (inp, out) = (300, 300);
        let x = Tensor::<Flex, 2>::random([1, inp], Distribution::Normal(0.0, 1.0), &device);
        for dtype in [DType::F32, DType::F16, DType::BF16] {
            let stored =
                Tensor::<Flex, 2>::random([out, inp], Distribution::Normal(0.0, 1.0), &device)
                    .cast(dtype);
            let row_major = stored
                .clone()
                .transpose()
                .reshape([1, inp, out])
                .reshape([inp, out]);
            for weight in [row_major, stored.transpose()] {
                let reference = x.clone().matmul(weight.clone().cast(DType::F32));
                let got = Linear::new(weight, None).forward(x.clone());
                assert_eq!(got.dtype(), DType::F32);
                let diff: f32 = (got - reference).abs().max().into_scalar();
                assert!(diff < 1e-3, "{dtype:?}: max |Δ| {diff}");
            }
        }
    }

    /// Several rows (a prefill) with a weight held `[out, in]`, as the loader holds it: panels of
    /// output rows (more than one, the last one short), f32 activations whatever the weight's type.
    #[test]
    fn float_weights_many_rows_equal_burns_f32_product() {
        crate::fast::set_enabled(true);
        let device = Default::default();
        let (rows, inp, out) = (7, 520, 333); // panels of 64K / 520 → 112 rows: 3 panels
        let x = Tensor::<Flex, 2>::random([rows, inp], Distribution::Normal(0.0, 1.0), &device);
        for dtype in [DType::F32, DType::F16, DType::BF16] {
            let weight =
                Tensor::<Flex, 2>::random([out, inp], Distribution::Normal(0.0, 1.0), &device)
                    .cast(dtype)
                    .transpose();
            let reference = x.clone().matmul(weight.clone().cast(DType::F32));
            let got = Linear::new(weight, None).forward(x.clone());
            assert_eq!(got.dtype(), DType::F32);
            let diff: f32 = (got - reference).abs().max().into_scalar();
            assert!(diff < 1e-3, "{dtype:?}: max |Δ| {diff}");
        }
    }
}
