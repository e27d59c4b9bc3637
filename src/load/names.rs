//! How a composition's parameters are named in a checkpoint: the one mapping from Burn module
//! paths to checkpoint tensor names.

/// How a checkpoint stores the weight of a linear layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LinearLayout {
    /// `[out, in]`, as PyTorch's `nn.Linear` (Phi-3, Llama, `nn.TransformerEncoderLayer`).
    #[default]
    OutIn,
    /// `[in, out]`, as GPT-2's `Conv1D` — already Burn's layout.
    InOut,
}

/// The names a checkpoint gives a composition's parameters.
///
/// A parameter's *path* is where Burn's module tree puts it — field names joined by dots, e.g.
/// `model.layers.0.self_attn.qkv_proj.weight` (the decoder's field names are Phi-3's checkpoint
/// names, so for Phi-3 the path *is* the name). The rules, applied in order:
///
/// 1. **renames** rewrite substrings of the path (`model.layers.` → `transformer.h.`);
/// 2. a **fused** tensor missing from the checkpoint is concatenated from its parts along the
///    output dimension (Llama's `q_proj`, `k_proj`, `v_proj` → `qkv_proj`);
/// 3. a **tied** parameter missing from the checkpoint shares another parameter's tensor (a
///    tied `lm_head` is a transposed view of the embedding, never a copy);
/// 4. the weights of linear layers are stored in [`LinearLayout`] and transposed if needed.
///
/// ```
/// use phi3::load::CheckpointNames;
/// let names = CheckpointNames::new().rename("model.layers.", "transformer.h.");
/// assert_eq!(names.checkpoint_name("model.layers.3.mlp.down_proj.weight"), "transformer.h.3.mlp.down_proj.weight");
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CheckpointNames {
    renames: Vec<(String, String)>,
    fused: Vec<(String, Vec<String>)>,
    tied: Vec<(String, String)>,
    layout: LinearLayout,
}

impl CheckpointNames {
    /// Paths are names; linear weights `[out, in]`.
    pub fn new() -> Self {
        Self::default()
    }

    /// Replace every occurrence of `from` in a path by `to` (after the earlier renames).
    pub fn rename(mut self, from: &str, to: &str) -> Self {
        self.renames.push((from.into(), to.into()));
        self
    }

    /// A tensor named `….{fused}.…` that the checkpoint lacks is read as the concatenation of
    /// `….{part}.…` for each of `parts`, in order, along the output dimension.
    pub fn fuse(mut self, fused: &str, parts: &[&str]) -> Self {
        self.fused
            .push((fused.into(), parts.iter().map(|p| p.to_string()).collect()));
        self
    }

    /// Parameter `path`, when the checkpoint lacks its tensor, shares the tensor loaded for
    /// parameter `source` (transposed when their shapes are each other's transpose).
    pub fn tie(mut self, path: &str, source: &str) -> Self {
        self.tied.push((path.into(), source.into()));
        self
    }

    /// How the checkpoint stores linear weights.
    pub fn linear_layout(mut self, layout: LinearLayout) -> Self {
        self.layout = layout;
        self
    }

    /// The checkpoint's layout of linear weights.
    pub fn layout(&self) -> LinearLayout {
        self.layout
    }

    /// The checkpoint name of the parameter at `path`.
    pub fn checkpoint_name(&self, path: &str) -> String {
        self.renames
            .iter()
            .fold(path.to_string(), |name, (from, to)| name.replace(from, to))
    }

    /// The names of the parts a fused tensor `name` can be assembled from, if a rule says so.
    pub fn parts(&self, name: &str) -> Option<Vec<String>> {
        self.fused.iter().find_map(|(fused, parts)| {
            let needle = format!(".{fused}.");
            name.contains(&needle).then(|| {
                parts
                    .iter()
                    .map(|part| name.replacen(&needle, &format!(".{part}."), 1))
                    .collect()
            })
        })
    }

    /// The parameter whose tensor the parameter at `path` shares when the checkpoint lacks one.
    pub fn tied_to(&self, path: &str) -> Option<&str> {
        self.tied
            .iter()
            .find(|(p, _)| p == path)
            .map(|(_, source)| source.as_str())
    }

    /// Whether another parameter may share the tensor of the parameter at `path`.
    pub fn is_tie_source(&self, path: &str) -> bool {
        self.tied.iter().any(|(_, source)| source == path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renames_apply_in_order_and_parts_follow_the_fused_name() {
        let names = CheckpointNames::new()
            .rename("model.layers.", "transformer.h.")
            .rename(".self_attn.", ".attn.")
            .fuse("qkv_proj", &["q_proj", "k_proj", "v_proj"]);
        let name = names.checkpoint_name("model.layers.2.self_attn.qkv_proj.weight");
        assert_eq!(name, "transformer.h.2.attn.qkv_proj.weight");
        assert_eq!(
            names.parts(&name).unwrap(),
            [
                "transformer.h.2.attn.q_proj.weight",
                "transformer.h.2.attn.k_proj.weight",
                "transformer.h.2.attn.v_proj.weight"
            ]
        );
        assert_eq!(names.parts("model.norm.weight"), None);
    }
}
