//! The text-generation pipeline: text in, text out — transformers'
//! `pipeline("text-generation", ...)` for any [`CausalModel`].

use std::marker::PhantomData;
use std::path::Path;

use burn::tensor::backend::Backend;
use phi3_core::CausalModel;
use phi3_sampling::Sampler;
use phi3_tokenizer::{ChatMessage, StreamDecoder, Tokenizer};

use crate::error::{Phi3Error, Result};
use crate::generation::{Control, Generate, GenerationConfig, StopReason, Timings};
use crate::load::{GenerationDefaults, LoadOptions, Pretrained};
use crate::models::Phi3ForCausalLM;

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

/// Makes a fresh sampler for each generated sequence.
pub type SamplerFactory = Box<dyn Fn() -> Box<dyn Sampler + Send> + Send + Sync>;

/// A model and its tokenizer. The model is Phi-3 by default, or any [`CausalModel`].
pub struct TextGenerationPipeline<B: Backend, M: CausalModel<B> = Phi3ForCausalLM<B>> {
    /// The model.
    pub model: M,
    /// Its tokenizer.
    pub tokenizer: Tokenizer,
    sampler: Option<SamplerFactory>,
    defaults: GenerationDefaults,
    _backend: PhantomData<B>,
}

/// Per-row streaming state: decodes new tokens, watches for stop strings.
struct RowStream<'t> {
    decoder: StreamDecoder<'t>,
    text: String,
}

impl RowStream<'_> {
    /// The text `id` completes, and whether it completes a stop string.
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
    /// Loads a Phi-3 or Llama checkpoint (directory or `.gguf` file) and its tokenizer.
    pub fn load(path: impl AsRef<Path>, options: &LoadOptions<B>) -> Result<Self> {
        let path = path.as_ref();
        let pretrained = Pretrained::open(path)?;
        let tokenizer = pretrained
            .tokenizer()?
            .ok_or_else(|| Phi3Error::InvalidOption {
                option: "path",
                message: format!(
                    "{} has no tokenizer (tokenizer.json or tokenizer.ggml.* metadata)",
                    path.display()
                ),
            })?;
        let defaults = pretrained.generation_defaults().clone();
        Ok(Self::new(pretrained.load(options)?, tokenizer).with_defaults(defaults))
    }

    /// Loads a checkpoint of the Hugging Face hub by id, fetching what the cache lacks
    /// ([`crate::hub::snapshot`]), then as [`Self::load`].
    #[cfg(feature = "hub")]
    pub fn from_pretrained(
        repo_id: &str,
        hub: &crate::hub::HubOptions,
        options: &LoadOptions<B>,
    ) -> Result<Self> {
        Self::load(crate::hub::snapshot(repo_id, hub)?, options)
    }
}

impl<B: Backend, M: CausalModel<B>> TextGenerationPipeline<B, M> {
    /// Pairs a model with a tokenizer.
    pub fn new(model: M, tokenizer: Tokenizer) -> Self {
        Self {
            model,
            tokenizer,
            sampler: None,
            defaults: GenerationDefaults::default(),
            _backend: PhantomData,
        }
    }

    /// Takes a checkpoint's generation defaults ([`Pretrained::generation_defaults`];
    /// [`TextGenerationPipeline::load`] does this).
    pub fn with_defaults(mut self, defaults: GenerationDefaults) -> Self {
        self.defaults = defaults;
        self
    }

    /// The [`GenerationConfig`] the checkpoint asks for (its sampling defaults and length, from
    /// `generation_config.json`), the library's defaults elsewhere: start from it and set what
    /// you want otherwise. Its stop tokens are the model's (`eos_token_ids: None`), which
    /// already include the generation config's.
    pub fn generation_config(&self) -> GenerationConfig {
        self.defaults.generation_config()
    }

    /// Chooses tokens with samplers `make` builds (one per prompt) instead of the
    /// `GenerationConfig::sampling` shorthand.
    pub fn with_sampler(
        mut self,
        make: impl Fn() -> Box<dyn Sampler + Send> + Send + Sync + 'static,
    ) -> Self {
        self.sampler = Some(Box::new(make));
        self
    }

    /// Token ids of a prompt, as the pipeline feeds them (the tokenizer's special tokens added).
    pub fn encode(&self, prompt: &str) -> Result<Vec<u32>> {
        Ok(self.tokenizer.encode(prompt, true)?)
    }

    /// Generates from a text prompt.
    pub fn generate(&self, prompt: &str, config: &GenerationConfig) -> Result<TextGeneration> {
        self.generate_stream(prompt, config, &mut |_| Ok(()))
    }

