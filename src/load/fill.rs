//! Filling any composition from a checkpoint.
//!
//! A Burn [`ModuleMapper`] walks the module tree, which hands it every parameter with its path
//! (`model.layers.0.self_attn.qkv_proj.weight`) and the type that owns it (`Linear`). For each
//! one it finds the checkpoint tensor through [`CheckpointNames`], converts the layout and dtype —
//! the loader's one place for layout conversions — and replaces the parameter, whose lazy random
//! initialiser therefore never runs. One tensor at a time: the weights never exist twice.
//!
//! A `Linear` or `Embedding` has two slots for its matrix, visited in order: `quantized` (GGML
//! blocks) then `weight` (floats). When the matrix is kept in blocks ([`WeightStorage`]), the
//! first is filled and the second becomes a lazy parameter that dequantizes the blocks only if
//! something reads it.

use std::collections::HashMap;

use burn::module::{Module, ModuleMapper, Param, ParamId};
use burn::tensor::{DType, Int, Tensor, TensorData, TensorPrimitive, backend::Backend};
use phi3_core::quant::{GgmlType, MatrixBuffer, QuantizedMatrix, kernels_run_on, quantize};
use phi3_core::{ModelError, blocks_tensor};

use super::WeightStorage;
use super::names::{CheckpointNames, LinearLayout};
use super::source::WeightSource;
use crate::error::{Phi3Error, Result};

/// Fills every parameter of `model` from `source`, then checks that the checkpoint held nothing
/// the model did not read. The matrices of linear layers and embeddings are stored as `storage`
/// says; everything else (norms, biases, position tables) in the device's compute dtype.
pub(crate) fn fill<B: Backend, M: Module<B>>(
    model: M,
    source: &mut dyn WeightSource,
    names: &CheckpointNames,
    storage: WeightStorage,
) -> Result<M> {
    let mut filler = Filler {
        source,
        names,
        storage,
        blocks_run: kernels_run_on::<B>(),
        path: Vec::new(),
        owners: Vec::new(),
        shared: HashMap::new(),
        blocks: HashMap::new(),
        shared_blocks: HashMap::new(),
        error: None,
    };
    let model = model.map(&mut filler);
    if let Some(error) = filler.error {
        return Err(error);
    }
    filler.source.finish()?;
    Ok(model)
}

struct Filler<'a, B: Backend> {
    source: &'a mut dyn WeightSource,
    names: &'a CheckpointNames,
    storage: WeightStorage,
    /// Whether this backend multiplies GGML blocks (else they are dequantized).
    blocks_run: bool,
    /// Field names from the root to the current parameter.
    path: Vec<String>,
    /// The container type of each entry of `path` (`Struct:Linear`, `Vec`, ...).
    owners: Vec<String>,
    /// Loaded tensors that a tied parameter may share: path → (id, tensor, shape).
    shared: HashMap<String, (ParamId, TensorPrimitive<B>, Vec<usize>)>,
    /// The blocks just loaded into a layer's `quantized` slot, by layer path, for its `weight`.
    blocks: HashMap<String, Tensor<B, 1, Int>>,
    /// Loaded blocks that a tied layer may share, by layer path.
    shared_blocks: HashMap<String, (ParamId, Tensor<B, 1, Int>)>,
    /// The first failure; later parameters are left alone.
    error: Option<Phi3Error>,
}

impl<B: Backend> ModuleMapper<B> for Filler<'_, B> {
    fn enter_module(&mut self, name: &str, container_type: &str) {
        self.path.push(name.to_string());
        self.owners.push(container_type.to_string());
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.pop();
        self.owners.pop();
    }

    fn map_float<const D: usize>(&mut self, param: Param<Tensor<B, D>>) -> Param<Tensor<B, D>> {
        if self.error.is_some() {
            return param;
        }
        match self.load(&param) {
            Ok(loaded) => loaded,
            Err(error) => {
                self.error = Some(error);
                param
            }
        }
    }

    fn map_int<const D: usize>(
        &mut self,
        param: Param<Tensor<B, D, Int>>,
    ) -> Param<Tensor<B, D, Int>> {
        let slot =
            self.path.last().is_some_and(|leaf| leaf == "quantized") && self.is_matrix_owner();
        if self.error.is_some() || D != 1 || !slot {
            return param;
        }
        match self.load_blocks(&param) {
            Ok(loaded) => loaded,
            Err(error) => {
                self.error = Some(error);
                param
            }
        }
    }
}

