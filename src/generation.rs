//! Autoregressive generation for any [`CausalModel`]: prefill the prompt, then one token per
//! step, with or without the KV cache, for one prompt or a left-padded batch, with the sampler
//! the config describes or one of your own.

use std::time::Instant;

use burn::tensor::{Int, Tensor, TensorData, backend::Backend};
use phi3_core::{CausalModel, ModelCache, ModelError, Positions};
use phi3_sampling::{Candidates, Sampler, SamplerConfig};

use crate::error::{Phi3Error, Result};

/// What to generate and how. Field names follow transformers' `GenerationConfig`; the
/// sampling settings (`do_sample`, `temperature`, `top_k`, ...) are `phi3-sampling`'s
/// [`SamplerConfig`], the shorthand for a sampler of your own (see [`Generate::generate_with`]).
#[derive(Debug, Clone, PartialEq)]
pub struct GenerationConfig {
    /// Tokens to generate at most.
    pub max_new_tokens: usize,
    /// How the next token is chosen (greedy by default).
    pub sampling: SamplerConfig,
    /// Stop tokens; `None` takes the model's (for Phi-3: `<|end|>` and `<|endoftext|>`).
    pub eos_token_ids: Option<Vec<u32>>,
    /// Stop when the generated text contains one of these (the text pipeline checks them).
    pub stop_strings: Vec<String>,
    /// Return the prompt's text before the generated text (the text pipeline).
    pub return_full_text: bool,
    /// Reuse keys and values between steps (`false` reruns the whole sequence every step).
    pub use_cache: bool,
}

