//! A `tokenizers` tokenizer from the vocabulary a GGUF file carries (`tokenizer.ggml.*`),
//! built the way transformers' GGUF loader builds it, so both encode text to the same ids.

use std::collections::HashMap;

use serde_json::{Value, json};

use crate::{Tokenizer, TokenizerError};

/// The tokenizer fields of a GGUF file's metadata.
#[derive(Debug, Clone, Default)]
pub struct GgufVocab {
    /// `tokenizer.ggml.model`: `gpt2` (byte-level BPE) or `llama` (SentencePiece BPE).
    pub model: String,
    /// `general.architecture` (decides SentencePiece details, as in transformers).
    pub architecture: String,
    /// Tokens by id.
    pub tokens: Vec<String>,
    /// SentencePiece scores by id (`llama`); merges are derived from them.
    pub scores: Vec<f32>,
    /// llama.cpp token types by id (1 normal, 2 unknown, 3 control, 4 user-defined, 6 byte).
    pub token_types: Vec<u32>,
    /// BPE merges, `"a b"` (`gpt2`).
    pub merges: Vec<String>,
    /// BOS id.
    pub bos: Option<u32>,
    /// EOS id.
    pub eos: Option<u32>,
    /// Whether encoding adds BOS.
    pub add_bos: bool,
    /// `tokenizer.chat_template`.
    pub chat_template: Option<String>,
}

/// GPT-2's byte ↔ printable-character table.
fn bytes_to_unicode() -> [char; 256] {
    let mut table = ['\0'; 256];
    let mut n = 0u32;
    for b in 0..=255u8 {
        let printable = matches!(b, b'!'..=b'~' | 0xA1..=0xAC | 0xAE..=0xFF);
        table[b as usize] = if printable {
            b as char
        } else {
            n += 1;
            // 256..=323: below the surrogates, always a char.
            char::from_u32(255 + n).unwrap_or(char::REPLACEMENT_CHARACTER)
        };
    }
    table
}

fn added(id: usize, content: &str, special: bool) -> Value {
    json!({"id": id, "content": content, "single_word": false, "lstrip": false, "rstrip": false,
           "normalized": false, "special": special})
}

/// Pieces longer than this (in bytes) are not split into merges: real SentencePiece pieces are
/// tens of bytes, and a hostile file's megabyte-long "token" would cost its square in work.
const MAX_MERGED_PIECE: usize = 256;

/// Merges implied by a SentencePiece vocabulary: every split of a token into two tokens, ranked
/// by the merged token's score (transformers' `generate_merges`). Splits are kept as id pairs;
/// strings are made once, for the merges that exist.
fn merges_from_scores(tokens: &[String], scores: &[f32]) -> Vec<(String, String)> {
    let ids: HashMap<&str, usize> = tokens
        .iter()
        .enumerate()
        .map(|(i, t)| (t.as_str(), i))
        .collect();
    let mut merges: Vec<(f32, usize, usize)> = vec![];
    for (token, &score) in tokens.iter().zip(scores) {
        if token.len() > MAX_MERGED_PIECE {
            continue;
        }
        let start = merges.len();
        for (k, _) in token.char_indices().skip(1) {
            let (l, r) = token.split_at(k);
            if let (Some(&il), Some(&ir)) = (ids.get(l), ids.get(r)) {
                merges.push((score, il, ir));
            }
        }
        merges[start..].sort_by_key(|m| (m.1, m.2));
    }
    // Best score first; the sort is stable, so ties keep the split order above.
    merges.sort_by(|a, b| b.0.total_cmp(&a.0));
    merges
        .into_iter()
        .map(|(_, l, r)| (tokens[l].clone(), tokens[r].clone()))
        .collect()
}

