//! Filling any composition from a checkpoint.
//!
//! A Burn [`ModuleMapper`] walks the module tree, which hands it every float parameter with its
//! path (`model.layers.0.self_attn.qkv_proj.weight`) and the type that owns it (`Linear`). For
//! each one it finds the checkpoint tensor through [`CheckpointNames`], converts the layout and
//! dtype — the loader's one place for layout conversions — and replaces the parameter, whose lazy
//! random initialiser therefore never runs. One tensor at a time: the weights never exist twice.

use std::collections::HashMap;

use burn::module::{Module, ModuleMapper, Param, ParamId};
use burn::tensor::{DType, Tensor, TensorData, TensorPrimitive, backend::Backend};
use phi3_core::ModelError;

use super::names::{CheckpointNames, LinearLayout};
use super::source::WeightSource;
use crate::error::{Phi3Error, Result};

/// Fills every float parameter of `model` from `source`, then checks that the checkpoint held
/// nothing the model did not read. The weights of linear layers and embeddings are stored as
/// `dtype`; everything else (norms, biases, position tables) as f32.
pub(crate) fn fill<B: Backend, M: Module<B>>(
    model: M,
    source: &mut dyn WeightSource,
    names: &CheckpointNames,
    dtype: DType,
) -> Result<M> {
    let mut filler = Filler {
        source,
        names,
        dtype,
        path: Vec::new(),
        owners: Vec::new(),
        shared: HashMap::new(),
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
    dtype: DType,
    /// Field names from the root to the current parameter.
    path: Vec<String>,
    /// The container type of each entry of `path` (`Struct:Linear`, `Vec`, ...).
    owners: Vec<String>,
    /// Loaded tensors that a tied parameter may share: path → (id, tensor, shape).
    shared: HashMap<String, (ParamId, TensorPrimitive<B>, Vec<usize>)>,
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
}

impl<B: Backend> Filler<'_, B> {
    fn load<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) -> Result<Param<Tensor<B, D>>> {
        let path = self.path.join(".");
        let shape: Vec<usize> = param.lazy_shape().dims::<D>().to_vec();
        let owner = self.owners.last().map_or("", String::as_str);
        let is_weight = self.path.last().is_some_and(|leaf| leaf == "weight");
        let is_linear = D == 2 && is_weight && owner == "Struct:Linear";
        let is_matrix = is_linear || (D == 2 && is_weight && owner == "Struct:Embedding");
        let name = self.names.checkpoint_name(&path);
        if let Some(source) = self.names.tied_to(&path)
            && !self.source.contains(&name)
        {
            return self.share(&path, source, &shape);
        }

        // The layout conversion: PyTorch's nn.Linear stores [out, in], Burn multiplies by
        // [in, out]. Transposed here once, on the host, so the weight is contiguous: a transposed
        // view would be copied by Flex on every call (docs/performance.md).
        let transpose = is_linear && self.names.layout() == LinearLayout::OutIn;
        let stored: Vec<usize> = match transpose {
            true => shape.iter().rev().copied().collect(),
            false => shape.clone(),
        };
        let mut data = self.read(&name, &stored)?;
        if transpose {
            data = transposed(data, stored[0], stored[1])?;
        }
        let dtype = if is_matrix { self.dtype } else { DType::F32 };
        let tensor = Tensor::<B, D>::from_data(data.convert_dtype(dtype), &param.lazy_device());
        if self.names.is_tie_source(&path) {
            let primitive = tensor.clone().into_primitive();
            self.shared.insert(path, (param.id, primitive, shape));
        }
        Ok(Param::initialized(param.id, tensor))
    }

    /// Tensor `name` stored as `shape`, or — when a fuse rule applies and the checkpoint has the
    /// parts instead — the parts concatenated along the output dimension.
    fn read(&mut self, name: &str, shape: &[usize]) -> Result<TensorData> {
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