    /// Generates from a text prompt, calling `on_text` with each piece of text as soon as it is
    /// complete UTF-8; an error from `on_text` stops generation and is returned.
    pub fn generate_stream(
        &self,
        prompt: &str,
        config: &GenerationConfig,
        on_text: &mut dyn FnMut(&str) -> Result<()>,
    ) -> Result<TextGeneration> {
        let ids = self.encode(prompt)?;
        self.run(vec![(prompt.to_string(), ids)], config, &mut |_, t| {
            on_text(t)
        })
        .map(|mut out| out.remove(0))
    }

    /// Renders a conversation with the tokenizer's chat template and generates the answer.
    pub fn chat(
        &self,
        messages: &[ChatMessage],
        config: &GenerationConfig,
        on_text: &mut dyn FnMut(&str) -> Result<()>,
    ) -> Result<TextGeneration> {
        let prompt = self.tokenizer.apply_chat_template(messages, true)?;
        let ids = self.tokenizer.encode(&prompt, false)?;
        self.run(vec![(prompt, ids)], config, &mut |_, t| on_text(t))
            .map(|mut out| out.remove(0))
    }

    /// Generates from several prompts at once (left-padded into one batch). Each prompt gets the
    /// tokens it would get alone.
    pub fn generate_batch(
        &self,
        prompts: &[&str],
        config: &GenerationConfig,
    ) -> Result<Vec<TextGeneration>> {
        let prompts = prompts
            .iter()
            .map(|p| Ok((p.to_string(), self.encode(p)?)))
            .collect::<Result<Vec<_>>>()?;
        self.run(prompts, config, &mut |_, _| Ok(()))
    }

    /// The one code path: every prompt a row of one batch, `on_text(row, text)` for each piece of
    /// text as it completes.
    fn run(
        &self,
        prompts: Vec<(String, Vec<u32>)>,
        config: &GenerationConfig,
        on_text: &mut dyn FnMut(usize, &str) -> Result<()>,
    ) -> Result<Vec<TextGeneration>> {
        if config.stop_strings.iter().any(String::is_empty) {
            return Err(Phi3Error::InvalidOption {
                option: "stop_strings",
                message: "holds an empty string, which every text contains".into(),
            });
        }
        // The stop strings are this pipeline's to check (the token-level loop has no text).
        let token_config = GenerationConfig {
            stop_strings: vec![],
            ..config.clone()
        };
        let mut samplers = prompts
            .iter()
            .map(|_| match &self.sampler {
                Some(make) => Ok(make()),
                None => config.sampling.build(),
            })
            .collect::<std::result::Result<Vec<_>, _>>()?;
        let mut samplers: Vec<&mut dyn Sampler> = samplers
            .iter_mut()
            .map(|s| s.as_mut() as &mut dyn Sampler)
            .collect();
        let mut rows: Vec<RowStream> = prompts
            .iter()
            .map(|_| RowStream {
                decoder: self.tokenizer.stream(true),
                text: String::new(),
            })
            .collect();
        let ids: Vec<Vec<u32>> = prompts.iter().map(|(_, ids)| ids.clone()).collect();
        let mut failure: Option<Phi3Error> = None;
        let (generated, timings) = self.model.generate_batch_with(
            &ids,
            &token_config,
            &mut samplers,
            &mut |row, id| {
                if failure.is_some() {
                    return Control::Stop(StopReason::MaxNewTokens);
                }
                let step = rows[row]
                    .push(id, &config.stop_strings)
                    .and_then(|(chunk, control)| {
                        if let Some(text) = chunk {
                            on_text(row, &text)?;
                        }
                        Ok(control)
                    });
                step.unwrap_or_else(|e| {
                    failure = Some(e);
                    Control::Stop(StopReason::MaxNewTokens)
                })
            },
        )?;
        if let Some(e) = failure {
            return Err(e);
        }
        let mut out = Vec::with_capacity(prompts.len());
        for (row, (((prompt, prompt_ids), g), mut stream)) in
            prompts.into_iter().zip(generated).zip(rows).enumerate()
        {
            if let Some(rest) = stream.decoder.finish()? {
                on_text(row, &rest)?;
            }
            let generated = self.tokenizer.decode(&g.new_ids, true)?;
            out.push(TextGeneration {
                text: match config.return_full_text {
                    true => format!("{prompt}{generated}"),
                    false => generated,
                },
                prompt_ids,
                new_ids: g.new_ids,
                stop_reason: g.stop_reason,
                timings,
            });
        }
        Ok(out)
    }
}
