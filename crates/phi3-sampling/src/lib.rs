//! # phi3-sampling
//!
//! Choosing the next token from a row of logits.
//!
//! A [`Sampler`] turns logits into a token id. [`ProcessorChain`] is the sampler most users want:
//! logits processors applied in a fixed, documented order —
//! repetition penalty → temperature → top-k → top-p → min-p — then one draw from the remaining
//! distribution with a seeded RNG, so a seed reproduces a run. [`Greedy`] takes the argmax.
//! Build either from a [`SamplerConfig`], which validates the settings.

mod processors;

pub use processors::{
    LogitsProcessor, MinP, ProcessorKind, RepetitionPenalty, Temperature, TopK, TopP,
};

use rand::Rng;
use rand::SeedableRng;
use rand::rngs::StdRng;

/// Bad sampler settings or input.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SamplingError {
    /// There are no logits to choose from.
    #[error("empty logits")]
    Empty,
    /// A logit is NaN: the model produced garbage and no token can be chosen honestly.
    #[error("logit {index} is NaN")]
    NaN {
        /// Position of the first NaN.
        index: usize,
    },
    /// A logit is +∞: no distribution can be formed from it (−∞, a removed token, is fine).
    #[error("logit {index} is +inf")]
    Infinite {
        /// Position of the first +∞.
        index: usize,
    },
    /// The processors removed every token.
    #[error("no token is left to sample from")]
    NothingLeft,
    /// A setting is out of range.
    #[error("invalid `{parameter}` = {value}: expected {expected}")]
    InvalidSetting {
        /// The setting's name (`temperature`, `top_p`, ...).
        parameter: &'static str,
        /// The value given.
        value: String,
        /// The valid range.
        expected: &'static str,
    },
}

/// Picks a token id from one position's logits over the vocabulary.
pub trait Sampler {
    /// Returns the chosen id. `history` is the sequence so far (prompt and generated tokens).
    ///
    /// Under [`Candidates::Top`], `logits` are the candidates' only (the `k` largest of the row,
    /// in id order) and the answer is an index into them.
    fn sample(&mut self, logits: &[f32], history: &[u32]) -> Result<u32, SamplingError>;

    /// How much of the row [`Self::sample`] needs. [`Candidates::All`], the default, is always
    /// right; [`Candidates::Top`] lets generation pick the candidates where the logits are (on
    /// a GPU) and read back only those.
    fn candidates(&self) -> Candidates {
        Candidates::All
    }
}

/// The part of a row of logits a sampler reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Candidates {
    /// The whole row.
    All,
    /// Only the `k` largest logits, in id order: the sampler answers the same on them as on
    /// the whole row (greedy, and chains whose first filter keeps at most `k`). Ties at the
    /// `k`-th value may be broken differently from a whole-row sort.
    Top(usize),
}

/// Index of the largest logit, ties to the lowest index (as `torch.argmax`).
pub fn argmax(logits: &[f32]) -> Result<u32, SamplingError> {
    check(logits)?;
    let mut best = 0;
    for (i, &x) in logits.iter().enumerate() {
        if x > logits[best] {
            best = i;
        }
    }
    Ok(best as u32)
}

fn check(logits: &[f32]) -> Result<(), SamplingError> {
    if logits.is_empty() {
        return Err(SamplingError::Empty);
    }
    if let Some(index) = logits.iter().position(|x| x.is_nan()) {
        return Err(SamplingError::NaN { index });
    }
    match logits.iter().position(|&x| x == f32::INFINITY) {
        Some(index) => Err(SamplingError::Infinite { index }),
        None => Ok(()),
    }
}

/// Always the most likely token (after an optional repetition penalty).
#[derive(Debug, Clone, Default)]
pub struct Greedy {
    /// Applied before the argmax, as transformers does for greedy search.
    pub repetition_penalty: Option<RepetitionPenalty>,
}

impl Sampler for Greedy {
    /// One candidate without a repetition penalty; the whole row with one (it rewrites the
    /// logits of past tokens, wherever they rank).
    fn candidates(&self) -> Candidates {
        match self.repetition_penalty {
            None => Candidates::Top(1),
            Some(_) => Candidates::All,
        }
    }

    fn sample(&mut self, logits: &[f32], history: &[u32]) -> Result<u32, SamplingError> {
        match &self.repetition_penalty {
            None => argmax(logits),
            Some(p) => {
                check(logits)?;
                let mut logits = logits.to_vec();
                p.process(&mut logits, history);
                argmax(&logits)
            }
        }
    }
}

/// Logits processors in order, then a draw from the softmax of what is left.
pub struct ProcessorChain {
    processors: Vec<Box<dyn LogitsProcessor + Send>>,
    rng: StdRng,
}

impl ProcessorChain {
    /// A chain with a seeded RNG.
    pub fn new(processors: Vec<Box<dyn LogitsProcessor + Send>>, seed: u64) -> Self {
        Self {
            processors,
            rng: StdRng::seed_from_u64(seed),
        }
    }

    /// Temperature sampling: logits divided by `temperature` (> 0), then a draw.
    pub fn temperature(temperature: f32, seed: u64) -> Self {
        Self::new(vec![Box::new(Temperature(temperature))], seed)
    }

    /// Top-k sampling: temperature, then a draw among the `k` most likely tokens.
    pub fn top_k(k: usize, temperature: f32, seed: u64) -> Self {
        Self::new(
            vec![Box::new(Temperature(temperature)), Box::new(TopK(k))],
            seed,
        )
    }

