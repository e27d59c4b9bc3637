//! Autoregressive generation: prefill the prompt, then one token per step, with or without the
//! KV cache, for one prompt or a left-padded batch.

use std::time::Instant;

use burn::tensor::{Int, Tensor, TensorData, backend::Backend};
use phi3_attention::{Attention, PositionEncoding, Positions};
use phi3_sampling::{Sampler, SamplerConfig, SamplingError};

use crate::cache::ModelCache;
use crate::decoder::CausalLm;
use crate::error::{Phi3Error, Result};
use crate::norm::Norm;

/// What to generate and how. Field names follow transformers' `GenerationConfig`.
#[derive(Debug, Clone, PartialEq)]
pub struct GenerationConfig {
    /// Tokens to generate at most.
    pub max_new_tokens: usize,
    /// Sample (`true`) or take the argmax (`false`).
    pub do_sample: bool,
    /// Softmax temperature when sampling; 0 means greedy.
    pub temperature: f32,
    /// Keep only the `k` most likely tokens.
    pub top_k: Option<usize>,
    /// Keep the smallest set of tokens whose probability reaches `p`.
    pub top_p: Option<f32>,
    /// Drop tokens less likely than `min_p` times the most likely one.
    pub min_p: Option<f32>,
    /// Penalise tokens already in the sequence (CTRL; 1.0 = off).
    pub repetition_penalty: Option<f32>,
    /// Seed of the sampler's RNG: the same seed reproduces a run.
    pub seed: u64,
    /// Stop tokens; `None` takes the model's (for Phi-3: `<|end|>` and `<|endoftext|>`).
    pub eos_token_ids: Option<Vec<u32>>,
    /// Stop when the generated text contains one of these.
    pub stop_strings: Vec<String>,
    /// Return the prompt's text before the generated text.
    pub return_full_text: bool,
    /// Reuse keys and values between steps (`false` reruns the whole sequence every step).
    pub use_cache: bool,
}

impl Default for GenerationConfig {
    fn default() -> Self {
        Self {
            max_new_tokens: 50,
            do_sample: false,
            temperature: 1.0,
            top_k: None,
            top_p: None,
            min_p: None,
            repetition_penalty: None,
            seed: 0,
            eos_token_ids: None,
            stop_strings: vec![],
            return_full_text: true,
            use_cache: true,
        }
    }
}

impl GenerationConfig {
    /// The sampler these settings describe (validated).
    pub fn sampler(&self) -> std::result::Result<Box<dyn Sampler + Send>, SamplingError> {
        SamplerConfig {
            do_sample: self.do_sample,
            temperature: self.temperature,
            top_k: self.top_k,
            top_p: self.top_p,
            min_p: self.min_p,
            repetition_penalty: self.repetition_penalty,
            seed: self.seed,
        }
        .build()
    }
}

/// Why generation stopped.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    /// `max_new_tokens` were generated.
    MaxNewTokens,
    /// A stop token was generated (it is included in the new ids).
    EosToken(u32),
    /// The text reached a stop string.
    StopString(String),
}

/// What a streaming callback tells the generator after each token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Control {
    /// Keep going.
    Continue,
    /// Stop this row now, for this reason.
    Stop(StopReason),
}

/// Wall-clock timings of one generation (the device is synchronised before each clock read:
/// logits are read back to the host every step).
#[derive(Debug, Clone, Copy, PartialEq, Default, serde::Serialize)]
pub struct Timings {
    /// Prompt tokens processed by the first forward pass (all rows).
    pub prefill_tokens: usize,
    /// Seconds spent on the first forward pass.
    pub prefill_seconds: f64,
    /// Tokens generated after the first (all rows).
    pub decode_tokens: usize,
    /// Seconds spent generating them.
    pub decode_seconds: f64,
}

impl Timings {
    /// Prompt tokens per second.
    pub fn prefill_tokens_per_s(&self) -> f64 {
        self.prefill_tokens as f64 / self.prefill_seconds.max(f64::MIN_POSITIVE)
    }
    /// Generated tokens per second after the first.
    pub fn decode_tokens_per_s(&self) -> f64 {
        self.decode_tokens as f64 / self.decode_seconds.max(f64::MIN_POSITIVE)
    }
}

/// One prompt's generated tokens.
#[derive(Debug, Clone, PartialEq)]
pub struct Generated {
    /// The new token ids (a stop token included).
    pub new_ids: Vec<u32>,
    /// Why it stopped.
    pub stop_reason: StopReason,
}

fn sampling(e: SamplingError) -> Phi3Error {
    Phi3Error::Sampling(e.to_string())
}

impl<B: Backend, A: Attention<B>, N: Norm<B>, P: PositionEncoding<B>> CausalLm<B, A, N, P> {
    /// Generates from one prompt of token ids. See [`Self::generate_batch`].
    pub fn generate(
        &self,
        prompt: &[u32],
        config: &GenerationConfig,
        on_token: &mut dyn FnMut(usize, u32) -> Control,
    ) -> Result<(Generated, Timings)> {
        let (mut out, timings) = self.generate_batch(&[prompt.to_vec()], config, on_token)?;
        Ok((out.remove(0), timings))
    }

