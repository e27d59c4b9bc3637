//! # phi3-sampling
//!
//! Choosing the next token from a row of logits. [`Sampler`] is the one trait; [`Greedy`] is
//! the deterministic strategy the oracle tests use.

/// Bad sampler input.
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
}

/// Picks a token id from one position's logits over the vocabulary.
pub trait Sampler {
    /// Returns the chosen token id.
    fn sample(&mut self, logits: &[f32]) -> Result<u32, SamplingError>;
}

/// Always the most likely token; ties go to the lowest id (as `torch.argmax`).
#[derive(Debug, Clone, Copy, Default)]
pub struct Greedy;

/// Index of the largest logit, ties to the lowest index.
pub fn argmax(logits: &[f32]) -> Result<u32, SamplingError> {
    if logits.is_empty() {
        return Err(SamplingError::Empty);
    }
    let mut best = 0;
    for (i, &x) in logits.iter().enumerate() {
        if x.is_nan() {
            return Err(SamplingError::NaN { index: i });
        }
        if x > logits[best] {
            best = i;
        }
    }
    Ok(best as u32)
}

impl Sampler for Greedy {
    fn sample(&mut self, logits: &[f32]) -> Result<u32, SamplingError> {
        argmax(logits)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn greedy_takes_the_first_maximum() {
        assert_eq!(Greedy.sample(&[0.1, 3.0, -1.0, 3.0]), Ok(1));
        assert_eq!(Greedy.sample(&[f32::NEG_INFINITY, -5.0]), Ok(1));
    }

    #[test]
    fn greedy_rejects_nan_and_empty() {
        assert_eq!(
            Greedy.sample(&[0.0, f32::NAN]),
            Err(SamplingError::NaN { index: 1 })
        );
        assert_eq!(Greedy.sample(&[]), Err(SamplingError::Empty));
    }
}
