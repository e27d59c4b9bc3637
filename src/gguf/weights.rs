//! From a GGUF file to the decoder: config from metadata, tensors by Hugging Face name.

use std::collections::BTreeSet;

use std::path::PathBuf;
use std::sync::Arc;

use burn::tensor::TensorData;
use phi3_core::quant::GgmlType;
use phi3_core::{Phi3Config, RopeParameters, TokenIds};
use phi3_tokenizer::{GgufVocab, Tokenizer};

use super::reader::{GgufFile, Value};
use crate::error::{Phi3Error, Result};
use crate::load::WeightSource;

fn meta_err(file: &GgufFile, message: String) -> Phi3Error {
    Phi3Error::Gguf {
        file: file.path().into(),
        message,
    }
}

/// The architecture (`general.architecture`), checked to be one the decoder runs.
fn architecture(file: &GgufFile) -> Result<String> {
    let arch = file
        .get("general.architecture")
        .and_then(Value::as_str)
        .ok_or_else(|| meta_err(file, "no general.architecture".into()))?;
    match arch {
        "llama" | "phi3" => Ok(arch.to_string()),
        other => Err(meta_err(
            file,
            format!("architecture {other:?} is not supported (llama, phi3)"),
        )),
    }
}

/// A [`Phi3Config`] from GGUF metadata (`{arch}.block_count`, `.embedding_length`, ...).
pub fn config_from_gguf(file: &GgufFile) -> Result<Phi3Config> {
    let arch = architecture(file)?;
    let key = |k: &str| format!("{arch}.{k}");
    let int = |k: &str| -> Result<usize> {
        file.get(&key(k))
            .and_then(Value::as_usize)
            .ok_or_else(|| meta_err(file, format!("missing or invalid {}", key(k))))
    };
    let opt_int = |k: &str| file.get(&key(k)).and_then(Value::as_usize);
    let float = |k: &str| file.get(&key(k)).and_then(Value::as_f64);
    let hidden = int("embedding_length")?;
    let heads = int("attention.head_count")?;
    let vocab = match opt_int("vocab_size") {
        Some(v) => v,
        None => file
            .get("tokenizer.ggml.tokens")
            .and_then(Value::as_array)
            .map(<[Value]>::len)
            .or_else(|| file.tensors.get("token_embd.weight").map(|t| t.shape()[0]))
            .ok_or_else(|| meta_err(file, "cannot tell the vocabulary size".into()))?,
    };
    let head_dim = hidden / heads.max(1);
    let partial = opt_int("rope.dimension_count")
        .filter(|&d| d != head_dim && head_dim > 0)
        .map(|d| d as f64 / head_dim as f64);
    let context = int("context_length")?;
    let original = opt_int("rope.scaling.original_context_length");
    let token = |k: &str| {
        file.get(&format!("tokenizer.ggml.{k}"))
            .and_then(Value::as_usize)
            .map(|v| v as u32)
    };
    let config = Phi3Config {
        vocab_size: vocab,
        hidden_size: hidden,
        intermediate_size: int("feed_forward_length")?,
        num_hidden_layers: int("block_count")?,
        num_attention_heads: heads,
        num_key_value_heads: opt_int("attention.head_count_kv"),
        max_position_embeddings: context,
        original_max_position_embeddings: original,
        rope_theta: float("rope.freq_base"),
        rope_scaling: rope_scaling(file, &arch)?,
        rope_parameters: None,
        partial_rotary_factor: partial,
        sliding_window: opt_int("attention.sliding_window").filter(|&w| w > 0),
        // ggml stores the epsilon as f32 (1e-5 reads back as 9.9999997e-6); transformers' GGUF
        // loader uses that value as is, and so do we.
        rms_norm_eps: float("attention.layer_norm_rms_epsilon").unwrap_or(1e-5),
        bos_token_id: token("bos_token_id"),
        eos_token_id: token("eos_token_id").map(TokenIds::One),
        pad_token_id: token("padding_token_id"),
        tie_word_embeddings: !file.tensors.contains_key("output.weight"),
        hidden_act: "silu".into(),
        model_type: Some(arch),
        head_dim: None,
    };
    config.validate()?;
    Ok(config)
}