    /// Generates from several prompts at once. Prompts are left-padded to a common length and
    /// every row gets its own positions and mask, so each row's tokens are those it would get
    /// alone. `on_token(row, id)` is called for every new token as soon as it is chosen; it may
    /// stop its row (stop strings are checked there).
    ///
    /// Errors before any compute: an empty prompt, an id outside the vocabulary, prompt +
    /// `max_new_tokens` beyond `max_position_embeddings`, invalid sampler settings.
    pub fn generate_batch(
        &self,
        prompts: &[Vec<u32>],
        config: &GenerationConfig,
        on_token: &mut dyn FnMut(usize, u32) -> Control,
    ) -> Result<(Vec<Generated>, Timings)> {
        let vocab = self.config.vocab_size;
        let longest = prompts
            .iter()
            .map(Vec::len)
            .max()
            .ok_or(Phi3Error::EmptyInput)?;
        for prompt in prompts {
            if prompt.is_empty() {
                return Err(Phi3Error::EmptyInput);
            }
            if let Some(&id) = prompt.iter().find(|&&id| id as usize >= vocab) {
                return Err(Phi3Error::TokenOutOfRange { id, vocab });
            }
            let context = self.config.max_position_embeddings;
            if prompt.len() + config.max_new_tokens > context {
                return Err(Phi3Error::PromptTooLong {
                    prompt_tokens: prompt.len(),
                    max_new_tokens: config.max_new_tokens,
                    context,
                });
            }
        }
        let mut samplers = (0..prompts.len())
            .map(|_| config.sampler())
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(sampling)?;
        let eos = config
            .eos_token_ids
            .clone()
            .unwrap_or_else(|| self.config.eos_token_ids());
        let pad = self.config.pad_token_id.unwrap_or(0).min(vocab as u32 - 1);

        let batch = prompts.len();
        let padding: Vec<usize> = prompts.iter().map(|p| longest - p.len()).collect();
        // Column-major token grid: columns[c][r] is row r's token in column c.
        let mut columns: Vec<Vec<u32>> = (0..longest)
            .map(|c| {
                prompts
                    .iter()
                    .zip(&padding)
                    .map(|(p, &pad_len)| if c < pad_len { pad } else { p[c - pad_len] })
                    .collect()
            })
            .collect();
        let mut histories: Vec<Vec<u32>> = prompts.to_vec();
        let mut results: Vec<Option<Generated>> = vec![None; batch];
        let mut new_ids: Vec<Vec<u32>> = vec![vec![]; batch];
        let mut cache: Option<ModelCache<B>> = config
            .use_cache
            .then(|| self.new_cache(longest + config.max_new_tokens));
        let mut timings = Timings::default();

        let mut clock = Instant::now();
        for step in 0..config.max_new_tokens {
            let end = columns.len();
            let full = Positions::padded(padding.clone(), 0, end);
            // Which columns to run: everything (no cache, first step, or a cache that LongRoPE
            // invalidated by switching tables, as transformers does), else the newest column.
            let start = match cache.as_mut() {
                Some(c) if !c.is_empty() && c.epoch() == self.cache_epoch(full.max_len()) => {
                    end - 1
                }
                Some(c) => {
                    c.reset(self.cache_epoch(full.max_len()));
                    0
                }
                None => 0,
            };
            let positions = Positions::padded(padding.clone(), start, end - start);
            let ids = self.id_tensor(&columns[start..end], batch);
            let hidden = self.model.forward_with(ids, &positions, cache.as_mut())?;
            let last = hidden.narrow(1, end - start - 1, 1);
            let logits: Vec<f32> = self
                .logits(last)
                .into_data()
                .to_vec::<f32>()
                .map_err(|e| Phi3Error::Sampling(format!("{e:?}")))?;

            let mut next = Vec::with_capacity(batch);
            for row in 0..batch {
                if results[row].is_some() {
                    next.push(pad);
                    continue;
                }
                let row_logits = &logits[row * vocab..(row + 1) * vocab];
                let id = samplers[row]
                    .sample(row_logits, &histories[row])
                    .map_err(sampling)?;
                histories[row].push(id);
                new_ids[row].push(id);
                next.push(id);
                let mut stop = on_token(row, id);
                if eos.contains(&id) {
                    stop = Control::Stop(StopReason::EosToken(id));
                }
                if let Control::Stop(reason) = stop {
                    results[row] = Some(Generated {
                        new_ids: std::mem::take(&mut new_ids[row]),
                        stop_reason: reason,
                    });
                }
            }
            let elapsed = clock.elapsed().as_secs_f64();
            if step == 0 {
                timings.prefill_tokens = batch * longest;
                timings.prefill_seconds = elapsed;
                clock = Instant::now();
            } else {
                timings.decode_tokens += batch;
                timings.decode_seconds += elapsed;
                clock = Instant::now();
            }
            columns.push(next);
            if results.iter().all(Option::is_some) {
                break;
            }
        }
        let out = results
            .into_iter()
            .zip(new_ids)
            .map(|(done, ids)| {
                done.unwrap_or(Generated {
                    new_ids: ids,
                    stop_reason: StopReason::MaxNewTokens,
                })
            })
            .collect();
        Ok((out, timings))
    }

    /// `[batch, columns]` ids from column-major rows.
    fn id_tensor(&self, columns: &[Vec<u32>], batch: usize) -> Tensor<B, 2, Int> {
        let data: Vec<i64> = (0..batch)
            .flat_map(|r| columns.iter().map(move |col| col[r] as i64))
            .collect();
        let device = self.lm_head.weight.device();
        Tensor::from_data(TensorData::new(data, [batch, columns.len()]), &device)
    }
}