/// What a layer's `quantized` slot receives.
enum Blocks {
    /// Nothing: the matrix is floats.
    None,
    /// The checkpoint's own blocks.
    AsStored,
    /// The matrix quantized to this type.
    Quantize(GgmlType),
}

impl<B: Backend> Filler<'_, B> {
    /// Whether the current parameter belongs to a `Linear` or an `Embedding`.
    fn is_matrix_owner(&self) -> bool {
        matches!(
            self.owners.last().map(String::as_str),
            Some("Struct:Linear" | "Struct:Embedding")
        )
    }

    /// Whether the layer at `layer` is an embedding or the model's output head.
    fn is_embedding_or_head(&self, layer: &str) -> bool {
        self.owners.last().is_some_and(|o| o == "Struct:Embedding") || layer == "lm_head"
    }

    /// The path of the layer that owns the current parameter.
    fn layer_path(&self) -> String {
        self.path[..self.path.len().saturating_sub(1)].join(".")
    }

    fn load<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) -> Result<Param<Tensor<B, D>>> {
        let path = self.path.join(".");
        let shape: Vec<usize> = param.lazy_shape().dims::<D>().to_vec();
        let owner = self.owners.last().map_or("", String::as_str);
        let is_weight = self.path.last().is_some_and(|leaf| leaf == "weight");
        let is_linear = D == 2 && is_weight && owner == "Struct:Linear";
        let is_matrix = D == 2 && is_weight && self.is_matrix_owner();
        if is_matrix && let Some(blocks) = self.blocks.remove(&self.layer_path()) {
            return Ok(dequantize_lazily(param, blocks, is_linear));
        }
        let name = self.names.checkpoint_name(&path);
        if let Some(source) = self.names.tied_to(&path)
            && !self.source.contains(&name)
        {
            return self.share(&path, source, &shape);
        }

        // The layout conversion: PyTorch's nn.Linear stores [out, in], Burn multiplies by
        // [in, out]. The weight stays as stored and the layer gets its transposed view: a decode
        // step then reads each output's weights as one contiguous row (twice the bandwidth of
        // summing weighted rows, docs/performance.md entry 12), gemm takes either layout at the
        // same speed, and loading does no transposition (nor the f32 copy it took).
        let transpose = is_linear && self.names.layout() == LinearLayout::OutIn;
        let stored: Vec<usize> = match transpose {
            true => shape.iter().rev().copied().collect(),
            false => shape.clone(),
        };
        let data = self.read(&name, &stored)?;
        let device = param.lazy_device();
        let dtype = match self.storage {
            WeightStorage::Float(dtype) if is_matrix => dtype,
            _ => phi3_core::device::compute_dtype::<B>(&device),
        };
        // The dtype goes with the data: `from_data` alone would convert to the default float type.
        let tensor = Tensor::<B, D>::from_data(data.convert_dtype(dtype), (&device, dtype));
        phi3_core::fast::use_huge_pages(&tensor);
        let tensor = match transpose {
            true => tensor.transpose(),
            false => tensor,
        };
        if self.names.is_tie_source(&path) {
            let primitive = tensor.clone().into_primitive();
            self.shared.insert(path, (param.id, primitive, shape));
        }
        Ok(Param::initialized(param.id, tensor))
    }

    /// Tensor `name` stored as `shape`, or — when a fuse rule applies and the checkpoint has the
    /// parts instead — the parts concatenated along the output dimension.
    fn read(&mut self, name: &str, shape: &[usize]) -> Result<TensorData> {
        let data = self.read_unchecked(name, shape)?;
        // NaN or ±inf in a weight poisons every logit downstream: reported here, by name, where
        // one pass over memory being loaded anyway finds it.
        if let Some(index) = first_non_finite(&data) {
            return Err(Phi3Error::NonFiniteWeight {
                tensor: name.into(),
                file: self.source.origin(),
                index,
            });
        }
        Ok(data)
    }

    fn read_unchecked(&mut self, name: &str, shape: &[usize]) -> Result<TensorData> {
        if !self.source.contains(name)
            && let Some(parts) = self.names.parts(name)
            && parts.iter().all(|p| self.source.contains(p))
        {
            // [out, in] weights and [out] biases stack their rows; [in, out] weights their columns.
            let axis = match (shape.len(), self.names.layout()) {
                (2, LinearLayout::InOut) => 1,
                _ => 0,
            };
            let shapes: Vec<Vec<usize>> = parts
                .iter()
                .map(|p| self.source.shape(p).unwrap_or_default())
                .collect();
            let mut found = shapes[0].clone();
            found[axis] = shapes
                .iter()
                .map(|s| s.get(axis).copied().unwrap_or(0))
                .sum();
            let fits = |s: &Vec<usize>| {
                s.len() == shape.len() && (0..s.len()).all(|i| i == axis || s[i] == shape[i])
            };
            if found != shape || !shapes.iter().all(fits) {
                return Err(Phi3Error::ShapeMismatch {
                    tensor: format!("{name} (from {})", parts.join(", ")),
                    file: self.source.origin(),
                    found,
                    expected: shape.to_vec(),
                });
            }
            let mut pieces = Vec::with_capacity(parts.len());
            for (part, part_shape) in parts.iter().zip(shapes) {
                let data = self.source.read(part, &part_shape)?;
                pieces.push((to_f32(data)?, part_shape));
            }
            return Ok(concat(pieces, axis));
        }
        self.source.read(name, shape)
    }

    /// The parameter at `path` as a view of the tensor already loaded for `source`.
    fn share<const D: usize>(
        &self,
        path: &str,
        source: &str,
        shape: &[usize],
    ) -> Result<Param<Tensor<B, D>>> {
        let tie_error = |message: String| -> Phi3Error {
            ModelError::part("CheckpointNames", "tie", format!("`{path}`: {message}")).into()
        };
        let Some((id, primitive, source_shape)) = self.shared.get(source) else {
            return Err(tie_error(format!(
                "shares `{source}`, which was not loaded before it"
            )));
        };
        let tensor = Tensor::<B, D>::from_primitive(primitive.clone());
        let reversed: Vec<usize> = source_shape.iter().rev().copied().collect();
        let tensor = if source_shape.as_slice() == shape {
            tensor
        } else if D == 2 && reversed == shape {
            tensor.transpose()
        } else {
            return Err(tie_error(format!(
                "shape {shape:?} cannot share `{source}` of shape {source_shape:?}"
            )));
        };
        Ok(Param::initialized(*id, tensor))
    }
}