/// RoPE scaling as llama.cpp's converter writes it. LongRoPE (Phi-3-mini-128k, Phi-3-medium-128k,
/// Phi-3.5-mini): the `rope_factors_long` / `rope_factors_short` tensors with
/// `{arch}.rope.scaling.original_context_length` and `.attn_factor`. Any other rope data
/// (Llama 3.1's `rope_freqs`, a lone factor list) is a typed error naming it: read as plain RoPE
/// it would load without complaint and compute something else.
fn rope_scaling(file: &GgufFile, arch: &str) -> Result<Option<RopeParameters>> {
    let has = |name: &str| file.tensors.contains_key(name);
    let (long, short) = ("rope_factors_long.weight", "rope_factors_short.weight");
    if let Some(other) = file
        .tensors
        .keys()
        .find(|n| n.starts_with("rope_") && *n != long && *n != short)
    {
        return Err(meta_err(
            file,
            format!(
                "tensor {other} (rope data phi3 does not apply: only LongRoPE's \
                 rope_factors_long / rope_factors_short) is not supported"
            ),
        ));
    }
    match (has(long), has(short)) {
        (false, false) => return Ok(None),
        (true, true) => {}
        _ => {
            return Err(meta_err(
                file,
                "LongRoPE needs both rope_factors_long and rope_factors_short".into(),
            ));
        }
    }
    let original = file
        .get(&format!("{arch}.rope.scaling.original_context_length"))
        .and_then(Value::as_usize)
        .ok_or_else(|| {
            meta_err(
                file,
                format!("rope_factors_* without {arch}.rope.scaling.original_context_length"),
            )
        })?;
    let factors = |name: &str| -> Result<Vec<f64>> {
        let (values, _) = file.tensor_f32(name)?;
        Ok(values.into_iter().map(f64::from).collect())
    };
    Ok(Some(RopeParameters {
        kind: Some("longrope".into()),
        long_factor: Some(factors(long)?),
        short_factor: Some(factors(short)?),
        attention_factor: file
            .get(&format!("{arch}.rope.scaling.attn_factor"))
            .and_then(Value::as_f64),
        original_max_position_embeddings: Some(original),
        ..Default::default()
    }))
}

/// The end-of-text ids llama.cpp's converter writes (`tokenizer.ggml.eos_token_id`, and the
/// end-of-turn / end-of-message ids `eot_token_id`, `eom_token_id`: Phi-3's `<|end|>` is EOT),
/// as the file's generation defaults: generation stops at any of them.
pub fn generation_defaults(file: &GgufFile) -> crate::load::GenerationDefaults {
    let ids: Vec<u32> = ["eos_token_id", "eot_token_id", "eom_token_id"]
        .iter()
        .filter_map(|k| file.get(&format!("tokenizer.ggml.{k}"))?.as_usize())
        .map(|v| v as u32)
        .collect();
    crate::load::GenerationDefaults {
        eos_token_id: TokenIds::from_ids(ids),
        ..Default::default()
    }
}

/// The tokenizer described by the metadata (`tokenizer.ggml.*`).
pub fn tokenizer_from_gguf(file: &GgufFile) -> Result<Tokenizer> {
    let strings = |k: &str| -> Option<Vec<String>> {
        file.get(k)?
            .as_array()?
            .iter()
            .map(|v| v.as_str().map(str::to_string))
            .collect()
    };
    let model = file
        .get("tokenizer.ggml.model")
        .and_then(Value::as_str)
        .ok_or_else(|| meta_err(file, "no tokenizer.ggml.model".into()))?;
    let tokens = strings("tokenizer.ggml.tokens")
        .ok_or_else(|| meta_err(file, "no tokenizer.ggml.tokens".into()))?;
    let vocab = GgufVocab {
        model: model.to_string(),
        architecture: architecture(file)?,
        token_types: file
            .get("tokenizer.ggml.token_type")
            .and_then(Value::as_array)
            .map(|a| a.iter().map(|v| v.as_usize().unwrap_or(1) as u32).collect())
            .unwrap_or_default(),
        scores: file
            .get("tokenizer.ggml.scores")
            .and_then(Value::as_array)
            .map(|a| a.iter().map(|v| v.as_f64().unwrap_or(0.0) as f32).collect())
            .unwrap_or_default(),
        merges: strings("tokenizer.ggml.merges").unwrap_or_default(),
        tokens,
        bos: file
            .get("tokenizer.ggml.bos_token_id")
            .and_then(Value::as_usize)
            .map(|v| v as u32),
        eos: file
            .get("tokenizer.ggml.eos_token_id")
            .and_then(Value::as_usize)
            .map(|v| v as u32),
        add_bos: file
            .get("tokenizer.ggml.add_bos_token")
            .map(|v| matches!(v, Value::Bool(true)))
            .unwrap_or(false),
        chat_template: file
            .get("tokenizer.chat_template")
            .and_then(Value::as_str)
            .map(str::to_string),
    };
    Ok(Tokenizer::from_gguf(vocab)?)
}

