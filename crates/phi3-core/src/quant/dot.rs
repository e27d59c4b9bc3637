//! Dot products of one quantized weight row with 8-bit activations, one function per block type.
//!
//! Written as plain loops over whole blocks (32 or 256 values, integer products summed in i32)
//! so that the compiler vectorises them; [`super::kernels`] compiles them once per instruction
//! set (portable, AVX2, AVX-512) and picks one at run time. Each is checked against dequantising
//! the row and multiplying in f64 (`super::matrix` tests), within the activation-quantisation
//! bound of [`super::activation`].

use super::activation::{Q8Blocks, Q8KBlocks};
use super::format::{QK_K, f16_at, k_scales};

/// `Σ a·b` over 32 values, in integers.
#[inline(always)]
fn idot32(a: &[i8; 32], b: &[i8]) -> i32 {
    let mut s = 0i32;
    for i in 0..32 {
        s += a[i] as i32 * b[i] as i32;
    }
    s
}

/// Q8_0: `d (f16) | 32 × i8`.
#[inline(always)]
pub(crate) fn q8_0(row: &[u8], x: &Q8Blocks) -> f32 {
    let mut acc = 0f32;
    for (b, blk) in row.chunks_exact(34).enumerate() {
        let mut w = [0i8; 32];
        for (v, &q) in w.iter_mut().zip(&blk[2..34]) {
            *v = q as i8;
        }
        let s = idot32(&w, &x.quants[b * 32..b * 32 + 32]);
        acc += f16_at(blk, 0) * x.scales[b] * s as f32;
    }
    acc
}

/// Q4_0: `d (f16) | 16 bytes`, low nibbles are values 0..16, high nibbles 16..32, offset 8.
#[inline(always)]
pub(crate) fn q4_0(row: &[u8], x: &Q8Blocks) -> f32 {
    let mut acc = 0f32;
    for (b, blk) in row.chunks_exact(18).enumerate() {
        let w = nibbles(&blk[2..18]);
        // Σ (q − 8)·x = Σ q·x − 8 Σ x.
        let s = idot32(&w, &x.quants[b * 32..b * 32 + 32]) - 8 * x.sums[b];
        acc += f16_at(blk, 0) * x.scales[b] * s as f32;
    }
    acc
}

/// Q4_1: `d (f16) | m (f16) | 16 bytes`, value `d·q + m`.
#[inline(always)]
pub(crate) fn q4_1(row: &[u8], x: &Q8Blocks) -> f32 {
    let mut acc = 0f32;
    for (b, blk) in row.chunks_exact(20).enumerate() {
        let w = nibbles(&blk[4..20]);
        let s = idot32(&w, &x.quants[b * 32..b * 32 + 32]);
        let (d, m) = (f16_at(blk, 0), f16_at(blk, 2));
        acc += x.scales[b] * (d * s as f32 + m * x.sums[b] as f32);
    }
    acc
}

/// The 32 unsigned 4-bit values of 16 bytes: low nibbles first.
#[inline(always)]
fn nibbles(qs: &[u8]) -> [i8; 32] {
    let mut w = [0i8; 32];
    for i in 0..16 {
        w[i] = (qs[i] & 0x0F) as i8;
        w[i + 16] = (qs[i] >> 4) as i8;
    }
    w
}

/// Q4_K and Q5_K: `d | dmin | 12 bytes of 6-bit scales and minimums | (32 bytes of fifth bits) |
/// 128 bytes of nibbles`; sub-block `j` of 32 is `d·sc_j·q − dmin·m_j`.
#[inline(always)]
pub(crate) fn q4_k_q5_k<const FIVE: bool>(row: &[u8], x: &Q8KBlocks) -> f32 {
    let block_bytes = if FIVE { 176 } else { 144 };
    let mut acc = 0f32;
    for (b, blk) in row.chunks_exact(block_bytes).enumerate() {
        let (d, dmin) = (f16_at(blk, 0), f16_at(blk, 2));
        let (scales, mins) = k_scales(&blk[4..16]);
        let (qh, qs) = if FIVE {
            (&blk[16..48], &blk[48..176])
        } else {
            (&blk[0..0], &blk[16..144])
        };
        let xq = &x.quants[b * QK_K..(b + 1) * QK_K];
        let sums = &x.sums16[b * 16..(b + 1) * 16];
        let (mut dot, mut min) = (0i32, 0i32);
        for sub in 0..8 {
            // Sub-blocks pair up on 32 bytes of quants: even ones take the low nibbles.
            let bytes = &qs[(sub / 2) * 32..(sub / 2) * 32 + 32];
            let shift = 4 * (sub % 2);
            let mut w = [0i8; 32];
            for l in 0..32 {
                let mut q = (bytes[l] >> shift) & 0x0F;
                if FIVE {
                    q |= ((qh[l] >> sub) & 1) << 4;
                }
                w[l] = q as i8;
            }
            dot += scales[sub] as i32 * idot32(&w, &xq[sub * 32..sub * 32 + 32]);
            min += mins[sub] as i32 * (sums[2 * sub] + sums[2 * sub + 1]);
        }
        acc += x.scales[b] * (d * dot as f32 - dmin * min as f32);
    }
    acc
}

/// Q6_K: `128 bytes of low nibbles | 64 bytes of high 2-bit pairs | 16 × i8 scales | d`; group
/// `g` of 16 is `d·sc_g·(q − 32)`.
#[inline(always)]
pub(crate) fn q6_k(row: &[u8], x: &Q8KBlocks) -> f32 {
    let mut acc = 0f32;
    for (b, blk) in row.chunks_exact(210).enumerate() {
        let (ql, qh, scales) = (&blk[0..128], &blk[128..192], &blk[192..208]);
        let xq = &x.quants[b * QK_K..(b + 1) * QK_K];
        let sums = &x.sums16[b * 16..(b + 1) * 16];
        let mut dot = 0i32;
        for half in 0..2 {
            let (ql, qh) = (
                &ql[half * 64..half * 64 + 64],
                &qh[half * 32..half * 32 + 32],
            );
            for c in 0..4 {
                // Values r = 32c + l of this half: the low 4 bits from byte r % 64 (low nibbles
                // for r < 64), the high 2 bits from byte r % 32, field r / 32.
                let low = &ql[(c % 2) * 32..(c % 2) * 32 + 32];
                let mut w = [0i8; 32];
                for l in 0..32 {
                    let lo = (low[l] >> (4 * (c / 2))) & 0x0F;
                    let hi = (qh[l] >> (2 * c)) & 0x03;
                    w[l] = (lo | (hi << 4)) as i8;
                }
                let start = half * 128 + c * 32;
                let xs = &xq[start..start + 32];
                for g in 0..2 {
                    let mut s = 0i32;
                    for l in 0..16 {
                        s += w[g * 16 + l] as i32 * xs[g * 16 + l] as i32;
                    }
                    let group = start / 16 + g;
                    // (q − 32)·x summed: Σ q·x − 32 Σ x.
                    dot += scales[group] as i8 as i32 * (s - 32 * sums[group]);
                }
            }
        }
        acc += f16_at(blk, 208) * x.scales[b] * dot as f32;
    }
    acc
}
