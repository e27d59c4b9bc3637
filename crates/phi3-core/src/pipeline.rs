//! The text-generation pipeline: text in, text out — transformers'
//! `pipeline("text-generation", ...)` for a Burn model.

use std::path::Path;

use burn::tensor::backend::Backend;
use phi3_tokenizer::{ChatMessage, StreamDecoder, Tokenizer};

use crate::decoder::CausalLm;
use crate::error::Result;
use crate::generation::{Control, GenerationConfig, StopReason, Timings};
use crate::model::Phi3ForCausalLM;
use crate::norm::{Norm, RmsNorm};
use burn::module::Module;
use phi3_attention::{Attention, GroupedQueryAttention, PositionEncoding, RotaryEmbedding};

/// What one prompt produced.
#[derive(Debug, Clone, PartialEq)]
pub struct TextGeneration {
    /// The generated text (after the prompt's text when `return_full_text`). Special tokens
    /// such as `<|end|>` are not printed.
    pub text: String,
    /// The prompt's token ids.
    pub prompt_ids: Vec<u32>,
    /// The generated token ids (a stop token included).
    pub new_ids: Vec<u32>,
    /// Why generation stopped.
    pub stop_reason: StopReason,
    /// Prefill and decode timings (for a batch: of the whole batch).
    pub timings: Timings,
}

/// A model and its tokenizer. The model is Phi-3 by default, or any [`CausalLm`] composition.
pub struct TextGenerationPipeline<
    B: Backend,
    A: Module<B> = GroupedQueryAttention<B>,
    N: Module<B> = RmsNorm<B>,
    P: Module<B> = RotaryEmbedding<B>,
> {
    /// The model.
    pub model: CausalLm<B, A, N, P>,
    /// Its tokenizer.
    pub tokenizer: Tokenizer,
}

/// Per-row streaming state: decodes new tokens, watches for stop strings.
struct RowStream<'t> {
    decoder: StreamDecoder<'t>,
    text: String,
}

impl<'t> RowStream<'t> {
    fn push(&mut self, id: u32, stop_strings: &[String]) -> Result<(Option<String>, Control)> {
        let chunk = self.decoder.push(id)?;
        if let Some(c) = &chunk {
            self.text.push_str(c);
        }
        let control = stop_strings
            .iter()
            .find(|s| !s.is_empty() && self.text.contains(s.as_str()))
            .map_or(Control::Continue, |s| {
                Control::Stop(StopReason::StopString(s.clone()))
            });
        Ok((chunk, control))
    }
}

impl<B: Backend> TextGenerationPipeline<B> {
    /// Loads the model and `tokenizer.json` (+ `tokenizer_config.json`) from one directory.
    pub fn from_dir(dir: impl AsRef<Path>, device: &B::Device) -> Result<Self> {
        let dir = dir.as_ref();
        Ok(Self::new(
            Phi3ForCausalLM::from_dir(dir, device)?,
            Tokenizer::from_dir(dir)?,
        ))
    }
}

impl<B: Backend, A: Attention<B>, N: Norm<B>, P: PositionEncoding<B>>
    TextGenerationPipeline<B, A, N, P>
{
    /// Pairs a model with a tokenizer.
    pub fn new(model: CausalLm<B, A, N, P>, tokenizer: Tokenizer) -> Self {
        Self { model, tokenizer }
    }

    /// Token ids of a prompt, as the pipeline feeds them (the tokenizer's special tokens added).
    pub fn encode(&self, prompt: &str) -> Result<Vec<u32>> {
        Ok(self.tokenizer.encode(prompt, true)?)
    }

    /// Generates from a text prompt.
    pub fn generate(&self, prompt: &str, config: &GenerationConfig) -> Result<TextGeneration> {
        self.generate_stream(prompt, config, &mut |_| {})
    }

    /// Generates from a text prompt, calling `on_text` with each piece of text as soon as it
    /// is complete UTF-8.
    pub fn generate_stream(
        &self,
        prompt: &str,
        config: &GenerationConfig,
        on_text: &mut dyn FnMut(&str),
    ) -> Result<TextGeneration> {
        let ids = self.encode(prompt)?;
        self.generate_ids_stream(prompt, ids, config, on_text)
    }

    /// Renders a conversation with the tokenizer's chat template and generates the answer.
    pub fn chat(
        &self,
        messages: &[ChatMessage],
        config: &GenerationConfig,
        on_text: &mut dyn FnMut(&str),
    ) -> Result<TextGeneration> {
        let prompt = self.tokenizer.apply_chat_template(messages, true)?;
        let ids = self.tokenizer.encode(&prompt, false)?;
        self.generate_ids_stream(&prompt, ids, config, on_text)
    }

    fn generate_ids_stream(
        &self,
        prompt: &str,
        ids: Vec<u32>,
        config: &GenerationConfig,
        on_text: &mut dyn FnMut(&str),
    ) -> Result<TextGeneration> {
        let mut row = RowStream {
            decoder: self.tokenizer.stream(true),
            text: String::new(),
        };
        let mut failure = None;
        let (generated, timings) = self.model.generate(&ids, config, &mut |_, id| match row
            .push(id, &config.stop_strings)
        {
            Ok((chunk, control)) => {
                if let Some(c) = chunk {
                    on_text(&c);
                }
                control
            }
            Err(e) => {
                failure = Some(e);
                Control::Stop(StopReason::MaxNewTokens)
            }
        })?;
        if let Some(e) = failure {
            return Err(e);
        }
        if let Some(rest) = row.decoder.finish()? {
            on_text(&rest);
        }
        self.finish(
            prompt,
            ids,
            generated.new_ids,
            generated.stop_reason,
            timings,
            config,
        )
    }

    /// Generates from several prompts at once (left-padded into one batch). Each prompt gets
    /// the tokens it would get alone.
    pub fn generate_batch(
        &self,
        prompts: &[&str],
        config: &GenerationConfig,
    ) -> Result<Vec<TextGeneration>> {
        let ids: Vec<Vec<u32>> = prompts
            .iter()
            .map(|p| self.encode(p))
            .collect::<Result<_>>()?;
        let mut rows: Vec<RowStream> = prompts
            .iter()
            .map(|_| RowStream {
                decoder: self.tokenizer.stream(true),
                text: String::new(),
            })
            .collect();
        let mut failure = None;
        let (generated, timings) =
            self.model
                .generate_batch(&ids, config, &mut |r, id| match rows[r]
                    .push(id, &config.stop_strings)
                {
                    Ok((_, control)) => control,
                    Err(e) => {
                        failure = Some(e);
                        Control::Stop(StopReason::MaxNewTokens)
                    }
                })?;
        if let Some(e) = failure {
            return Err(e);
        }
        prompts
            .iter()
            .zip(ids)
            .zip(generated)
            .map(|((prompt, ids), g)| {
                self.finish(prompt, ids, g.new_ids, g.stop_reason, timings, config)
            })
            .collect()
    }

    fn finish(
        &self,
        prompt: &str,
        prompt_ids: Vec<u32>,
        new_ids: Vec<u32>,
        stop_reason: StopReason,
        timings: Timings,
        config: &GenerationConfig,
    ) -> Result<TextGeneration> {
        let generated = self.tokenizer.decode(&new_ids, true)?;
        let text = if config.return_full_text {
            format!("{prompt}{generated}")
        } else {
            generated
        };
        Ok(TextGeneration {
            text,
            prompt_ids,
            new_ids,
            stop_reason,
            timings,
        })
    }
}