impl<B: Backend> Filler<'_, B> {
    /// Fills the `quantized` slot of the layer at the current path, or leaves it empty.
    fn load_blocks<const D: usize>(
        &mut self,
        param: &Param<Tensor<B, D, Int>>,
    ) -> Result<Param<Tensor<B, D, Int>>> {
        let same_rank =
            |t: Tensor<B, 1, Int>| Tensor::<B, D, Int>::from_primitive(t.into_primitive());
        let layer = self.layer_path();
        let weight = format!("{layer}.weight");
        let name = self.names.checkpoint_name(&weight);
        if let Some(source) = self.names.tied_to(&weight)
            && !self.source.contains(&name)
        {
            // A tied layer shares the blocks of its source, if that was kept in blocks.
            let source = source.strip_suffix(".weight").unwrap_or(source);
            return Ok(match self.shared_blocks.get(source) {
                Some((id, blocks)) => {
                    self.blocks.insert(layer, blocks.clone());
                    Param::initialized(*id, same_rank(blocks.clone()))
                }
                None => param.clone(),
            });
        }
        let parts = match self.source.contains(&name) {
            true => vec![name.clone()],
            false => self
                .names
                .parts(&name)
                .unwrap_or_else(|| vec![name.clone()]),
        };
        let choice = match (self.storage, self.blocks_run) {
            (_, false) | (WeightStorage::Float(_), _) => Blocks::None,
            // As llama.cpp does (its output stays Q6_K): 4-bit embeddings and heads cost a small
            // model its answers (SmolLM2 re-quantized to Q4_0 everywhere: P(" Paris") 0.16).
            (WeightStorage::Quantized(GgmlType::Q4_0 | GgmlType::Q4_1), _)
                if self.is_embedding_or_head(&layer) =>
            {
                Blocks::Quantize(GgmlType::Q8_0)
            }
            (WeightStorage::Quantized(ty), _) => Blocks::Quantize(ty),
            (WeightStorage::AsStored, _) => {
                match parts
                    .iter()
                    .any(|p| self.source.block_type(p).is_some_and(|t| t.is_quantized()))
                {
                    true => Blocks::AsStored,
                    false => Blocks::None,
                }
            }
        };
        let bytes = match choice {
            Blocks::None => return Ok(param.clone()),
            Blocks::AsStored => self.stored_blocks(&name, &parts)?,
            Blocks::Quantize(ty) => match self.quantized_blocks(&name, ty)? {
                Some(bytes) => bytes,
                None => return Ok(param.clone()),
            },
        };
        let blocks = blocks_tensor::<B>(bytes, &param.lazy_device());
        self.blocks.insert(layer.clone(), blocks.clone());
        if self.names.is_tie_source(&weight) {
            self.shared_blocks.insert(layer, (param.id, blocks.clone()));
        }
        Ok(Param::initialized(param.id, same_rank(blocks)))
    }

    /// The blocks of `parts` (the tensor itself, or the pieces a fused tensor is made of) as one
    /// [`QuantizedMatrix`] buffer, each read straight into place. A float piece joins as a run of
    /// F32 rows.
    fn stored_blocks(&mut self, name: &str, parts: &[String]) -> Result<MatrixBuffer> {
        let mut runs = Vec::with_capacity(parts.len());
        let mut shapes = Vec::with_capacity(parts.len());
        for part in parts {
            let shape = self.source.shape(part).unwrap_or_default();
            let ty = self.source.block_type(part).filter(|t| t.is_quantized());
            runs.push((
                ty.unwrap_or(GgmlType::F32),
                shape.first().copied().unwrap_or(0),
            ));
            shapes.push(shape);
        }
        let cols = shapes.first().and_then(|s| s.get(1)).copied().unwrap_or(0);
        let mut buffer = shapes
            .iter()
            .all(|s| s.len() == 2 && s[1] == cols)
            .then(|| MatrixBuffer::new(cols, &runs))
            .flatten()
            .ok_or_else(|| Phi3Error::ShapeMismatch {
                tensor: format!("{name} (blocks of {})", parts.join(", ")),
                file: self.source.origin(),
                found: shapes.concat(),
                expected: vec![cols],
            })?;
        for (i, (part, shape)) in parts.iter().zip(&shapes).enumerate() {
            if runs[i].0 == GgmlType::F32 {
                let values = to_f32(self.source.read(part, shape)?)?;
                buffer
                    .part_mut(i)
                    .copy_from_slice(bytemuck::cast_slice(&values));
            } else {
                self.source
                    .read_blocks_into(part, shape, buffer.part_mut(i))?;
            }
        }
        Ok(buffer)
    }

    /// The matrix `name` (read as floats, in `[rows = out, cols = in]` order) quantized to `ty`;
    /// `None` when its rows are not whole blocks.
    fn quantized_blocks(&mut self, name: &str, ty: GgmlType) -> Result<Option<MatrixBuffer>> {
        let owner_is_linear = self.owners.last().is_some_and(|o| o == "Struct:Linear");
        let stored = match self.source.shape(name) {
            Some(shape) => shape,
            None => {
                let parts = self.names.parts(name).unwrap_or_default();
                let shapes: Vec<Vec<usize>> =
                    parts.iter().filter_map(|p| self.source.shape(p)).collect();
                match shapes.first() {
                    Some(first) if shapes.len() == parts.len() => {
                        let axis = usize::from(
                            owner_is_linear && self.names.layout() == LinearLayout::InOut,
                        );
                        let mut joined = first.clone();
                        joined[axis] = shapes.iter().map(|s| s[axis]).sum();
                        joined
                    }
                    _ => return Ok(None),
                }
            }
        };
        let [a, b] = stored[..] else { return Ok(None) };
        // Rows are outputs: GPT-2's Conv1D stores [in, out].
        let in_out = owner_is_linear && self.names.layout() == LinearLayout::InOut;
        let (rows, cols) = if in_out { (b, a) } else { (a, b) };
        if !cols.is_multiple_of(ty.block_size()) {
            return Ok(None);
        }
        let mut data = self.read(name, &stored)?;
        if in_out {
            data = transposed(data, a, b)?;
        }
        let values = to_f32(data)?;
        let bytes = quantize(ty, &values).ok_or_else(|| Phi3Error::InvalidOption {
            option: "quantized",
            message: format!("phi3 cannot quantize to {}", ty.name()),
        })?;
        let mut buffer = MatrixBuffer::new(cols, &[(ty, rows)]).ok_or_else(|| {
            ModelError::part(
                "CheckpointNames",
                "quantized",
                format!("{name}: {rows} × {cols}"),
            )
        })?;
        buffer.part_mut(0).copy_from_slice(&bytes);
        Ok(Some(buffer))
    }
}