    /// The probabilities the chain would draw from (exposed for tests and inspection).
    pub fn distribution(&self, logits: &[f32], history: &[u32]) -> Result<Vec<f64>, SamplingError> {
        check(logits)?;
        let mut logits = logits.to_vec();
        for p in &self.processors {
            p.process(&mut logits, history);
        }
        // A processor of one's own may still produce garbage: never draw from it.
        check(&logits)?;
        if logits.iter().all(|&x| x == f32::NEG_INFINITY) {
            return Err(SamplingError::NothingLeft);
        }
        Ok(softmax(&logits))
    }
}

/// Softmax in f64; `-inf` logits get probability 0.
pub fn softmax(logits: &[f32]) -> Vec<f64> {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
    let exp: Vec<f64> = logits.iter().map(|&x| (x as f64 - max).exp()).collect();
    let sum: f64 = exp.iter().sum();
    exp.into_iter().map(|e| e / sum).collect()
}

impl Sampler for ProcessorChain {
    /// `Top(k)` when the chain's first filter keeps the `k` most likely tokens, only
    /// order-preserving processors come before it and only filters that ignore removed tokens
    /// after it (temperature → top-k → top-p → min-p); the whole row otherwise.
    fn candidates(&self) -> Candidates {
        let mut cut = None;
        for p in &self.processors {
            match (p.kind(), cut) {
                (ProcessorKind::Monotone, _) => {}
                (ProcessorKind::KeepsTop(k), None) => cut = Some(k),
                (ProcessorKind::KeepsTop(k), Some(c)) => cut = Some(k.min(c)),
                (ProcessorKind::Filter, Some(_)) => {}
                (ProcessorKind::Filter | ProcessorKind::Other, _) => return Candidates::All,
            }
        }
        cut.map_or(Candidates::All, Candidates::Top)
    }

    fn sample(&mut self, logits: &[f32], history: &[u32]) -> Result<u32, SamplingError> {
        let probs = self.distribution(logits, history)?;
        let u: f64 = self.rng.random();
        let mut acc = 0.0;
        let mut last = 0;
        for (i, p) in probs.iter().enumerate() {
            if *p > 0.0 {
                acc += p;
                last = i;
                if u < acc {
                    return Ok(i as u32);
                }
            }
        }
        // Rounding left u ≥ the total mass: the last token with mass.
        Ok(last as u32)
    }
}

/// Decoding settings, as in transformers' `GenerationConfig`.
#[derive(Debug, Clone, PartialEq)]
pub struct SamplerConfig {
    /// `false`: greedy.
    pub do_sample: bool,
    /// Softmax temperature; 0 means greedy. Must be ≥ 0.
    pub temperature: f32,
    /// Keep the `k` most likely tokens; `k ≥ 1`.
    pub top_k: Option<usize>,
    /// Nucleus sampling threshold in (0, 1].
    pub top_p: Option<f32>,
    /// Minimum probability relative to the most likely token, in [0, 1].
    pub min_p: Option<f32>,
    /// CTRL repetition penalty, > 0 (1 = off).
    pub repetition_penalty: Option<f32>,
    /// RNG seed.
    pub seed: u64,
}

impl Default for SamplerConfig {
    fn default() -> Self {
        Self {
            do_sample: false,
            temperature: 1.0,
            top_k: None,
            top_p: None,
            min_p: None,
            repetition_penalty: None,
            seed: 0,
        }
    }
}

fn invalid(parameter: &'static str, value: impl ToString, expected: &'static str) -> SamplingError {
    SamplingError::InvalidSetting {
        parameter,
        value: value.to_string(),
        expected,
    }
}

impl SamplerConfig {
    /// Validates the settings and builds the sampler they describe.
    pub fn build(&self) -> Result<Box<dyn Sampler + Send>, SamplingError> {
        let t = self.temperature;
        if !(t >= 0.0 && t.is_finite()) {
            return Err(invalid("temperature", t, "a finite number ≥ 0"));
        }
        if let Some(k) = self.top_k
            && k == 0
        {
            return Err(invalid("top_k", k, "an integer ≥ 1"));
        }
        if let Some(p) = self.top_p
            && !(p > 0.0 && p <= 1.0)
        {
            return Err(invalid("top_p", p, "a number in (0, 1]"));
        }
        if let Some(p) = self.min_p
            && !(0.0..=1.0).contains(&p)
        {
            return Err(invalid("min_p", p, "a number in [0, 1]"));
        }
        if let Some(r) = self.repetition_penalty
            && !(r > 0.0 && r.is_finite())
        {
            return Err(invalid("repetition_penalty", r, "a finite number > 0"));
        }
        let penalty = self.repetition_penalty.map(RepetitionPenalty);
        if !self.do_sample || t == 0.0 {
            return Ok(Box::new(Greedy {
                repetition_penalty: penalty,
            }));
        }
        let mut chain: Vec<Box<dyn LogitsProcessor + Send>> = vec![];
        if let Some(p) = penalty {
            chain.push(Box::new(p));
        }
        chain.push(Box::new(Temperature(t)));
        if let Some(k) = self.top_k {
            chain.push(Box::new(TopK(k)));
        }
        if let Some(p) = self.top_p {
            chain.push(Box::new(TopP(p)));
        }
        if let Some(p) = self.min_p {
            chain.push(Box::new(MinP(p)));
        }
        Ok(Box::new(ProcessorChain::new(chain, self.seed)))
    }
}

#[cfg(test)]
mod tests;