/// A GGUF file as a [`WeightSource`]: Hugging Face names in, llama.cpp names out.
pub struct GgufWeights {
    file: Arc<GgufFile>,
    heads: usize,
    kv_heads: usize,
    llama: bool,
    taken: BTreeSet<String>,
}

impl GgufWeights {
    /// Weights of `file` for a model built from `config`.
    pub fn new(file: Arc<GgufFile>, config: &Phi3Config) -> Self {
        Self {
            file,
            heads: config.num_attention_heads,
            kv_heads: config.num_key_value_heads(),
            llama: config.model_type.as_deref() == Some("llama"),
            taken: BTreeSet::new(),
        }
    }

    /// llama.cpp's name for `name`, checked to exist with the `expected` shape, and the head count
    /// of its permuted rows.
    fn locate(&self, name: &str, expected: &[usize]) -> Result<(String, Option<usize>)> {
        let missing = || Phi3Error::MissingTensor {
            tensor: name.into(),
            file: self.file.path().into(),
            expected: expected.to_vec(),
        };
        let (gguf, permuted) = self.gguf_name(name).ok_or_else(missing)?;
        let info = self.file.tensors.get(&gguf).ok_or_else(missing)?;
        if info.shape() != expected {
            return Err(Phi3Error::ShapeMismatch {
                tensor: format!("{gguf} ({name})"),
                file: self.file.path().into(),
                found: info.shape(),
                expected: expected.to_vec(),
            });
        }
        Ok((gguf, permuted))
    }

    /// llama.cpp's name for a Hugging Face tensor name, and the head count whose rows the
    /// converter permuted (Q and K of `llama` models).
    fn gguf_name(&self, hf: &str) -> Option<(String, Option<usize>)> {
        let direct = match hf {
            "model.embed_tokens.weight" => Some("token_embd.weight"),
            "model.norm.weight" => Some("output_norm.weight"),
            "lm_head.weight" => Some("output.weight"),
            _ => None,
        };
        if let Some(name) = direct {
            return Some((name.to_string(), None));
        }
        let rest = hf.strip_prefix("model.layers.")?;
        let (layer, suffix) = rest.split_once('.')?;
        let (name, permuted) = match suffix {
            "input_layernorm.weight" => ("attn_norm", None),
            "post_attention_layernorm.weight" => ("ffn_norm", None),
            "self_attn.q_proj.weight" => ("attn_q", self.llama.then_some(self.heads)),
            "self_attn.k_proj.weight" => ("attn_k", self.llama.then_some(self.kv_heads)),
            "self_attn.v_proj.weight" => ("attn_v", None),
            "self_attn.qkv_proj.weight" => ("attn_qkv", None),
            "self_attn.o_proj.weight" => ("attn_output", None),
            "mlp.gate_proj.weight" => ("ffn_gate", None),
            "mlp.up_proj.weight" => ("ffn_up", None),
            // llama.cpp keeps Phi-3's fused [gate | up] in `ffn_up`; Llama's `ffn_up` is `up` only.
            "mlp.gate_up_proj.weight" if !self.llama => ("ffn_up", None),
            "mlp.down_proj.weight" => ("ffn_down", None),
            _ => return None,
        };
        Some((format!("blk.{layer}.{name}.weight"), permuted))
    }
}

/// Undoes llama.cpp's Q/K row permutation for `llama` models.
///
/// `convert_hf_to_gguf.py` reorders each head's rows from the half-split `rotate_half` layout
/// (rows `i` and `i + d/2` form a rotation pair) to ggml's interleaved layout (rows `2i` and
/// `2i + 1`): GGUF row `2i + h` of a head is Hugging Face row `h·d/2 + i`. This puts them back,
/// as transformers' GGUF loader does. Rows are of `cols` elements of any kind: f32 values, or
/// the bytes of a row of blocks (each output row's blocks move together).
fn unpermute<T: Copy + Default>(data: &[T], rows: usize, cols: usize, heads: usize) -> Vec<T> {
    let head_dim = rows / heads;
    let half = head_dim / 2;
    let mut out = vec![T::default(); data.len()];
    for head in 0..heads {
        for h in 0..2 {
            for i in 0..half {
                let hf_row = head * head_dim + h * half + i;
                let gguf_row = head * head_dim + 2 * i + h;
                out[hf_row * cols..(hf_row + 1) * cols]
                    .copy_from_slice(&data[gguf_row * cols..(gguf_row + 1) * cols]);
            }
        }
    }
    out
}

