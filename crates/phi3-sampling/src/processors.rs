//! Logits processors: each rewrites a row of logits in place; `-inf` removes a token.

/// One step of the processing chain.
pub trait LogitsProcessor {
    /// Rewrites `logits`; `history` is the sequence so far.
    fn process(&self, logits: &mut [f32], history: &[u32]);

    /// What the processor reads, which decides whether a chain can run on the top candidates
    /// alone ([`crate::Candidates`]). [`ProcessorKind::Other`], the default, is always safe.
    fn kind(&self) -> ProcessorKind {
        ProcessorKind::Other
    }
}

/// How a [`LogitsProcessor`] depends on the row it rewrites.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProcessorKind {
    /// Each logit mapped on its own by an increasing function (temperature): the ranking stays.
    Monotone,
    /// Keeps the `k` largest logits and removes the rest (top-k).
    KeepsTop(usize),
    /// Removes tokens by looking only at tokens not yet removed (top-p, min-p): the same on the
    /// survivors of an earlier cut as on the whole row with the rest at `-inf`.
    Filter,
    /// Anything else (reads ids or history, like the repetition penalty).
    Other,
}

/// CTRL's repetition penalty (Keskar et al., 2019), as transformers applies it: a token already
/// in the sequence has a positive logit divided by the penalty, a negative one multiplied.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RepetitionPenalty(pub f32);

impl LogitsProcessor for RepetitionPenalty {
    fn process(&self, logits: &mut [f32], history: &[u32]) {
        let mut seen = vec![false; logits.len()];
        for &id in history {
            let i = id as usize;
            if i < logits.len() && !seen[i] {
                seen[i] = true;
                let x = logits[i];
                logits[i] = if x < 0.0 { x * self.0 } else { x / self.0 };
            }
        }
    }
}

/// Divides logits by the temperature (> 0): below 1 sharpens, above 1 flattens. The row's
/// maximum is subtracted first (softmax does not change), so a tiny temperature sends the others
/// to −∞ rather than the maximum to +∞ and the probabilities to NaN.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Temperature(pub f32);

impl LogitsProcessor for Temperature {
    fn kind(&self) -> ProcessorKind {
        ProcessorKind::Monotone
    }

    fn process(&self, logits: &mut [f32], _history: &[u32]) {
        let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        if !max.is_finite() {
            return; // all removed, or garbage the chain's check reports
        }
        for x in logits.iter_mut() {
            *x = (*x - max) / self.0;
        }
    }
}

/// Indices sorted by logit, largest first (stable: ties keep the lower id first).
fn descending(logits: &[f32]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..logits.len()).collect();
    order.sort_by(|&a, &b| logits[b].total_cmp(&logits[a]));
    order
}

/// Keeps the `k` largest logits (Fan et al., 2018).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TopK(pub usize);

impl LogitsProcessor for TopK {
    fn kind(&self) -> ProcessorKind {
        ProcessorKind::KeepsTop(self.0)
    }

    fn process(&self, logits: &mut [f32], _history: &[u32]) {
        for &i in descending(logits).iter().skip(self.0) {
            logits[i] = f32::NEG_INFINITY;
        }
    }
}

/// Nucleus sampling (Holtzman et al., 2020): keeps the smallest set of most likely tokens whose
/// probability mass reaches `p`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TopP(pub f32);

impl LogitsProcessor for TopP {
    fn kind(&self) -> ProcessorKind {
        ProcessorKind::Filter
    }

    fn process(&self, logits: &mut [f32], _history: &[u32]) {
        let probs = crate::softmax(logits);
        let mut mass = 0.0;
        let mut keep = true;
        for i in descending(logits) {
            if keep {
                mass += probs[i];
                // The token that makes the mass reach p is kept; everything after is dropped.
                keep = mass < self.0 as f64;
            } else {
                logits[i] = f32::NEG_INFINITY;
            }
        }
    }
}

/// Min-p sampling (Nguyen et al., 2024): drops tokens whose probability is below `p` times the
/// most likely token's.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MinP(pub f32);

impl LogitsProcessor for MinP {
    fn kind(&self) -> ProcessorKind {
        ProcessorKind::Filter
    }

    fn process(&self, logits: &mut [f32], _history: &[u32]) {
        let probs = crate::softmax(logits);
        let top = probs.iter().copied().fold(0.0, f64::max);
        for (x, p) in logits.iter_mut().zip(probs) {
            if p < self.0 as f64 * top {
                *x = f32::NEG_INFINITY;
            }
        }
    }
}
