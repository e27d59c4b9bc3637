//! A checkpoint's generation defaults: Hugging Face's `generation_config.json` beside
//! `config.json`, or a GGUF file's end-of-text ids. Phi-3-mini-4k-instruct's lists
//! `eos_token_id: [32000, 32001, 32007]` where its `config.json` has 32000 only: without it,
//! `<|end|>` (32007) would not end a chat turn.

use std::path::Path;

use phi3_core::{ModelError, Phi3Config, TokenIds};
use serde::Deserialize;

use crate::error::Result;
use crate::generation::GenerationConfig;

/// File name beside `config.json`.
pub const GENERATION_CONFIG: &str = "generation_config.json";

/// What a checkpoint says about generating from it. Field names are transformers'; every field is
/// optional, and unknown ones (`transformers_version`, ...) are ignored.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct GenerationDefaults {
    /// Stop tokens: one id or a list.
    pub eos_token_id: Option<TokenIds>,
    /// Beginning-of-sequence id.
    pub bos_token_id: Option<u32>,
    /// Padding id.
    pub pad_token_id: Option<u32>,
    /// Sample instead of taking the argmax.
    pub do_sample: Option<bool>,
    /// Sampling temperature.
    pub temperature: Option<f32>,
    /// Keep the `top_k` likeliest tokens.
    pub top_k: Option<usize>,
    /// Nucleus sampling's mass.
    pub top_p: Option<f32>,
    /// Min-p's ratio.
    pub min_p: Option<f32>,
    /// The repetition penalty.
    pub repetition_penalty: Option<f32>,
    /// Tokens to generate at most.
    pub max_new_tokens: Option<usize>,
}

/// Larger than any real `generation_config.json` (a few hundred bytes).
const MAX_BYTES: u64 = 1 << 20;

impl GenerationDefaults {
    /// `generation_config.json` in `dir`, or no defaults when there is none.
    pub fn from_dir(dir: &Path) -> Result<Self> {
        let path = dir.join(GENERATION_CONFIG);
        // Absent: no defaults. Present but no regular file (a device, a fifo): read like any
        // other, so that it fails by name rather than being skipped in silence.
        if !path.exists() {
            return Ok(Self::default());
        }
        let json = |message: String| ModelError::Json {
            path: path.clone(),
            what: "a generation config",
            message,
        };
        let text = phi3_core::text_file::read_text(&path, MAX_BYTES)
            .map_err(|source| crate::Phi3Error::io(&path, source))?;
        Ok(serde_json::from_str(&text).map_err(|e| json(e.to_string()))?)
    }

    /// The stop ids, in order.
    pub fn eos_token_ids(&self) -> Vec<u32> {
        self.eos_token_id.as_ref().map_or(vec![], TokenIds::to_vec)
    }

    /// Adds these defaults' stop ids to `config`'s (its own first, no repeats) and fills its
    /// padding and BOS ids where it has none: every generation then stops where the checkpoint
    /// says, with no setting of the user's.
    pub fn merge_into(&self, config: &mut Phi3Config) {
        let mut ids = config.eos_token_ids();
        for id in self.eos_token_ids() {
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
        config.eos_token_id = TokenIds::from_ids(ids);
        config.pad_token_id = config.pad_token_id.or(self.pad_token_id);
        config.bos_token_id = config.bos_token_id.or(self.bos_token_id);
    }

    /// A [`GenerationConfig`] with these defaults where the checkpoint gives them and
    /// `GenerationConfig::default()`'s elsewhere. Set fields on it to override (what you set
    /// wins, as transformers' explicit arguments do).
    pub fn generation_config(&self) -> GenerationConfig {
        let mut config = GenerationConfig::default();
        let sampling = &mut config.sampling;
        if let Some(v) = self.do_sample {
            sampling.do_sample = v;
        }
        if let Some(v) = self.temperature {
            sampling.temperature = v;
        }
        sampling.top_k = self.top_k.or(sampling.top_k);
        sampling.top_p = self.top_p.or(sampling.top_p);
        sampling.min_p = self.min_p.or(sampling.min_p);
        sampling.repetition_penalty = self.repetition_penalty.or(sampling.repetition_penalty);
        if let Some(n) = self.max_new_tokens {
            config.max_new_tokens = n;
        }
        config
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phi3_minis_file_adds_end_and_keeps_the_configs_first() {
        let defaults: GenerationDefaults = serde_json::from_str(
            r#"{"_from_model_config": true, "bos_token_id": 1,
                "eos_token_id": [32000, 32001, 32007], "pad_token_id": 32000,
                "transformers_version": "4.39.3"}"#,
        )
        .unwrap();
        let mut config: Phi3Config = serde_json::from_str(
            r#"{"vocab_size": 32064, "hidden_size": 64, "intermediate_size": 128,
                "num_hidden_layers": 1, "num_attention_heads": 4, "eos_token_id": 32000}"#,
        )
        .unwrap();
        defaults.merge_into(&mut config);
        assert_eq!(config.eos_token_ids(), vec![32000, 32001, 32007]);
        assert_eq!(config.pad_token_id, Some(32000));
        // Sampling defaults where given; what the caller then sets wins.
        let sampled: GenerationDefaults =
            serde_json::from_str(r#"{"do_sample": true, "temperature": 0.6, "top_p": 0.9}"#)
                .unwrap();
        let mut g = sampled.generation_config();
        assert!(g.sampling.do_sample);
        assert_eq!((g.sampling.temperature, g.sampling.top_p), (0.6, Some(0.9)));
        g.sampling.temperature = 1.0;
        assert_eq!(g.sampling.temperature, 1.0);
        assert_eq!(
            GenerationDefaults::default().generation_config(),
            GenerationConfig::default()
        );
    }
}