impl WeightSource for GgufWeights {
    fn origin(&self) -> PathBuf {
        self.file.path().into()
    }

    fn contains(&self, name: &str) -> bool {
        self.gguf_name(name)
            .is_some_and(|(n, _)| self.file.tensors.contains_key(&n))
    }

    fn shape(&self, name: &str) -> Option<Vec<usize>> {
        let (gguf, _) = self.gguf_name(name)?;
        self.file.tensors.get(&gguf).map(|t| t.shape())
    }

    /// Dequantises tensor `name` to f32 (undoing llama.cpp's Q/K permutation for `llama`).
    fn read(&mut self, name: &str, expected: &[usize]) -> Result<TensorData> {
        let (gguf, permuted) = self.locate(name, expected)?;
        let (mut data, shape) = self.file.tensor_f32(&gguf)?;
        if let Some(heads) = permuted {
            data = unpermute(&data, shape[0], shape[1], heads);
        }
        self.taken.insert(gguf);
        Ok(TensorData::new(data, expected.to_vec()))
    }

    fn block_type(&self, name: &str) -> Option<GgmlType> {
        let (gguf, _) = self.gguf_name(name)?;
        let info = self.file.tensors.get(&gguf)?;
        (info.dims.len() == 2).then_some(info.ty)
    }

    /// Tensor `name`'s stored bytes (rows permuted back for `llama` Q/K, as [`Self::read`]).
    fn read_blocks_into(&mut self, name: &str, expected: &[usize], out: &mut [u8]) -> Result<()> {
        let (gguf, permuted) = self.locate(name, expected)?;
        let info = self.file.tensors[&gguf].clone();
        match permuted {
            None => self.file.raw_into(&info, out)?,
            Some(heads) => {
                let bytes = self.file.raw(&info)?;
                let rows = info.shape()[0];
                out.copy_from_slice(&unpermute(&bytes, rows, bytes.len() / rows, heads));
            }
        }
        self.taken.insert(gguf);
        Ok(())
    }

    fn stored_size(&self, name: &str) -> Option<u64> {
        let (gguf, _) = self.gguf_name(name)?;
        self.file.tensors.get(&gguf).map(|t| t.bytes as u64)
    }

    /// Every tensor but LongRoPE's factors (read into the config at open).
    fn inventory(&self) -> (usize, u64) {
        let read = self
            .file
            .tensors
            .iter()
            .filter(|(n, _)| !n.starts_with("rope_"));
        read.fold((0, 0), |(n, b), (_, t)| (n + 1, b + t.bytes as u64))
    }

    /// Fails if the file holds tensors the model never read.
    fn finish(&self) -> Result<()> {
        let unused: Vec<String> = self
            .file
            .tensors
            .keys()
            // LongRoPE's factor tensors went into the config at open (other rope data is refused).
            .filter(|n| !self.taken.contains(*n) && !n.starts_with("rope_"))
            .take(8)
            .cloned()
            .collect();
        if unused.is_empty() {
            Ok(())
        } else {
            Err(Phi3Error::UnexpectedTensors {
                file: self.file.path().into(),
                tensors: unused,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::unpermute;

    #[test]
    fn unpermute_inverts_llama_cpp_permutation() {
        // One head of dim 4, one column: HF rows [a0, a1, b0, b1] (pairs (a_i, b_i)) are stored
        // by llama.cpp as [a0, b0, a1, b1].
        assert_eq!(
            unpermute(&[0.0, 2.0, 1.0, 3.0], 4, 1, 1),
            vec![0.0, 1.0, 2.0, 3.0]
        );
        // Two heads, two columns.
        let gguf = [
            0., 0., 2., 2., 1., 1., 3., 3., 4., 4., 6., 6., 5., 5., 7., 7.,
        ];
        let hf: Vec<f32> = (0..8).flat_map(|r| [r as f32, r as f32]).collect();
        assert_eq!(unpermute(&gguf, 8, 2, 2), hf);
    }
}