/// The float parameter of a layer whose matrix is kept in `blocks`: initialised (dequantized,
/// transposed to `[in, out]` for a `Linear`) only if something reads it.
fn dequantize_lazily<B: Backend, const D: usize>(
    param: &Param<Tensor<B, D>>,
    blocks: Tensor<B, 1, Int>,
    transpose: bool,
) -> Param<Tensor<B, D>> {
    let shape = param.lazy_shape();
    Param::uninitialized(
        param.id,
        #[allow(
            clippy::expect_used,
            reason = "the blocks were parsed once already, at load"
        )]
        move |device, _| {
            let data = blocks.clone().into_data();
            let matrix = QuantizedMatrix::from_bytes(data.as_bytes())
                .expect("blocks were checked when they were loaded");
            let mut values = Vec::new();
            matrix.dequantize_rows(0, matrix.rows(), &mut values);
            let (rows, cols) = (matrix.rows(), matrix.cols());
            let table = Tensor::<B, 2>::from_data(TensorData::new(values, [rows, cols]), device);
            let table = if transpose { table.transpose() } else { table };
            Tensor::<B, D>::from_primitive(table.into_primitive())
        },
        param.lazy_device(),
        false,
        shape,
    )
}

/// The first NaN or infinity among a float tensor's values (f32, f16, bf16: all exponent bits
/// set), or `None`; other dtypes have none.
fn first_non_finite(data: &TensorData) -> Option<usize> {
    let bytes = data.as_bytes();
    let halves = |exponent: u16| {
        bytes
            .chunks_exact(2)
            .position(|b| u16::from_le_bytes([b[0], b[1]]) & exponent == exponent)
    };
    match data.dtype {
        DType::F32 => bytes
            .chunks_exact(4)
            .position(|b| !f32::from_le_bytes([b[0], b[1], b[2], b[3]]).is_finite()),
        DType::F16 => halves(0x7C00),
        DType::BF16 => halves(0x7F80),
        _ => None,
    }
}

