//! The model tree in the form of PyTorch's `print(model)`, from a config alone: printing
//! Phi-3-mini needs no weights.

use std::fmt::Write;

use phi3_core::Phi3Config;
use phi3_core::display::{py_float, thousands};

/// Number of parameters, counted as PyTorch's `sum(p.numel() for p in model.parameters())`
/// (a tied `lm_head` shares the embedding and is counted once).
pub fn parameter_count(c: &Phi3Config) -> usize {
    let (v, h, i) = (c.vocab_size, c.hidden_size, c.intermediate_size);
    let qkv = (c.num_attention_heads + 2 * c.num_key_value_heads()) * c.head_dim();
    let attn = h * qkv + c.num_attention_heads * c.head_dim() * h;
    let mlp = h * 2 * i + i * h;
    let layer = attn + mlp + 2 * h;
    let head = if c.tie_word_embeddings { 0 } else { v * h };
    v * h + c.num_hidden_layers * layer + h + head
}

/// The module tree, then a line with the parameter count. Llama configs (`model_type: llama`,
/// e.g. from a GGUF file) print with transformers' Llama module names.
pub fn model_tree(c: &Phi3Config) -> String {
    let llama = c.model_type.as_deref() == Some("llama");
    let prefix = if llama { "Llama" } else { "Phi3" };
    let (v, h, i) = (c.vocab_size, c.hidden_size, c.intermediate_size);
    let (q, kv) = (
        c.num_attention_heads * c.head_dim(),
        c.num_key_value_heads() * c.head_dim(),
    );
    let linear = |inp: usize, out: usize| {
        format!("Linear(in_features={inp}, out_features={out}, bias=False)")
    };
    let norm = format!("{prefix}RMSNorm(({h},), eps={})", py_float(c.rms_norm_eps));
    let padding = c
        .pad_token_id
        .map(|p| format!(", padding_idx={p}"))
        .unwrap_or_default();
    let layers = match c.num_hidden_layers {
        1 => format!("(0): {prefix}DecoderLayer("),
        n => format!("(0-{}): {n} x {prefix}DecoderLayer(", n - 1),
    };
    let dropout = "Dropout(p=0.0, inplace=False)";

    let mut s = String::new();
    let mut line = |depth: usize, text: &str| {
        let _ = writeln!(s, "{}{text}", "  ".repeat(depth));
    };
    line(0, &format!("{prefix}ForCausalLM("));
    line(1, &format!("(model): {prefix}Model("));
    line(2, &format!("(embed_tokens): Embedding({v}, {h}{padding})"));
    line(2, "(layers): ModuleList(");
    line(3, &layers);
    line(4, &format!("(self_attn): {prefix}Attention("));
    if llama {
        line(5, &format!("(q_proj): {}", linear(h, q)));
        line(5, &format!("(k_proj): {}", linear(h, kv)));
        line(5, &format!("(v_proj): {}", linear(h, kv)));
        line(5, &format!("(o_proj): {}", linear(q, h)));
    } else {
        line(5, &format!("(o_proj): {}", linear(q, h)));
        line(5, &format!("(qkv_proj): {}", linear(h, q + 2 * kv)));
    }
    line(4, ")");
    line(4, &format!("(mlp): {prefix}MLP("));
    if llama {
        line(5, &format!("(gate_proj): {}", linear(h, i)));
        line(5, &format!("(up_proj): {}", linear(h, i)));
        line(5, &format!("(down_proj): {}", linear(i, h)));
        line(5, "(act_fn): SiLUActivation()");
    } else {
        line(5, &format!("(gate_up_proj): {}", linear(h, 2 * i)));
        line(5, &format!("(down_proj): {}", linear(i, h)));
        line(5, "(activation_fn): SiLUActivation()");
    }
    line(4, ")");
    line(4, &format!("(input_layernorm): {norm}"));
    line(4, &format!("(post_attention_layernorm): {norm}"));
    if !llama {
        line(4, &format!("(resid_attn_dropout): {dropout}"));
        line(4, &format!("(resid_mlp_dropout): {dropout}"));
    }
    line(3, ")");
    line(2, ")");
    line(2, &format!("(norm): {norm}"));
    line(2, &format!("(rotary_emb): {prefix}RotaryEmbedding()"));
    line(1, ")");
    line(1, &format!("(lm_head): {}", linear(h, v)));
    line(0, ")");
    let _ = write!(s, "Total parameters: {}", thousands(parameter_count(c)));
    s
}