impl Tokenizer {
    /// Builds the tokenizer a GGUF file describes.
    pub fn from_gguf(vocab: GgufVocab) -> Result<Self, TokenizerError> {
        let fail = |m: String| TokenizerError::Load {
            path: "<gguf metadata>".into(),
            message: m,
        };
        let types = |i: usize| vocab.token_types.get(i).copied().unwrap_or(1);
        let mut added_tokens = vec![];
        let json = match vocab.model.as_str() {
            "gpt2" => {
                let table = bytes_to_unicode();
                let alphabet: std::collections::HashSet<char> = table.iter().copied().collect();
                let spelled: Vec<String> = vocab
                    .tokens
                    .iter()
                    .map(|t| {
                        if t.chars().all(|c| alphabet.contains(&c)) {
                            t.clone()
                        } else {
                            t.bytes().map(|b| table[b as usize]).collect()
                        }
                    })
                    .collect();
                for (i, t) in vocab.tokens.iter().enumerate() {
                    // Control tokens spelled outside the byte alphabet are llama.cpp mislabels.
                    if types(i) == 3 && t.chars().all(|c| alphabet.contains(&c)) {
                        added_tokens.push(added(i, t, true));
                    } else if types(i) == 4 {
                        added_tokens.push(added(i, t, false));
                    }
                }
                let model_vocab: serde_json::Map<String, Value> = spelled
                    .iter()
                    .enumerate()
                    .map(|(i, t)| (t.clone(), json!(i)))
                    .collect();
                let merges: Vec<Value> = vocab
                    .merges
                    .iter()
                    .map(|m| {
                        let (a, b) = m.split_once(' ').unwrap_or((m, ""));
                        json!([a, b])
                    })
                    .collect();
                json!({
                    "version": "1.0",
                    "added_tokens": added_tokens,
                    "normalizer": null,
                    "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true},
                    "post_processor": {"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": false, "use_regex": true},
                    "decoder": {"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true},
                    "model": {"type": "BPE", "dropout": null, "unk_token": null, "continuing_subword_prefix": "",
                              "end_of_word_suffix": "", "fuse_unk": false, "byte_fallback": false,
                              "ignore_merges": false, "vocab": model_vocab, "merges": merges}
                })
            }
            "llama" => {
                if vocab.scores.len() != vocab.tokens.len() {
                    return Err(fail(format!(
                        "{} scores for {} tokens",
                        vocab.scores.len(),
                        vocab.tokens.len()
                    )));
                }
                for (i, t) in vocab.tokens.iter().enumerate() {
                    match types(i) {
                        2 | 3 => added_tokens.push(added(i, t, true)),
                        4 => added_tokens.push(added(i, t, false)),
                        _ => {}
                    }
                }
                let unk = vocab
                    .tokens
                    .iter()
                    .enumerate()
                    .find(|(i, _)| types(*i) == 2)
                    .map(|(_, t)| t.clone());
                let model_vocab: serde_json::Map<String, Value> = vocab
                    .tokens
                    .iter()
                    .enumerate()
                    .map(|(i, t)| (t.clone(), json!(i)))
                    .collect();
                let merges: Vec<Value> = merges_from_scores(&vocab.tokens, &vocab.scores)
                    .into_iter()
                    .map(|(a, b)| json!([a, b]))
                    .collect();
                json!({
                    "version": "1.0",
                    "added_tokens": added_tokens,
                    "normalizer": {"type": "Sequence", "normalizers": [
                        {"type": "Prepend", "prepend": "\u{2581}"},
                        {"type": "Replace", "pattern": {"String": " "}, "content": "\u{2581}"}]},
                    "pre_tokenizer": null,
                    "post_processor": null,
                    "decoder": {"type": "Sequence", "decoders": [
                        {"type": "Replace", "pattern": {"String": "\u{2581}"}, "content": " "},
                        {"type": "ByteFallback"}, {"type": "Fuse"},
                        {"type": "Strip", "content": " ", "start": 1, "stop": 0}]},
                    "model": {"type": "BPE", "dropout": null, "unk_token": unk, "continuing_subword_prefix": null,
                              "end_of_word_suffix": null, "fuse_unk": true, "byte_fallback": true,
                              "ignore_merges": false, "vocab": model_vocab, "merges": merges}
                })
            }
            other => {
                return Err(fail(format!(
                    "tokenizer.ggml.model {other:?} is not supported (gpt2, llama)"
                )));
            }
        };
        let mut json = json;
        if vocab.add_bos
            && let Some(bos) = vocab.bos.and_then(|b| vocab.tokens.get(b as usize))
        {
            json["post_processor"] = json!({"type": "TemplateProcessing",
                "single": [{"SpecialToken": {"id": bos, "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
                "pair": [{"SpecialToken": {"id": bos, "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                         {"Sequence": {"id": "B", "type_id": 1}}],
                "special_tokens": {bos.clone(): {"id": bos, "ids": [vocab.bos], "tokens": [bos]}}});
        }
        let inner: tokenizers::Tokenizer =
            json.to_string().parse().map_err(|e| fail(format!("{e}")))?;
        let token = |id: Option<u32>| id.and_then(|i| vocab.tokens.get(i as usize).cloned());
        Ok(Self {
            inner,
            chat_template: vocab
                .chat_template
                .clone()
                .unwrap_or_else(|| crate::PHI3_CHAT_TEMPLATE.into()),
            bos_token: token(vocab.bos),
            eos_token: token(vocab.eos),
        })
    }
}