impl Default for GenerationConfig {
    fn default() -> Self {
        Self {
            max_new_tokens: 50,
            sampling: SamplerConfig::default(),
            eos_token_ids: None,
            stop_strings: vec![],
            return_full_text: true,
            use_cache: true,
        }
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

/// Generation for every [`CausalModel`] (implemented for all of them: `use phi3::Generate`).
///
/// `on_token(row, id)` is called for every new token as soon as it is chosen; it may stop its row
/// (the text pipeline checks stop strings there).
pub trait Generate<B: Backend>: CausalModel<B> {
    /// Generates from one prompt of token ids with the sampler `config.sampling` describes.
    fn generate(
        &self,
        prompt: &[u32],
        config: &GenerationConfig,
        on_token: &mut dyn FnMut(usize, u32) -> Control,
    ) -> Result<(Generated, Timings)> {
        let mut sampler = config.sampling.build()?;
        self.generate_with(prompt, config, sampler.as_mut(), on_token)
    }

    /// Generates from one prompt with your own `sampler` (`config.sampling` is not used).
    fn generate_with(
        &self,
        prompt: &[u32],
        config: &GenerationConfig,
        sampler: &mut dyn Sampler,
        on_token: &mut dyn FnMut(usize, u32) -> Control,
    ) -> Result<(Generated, Timings)> {
        let (mut out, timings) =
            self.generate_batch_with(&[prompt.to_vec()], config, &mut [sampler], on_token)?;
        Ok((out.remove(0), timings))
    }

    /// Generates from several prompts at once, each row with its own sampler from
    /// `config.sampling` (its own RNG: a row gets the tokens it would get alone).
    fn generate_batch(
        &self,
        prompts: &[Vec<u32>],
        config: &GenerationConfig,
        on_token: &mut dyn FnMut(usize, u32) -> Control,
    ) -> Result<(Vec<Generated>, Timings)> {
        let mut samplers = (0..prompts.len())
            .map(|_| config.sampling.build())
            .collect::<std::result::Result<Vec<_>, _>>()?;
        let mut rows: Vec<&mut dyn Sampler> = samplers
            .iter_mut()
            .map(|s| s.as_mut() as &mut dyn Sampler)
            .collect();
        self.generate_batch_with(prompts, config, &mut rows, on_token)
    }

    /// Generates from several prompts at once with one sampler of yours per prompt. Prompts are
    /// left-padded to a common length and every row gets its own positions and mask, so each
    /// row's tokens are those it would get alone.
    ///
    /// Errors before any compute: an empty prompt, an id outside the vocabulary, prompt +
    /// `max_new_tokens` beyond `max_position_embeddings`, a sampler count that is not the prompt
    /// count.
    fn generate_batch_with(
        &self,
        prompts: &[Vec<u32>],
        config: &GenerationConfig,
        samplers: &mut [&mut dyn Sampler],
        on_token: &mut dyn FnMut(usize, u32) -> Control,
    ) -> Result<(Vec<Generated>, Timings)> {
        run(self, prompts, config, samplers, on_token)
    }
}

impl<B: Backend, M: CausalModel<B> + ?Sized> Generate<B> for M {}

/// The generation loop behind every [`Generate`] method.
fn run<B: Backend, M: CausalModel<B> + ?Sized>(
    model: &M,
    prompts: &[Vec<u32>],
    config: &GenerationConfig,
    samplers: &mut [&mut dyn Sampler],
    on_token: &mut dyn FnMut(usize, u32) -> Control,
) -> Result<(Vec<Generated>, Timings)> {
    let model_config = model.config();
    let vocab = model_config.vocab_size;
    let longest = prompts
        .iter()
        .map(Vec::len)
        .max()
        .ok_or(ModelError::EmptyInput)?;
    if samplers.len() != prompts.len() {
        return Err(Phi3Error::InvalidOption {
            option: "samplers",
            message: format!(
                "{} samplers for {} prompts, expected one per prompt",
                samplers.len(),
                prompts.len()
            ),
        });
    }
    if !config.stop_strings.is_empty() {
        // Matching text needs a tokenizer; ignoring them would run past where the caller stops.
        return Err(Phi3Error::InvalidOption {
            option: "stop_strings",
            message: "need text: generate through TextGenerationPipeline, or stop in on_token"
                .into(),
        });
    }
    if config.max_new_tokens == 0 {
        return Err(Phi3Error::InvalidOption {
            option: "max_new_tokens",
            message: "is 0, expected at least 1".into(),
        });
    }
    for prompt in prompts {
        if prompt.is_empty() {
            return Err(ModelError::EmptyInput.into());
        }
        if let Some(&id) = prompt.iter().find(|&&id| id as usize >= vocab) {
            return Err(ModelError::TokenOutOfRange {
                id: id.into(),
                vocab,
            }
            .into());
        }
        let context = model_config.max_position_embeddings;
        // Saturating: a huge max_new_tokens must fail the check, not wrap past it.
        if prompt.len().saturating_add(config.max_new_tokens) > context {
            return Err(Phi3Error::PromptTooLong {
                prompt_tokens: prompt.len(),
                max_new_tokens: config.max_new_tokens,
                context,
            });
        }
    }
    let eos = config
        .eos_token_ids
        .clone()
        .unwrap_or_else(|| model_config.eos_token_ids());
    let pad = model_config.pad_token_id.unwrap_or(0).min(vocab as u32 - 1);
    let device = model.device();

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
        .then(|| model.new_cache(longest + config.max_new_tokens));
    let mut timings = Timings::default();

    let mut clock = Instant::now();
    for step in 0..config.max_new_tokens {
        let end = columns.len();
        let full = Positions::padded(padding.clone(), 0, end);
        // Which columns to run: everything (no cache, first step, or a cache that LongRoPE
        // invalidated by switching tables, as transformers does), else the newest column.
        let epoch = model.cache_epoch(full.max_len());
        let start = match cache.as_mut() {
            Some(c) if !c.is_empty() && c.epoch() == epoch => end - 1,
            Some(c) => {
                c.reset(epoch);
                0
            }
            None => 0,
        };
        let positions = Positions::padded(padding.clone(), start, end - start);
        let ids = id_tensor::<B>(&columns[start..end], batch, &device);
        let hidden = model.hidden_states(ids, &positions, cache.as_mut())?;
        let last = hidden.narrow(1, end - start - 1, 1);
        let wanted = wanted_candidates(samplers, vocab);
        let logits = StepLogits::read(model.logits(last).reshape([batch, vocab]), wanted)?;

        let mut next = Vec::with_capacity(batch);
        for row in 0..batch {
            if results[row].is_some() {
                next.push(pad);
                continue;
            }
            let id = logits.sample(row, &mut *samplers[row], &histories[row])?;
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
        } else {
            timings.decode_tokens += batch;
            timings.decode_seconds += elapsed;
        }
        clock = Instant::now();
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

/// The most any row's sampler needs: `Some(k)` when every row reads only its top candidates.
fn wanted_candidates(samplers: &[&mut dyn Sampler], vocab: usize) -> Option<usize> {
    let mut k = 0;
    for s in samplers {
        match s.candidates() {
            Candidates::Top(n) if n > 0 => k = k.max(n),
            _ => return None,
        }
    }
    (k < vocab).then_some(k)
}

/// One step's logits as read back: whole rows, or each row's `k` largest with their ids.
enum StepLogits<B: Backend> {
    Whole {
        values: Vec<f32>,
        vocab: usize,
    },
    Top {
        values: Vec<f32>,
        ids: Vec<u32>,
        k: usize,
        logits: Tensor<B, 2>,
    },
}

impl<B: Backend> StepLogits<B> {
    /// Reads `logits` back: whole, or (with `top = Some(k)`) each row's `k` largest, chosen
    /// where the logits are — a GPU sends `k` values and ids per row, not the vocabulary — with
    /// a NaN check riding along (a row's sum).
    ///
    /// # Shapes
    /// - logits: `[batch, vocab]`
    fn read(logits: Tensor<B, 2>, top: Option<usize>) -> Result<Self> {
        let [_, vocab] = logits.dims();
        let floats = |t: Tensor<B, 2>| -> Result<Vec<f32>> {
            Ok(t.into_data()
                .convert::<f32>()
                .into_vec()
                .map_err(ModelError::from)?)
        };
        let Some(k) = top else {
            return Ok(Self::Whole {
                values: floats(logits)?,
                vocab,
            });
        };
        let (values, ids) = match k {
            1 => (logits.clone().max_dim(1), logits.clone().argmax(1)),
            _ => logits.clone().topk_with_indices(k, 1),
        };
        let sums = logits.clone().sum_dim(1);
        let values = floats(Tensor::cat(vec![values, sums], 1))?;
        let ids: Vec<i64> = ids
            .into_data()
            .convert::<i64>()
            .into_vec()
            .map_err(ModelError::from)?;
        let ids = ids.into_iter().map(|id| id as u32).collect();
        Ok(Self::Top {
            values,
            ids,
            k,
            logits,
        })
    }

    /// Row `row`'s token from `sampler`.
    fn sample(&self, row: usize, sampler: &mut dyn Sampler, history: &[u32]) -> Result<u32> {
        let (values, ids, k, logits) = match self {
            Self::Whole { values, vocab } => {
                return Ok(sampler.sample(&values[row * vocab..(row + 1) * vocab], history)?);
            }
            Self::Top {
                values,
                ids,
                k,
                logits,
            } => (values, ids, *k, logits),
        };
        let row_values = &values[row * (k + 1)..(row + 1) * (k + 1)];
        if row_values[k].is_nan() {
            // A NaN somewhere in the row (or +inf beside -inf): the sampler sees the whole row
            // and names what is wrong.
            return Self::read(logits.clone(), None)?.sample(row, sampler, history);
        }
        // The sampler expects the candidates in id order.
        let mut candidates: Vec<(u32, f32)> = ids[row * k..(row + 1) * k]
            .iter()
            .copied()
            .zip(row_values[..k].iter().copied())
            .collect();
        candidates.sort_unstable_by_key(|&(id, _)| id);
        let (ids, values): (Vec<u32>, Vec<f32>) = candidates.into_iter().unzip();
        let index = sampler.sample(&values, history)? as usize;
        ids.get(index)
            .copied()
            .ok_or_else(|| Phi3Error::InvalidOption {
                option: "sampler",
                message: format!("chose candidate {index} of {k}"),
            })
    }
}

/// `[batch, columns]` ids from column-major rows.
fn id_tensor<B: Backend>(
    columns: &[Vec<u32>],
    batch: usize,
    device: &B::Device,
) -> Tensor<B, 2, Int> {
    let data: Vec<i64> = (0..batch)
        .flat_map(|r| columns.iter().map(move |col| col[r] as i64))
        .collect();
    Tensor::from_data(TensorData::new(data, [batch, columns.len()]), device)
}
