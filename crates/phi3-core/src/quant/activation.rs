//! Activations quantized to 8 bits, once per product, so that every weight row's dot product is
//! an integer one (as llama.cpp and candle do): blocks of 32 for Q8_0, Q4_0 and Q4_1 weights,
//! blocks of 256 with sums per 16 for the K-quants.
//!
//! Each block is scaled by `d = max|x| / 127` and rounded, so every value moves by at most
//! `d / 2`: the error bound of a product is `Σ_blocks d / 2 · Σ |w|` over the block's weights.

use super::format::QK_K;

/// Values per block of [`Q8Blocks`].
pub const QK8: usize = 32;

/// A row of activations in blocks of 32: `x ≈ scale · quant`.
#[derive(Debug, Clone, Default)]
pub struct Q8Blocks {
    /// One scale per block.
    pub scales: Vec<f32>,
    /// `32 · blocks` quants.
    pub quants: Vec<i8>,
    /// `Σ quant` per block (Q4_1's minimum multiplies it).
    pub sums: Vec<i32>,
}

/// A row of activations in blocks of 256, with the sum of every 16 quants (the K-quants' minimums
/// and offsets multiply them).
#[derive(Debug, Clone, Default)]
pub struct Q8KBlocks {
    /// One scale per block.
    pub scales: Vec<f32>,
    /// `256 · blocks` quants.
    pub quants: Vec<i8>,
    /// `Σ quant` over each 16 values.
    pub sums16: Vec<i32>,
}

/// `(scale, inverse)` of a block whose largest magnitude is `amax`.
fn scale_of(amax: f32) -> (f32, f32) {
    if amax > 0.0 {
        (amax / 127.0, 127.0 / amax)
    } else {
        (0.0, 0.0)
    }
}

fn quantize_block(x: &[f32], quants: &mut [i8]) -> f32 {
    let amax = x.iter().fold(0f32, |m, v| m.max(v.abs()));
    let (d, inv) = scale_of(amax);
    for (q, v) in quants.iter_mut().zip(x) {
        *q = (v * inv).round() as i8;
    }
    d
}

/// `x` (a multiple of 32 long) in blocks of 32.
pub fn quantize_q8(x: &[f32]) -> Q8Blocks {
    let blocks = x.len() / QK8;
    let mut out = Q8Blocks {
        scales: Vec::with_capacity(blocks),
        quants: vec![0; blocks * QK8],
        sums: Vec::with_capacity(blocks),
    };
    for (xb, qb) in x.chunks_exact(QK8).zip(out.quants.chunks_exact_mut(QK8)) {
        out.scales.push(quantize_block(xb, qb));
        out.sums.push(qb.iter().map(|&q| q as i32).sum());
    }
    out
}

/// `x` (a multiple of 256 long) in blocks of 256.
pub fn quantize_q8k(x: &[f32]) -> Q8KBlocks {
    let blocks = x.len() / QK_K;
    let mut out = Q8KBlocks {
        scales: Vec::with_capacity(blocks),
        quants: vec![0; blocks * QK_K],
        sums16: Vec::with_capacity(blocks * 16),
    };
    for (xb, qb) in x.chunks_exact(QK_K).zip(out.quants.chunks_exact_mut(QK_K)) {
        out.scales.push(quantize_block(xb, qb));
        out.sums16.extend(
            qb.chunks_exact(16)
                .map(|g| g.iter().map(|&q| q as i32).sum::<i32>()),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_value_moves_by_at_most_half_a_step() {
        let x: Vec<f32> = (0..512)
            .map(|i| ((i * 37 % 101) as f32 - 50.0) / 7.0)
            .collect();
        let q = quantize_q8(&x);
        for (b, xb) in x.chunks(QK8).enumerate() {
            for (i, v) in xb.iter().enumerate() {
                let back = q.scales[b] * q.quants[b * QK8 + i] as f32;
                assert!((back - v).abs() <= q.scales[b] / 2.0 + 1e-6);
            }
            let sum: i32 = q.quants[b * QK8..(b + 1) * QK8]
                .iter()
                .map(|&v| v as i32)
                .sum();
            assert_eq!(q.sums[b], sum);
        }
        let k = quantize_q8k(&x);
        assert_eq!((k.scales.len(), k.sums16.len()), (2, 32));
        let zeros = quantize_q8(&[0.0; 32]);
        assert_eq!(zeros.scales, [0.0]);
    }
}