fn to_f32(data: TensorData) -> Result<Vec<f32>> {
    Ok(data
        .convert::<f32>()
        .into_vec::<f32>()
        .map_err(ModelError::from)?)
}

/// A `[rows, cols]` matrix transposed to `[cols, rows]`, in f32.
fn transposed(data: TensorData, rows: usize, cols: usize) -> Result<TensorData> {
    let values = to_f32(data)?;
    let mut out = vec![0f32; values.len()];
    // Tiles keep both the reads and the writes within a few cache lines.
    const TILE: usize = 32;
    for r0 in (0..rows).step_by(TILE) {
        for c0 in (0..cols).step_by(TILE) {
            for r in r0..(r0 + TILE).min(rows) {
                for c in c0..(c0 + TILE).min(cols) {
                    out[c * rows + r] = values[r * cols + c];
                }
            }
        }
    }
    Ok(TensorData::new(out, [cols, rows]))
}

/// Row-major pieces joined along `axis` (0 or 1 for matrices, 0 for vectors).
fn concat(pieces: Vec<(Vec<f32>, Vec<usize>)>, axis: usize) -> TensorData {
    let mut shape = pieces[0].1.clone();
    shape[axis] = pieces.iter().map(|(_, s)| s[axis]).sum();
    let values: Vec<f32> = if axis == 0 {
        pieces.into_iter().flat_map(|(v, _)| v).collect()
    } else {
        let rows = shape[0];
        (0..rows)
            .flat_map(|r| {
                pieces.iter().flat_map(move |(v, s)| {
                    let cols = s[1];
                    v[r * cols..(r + 1) * cols].iter().copied()
                })
            })
            .collect()
    };
    TensorData::new(values, shape)
}
