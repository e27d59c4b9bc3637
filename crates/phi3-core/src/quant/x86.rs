//! AVX2 (and AVX-512 VNNI) versions of [`super::dot`]'s row dot products, with the same integer
//! sums: unsigned weight quants times signed activation quants (`maddubs`, or VNNI's `dpbusd`),
//! scaled per block in f32. Q8_0 and Q4_0 share one kernel ([`signed`]): once unpacked, a Q4_0
//! block is a block of signed bytes like Q8_0's.
//!
//! Every function is `unsafe`: the caller guarantees the CPU has AVX2, FMA and F16C (and, for
//! `VNNI = true`, AVX-512 VNNI with VL), and that `x` holds the activation blocks of the row.

#![allow(unsafe_op_in_unsafe_fn)]

use std::arch::x86_64::*;

use super::activation::{Q8Blocks, Q8KBlocks};
use super::format::{QK_K, k_scales};

#[inline(always)]
unsafe fn f16_at(b: &[u8], i: usize) -> f32 {
    let bits = u16::from_le_bytes([b[i], b[i + 1]]);
    _mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtsi32_si128(bits as i32)))
}

#[inline(always)]
unsafe fn hsum(v: __m256) -> f32 {
    let s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    _mm_cvtss_f32(_mm_add_ss(s, _mm_shuffle_ps(s, s, 1)))
}

#[inline(always)]
unsafe fn load(p: *const u8) -> __m256i {
    _mm256_loadu_si256(p as *const __m256i)
}

/// `Σ u·s` of 32 byte pairs, as 8 i32 lanes; `u` unsigned, `s` signed, `|u·s| · 2 < 2^15`.
#[inline(always)]
unsafe fn dot32<const VNNI: bool>(u: __m256i, s: __m256i) -> __m256i {
    if VNNI {
        _mm256_dpbusd_epi32(_mm256_setzero_si256(), u, s)
    } else {
        _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1))
    }
}

/// The 32 nibbles of 16 bytes, low nibbles (values 0..16) in the low half.
#[inline(always)]
unsafe fn nibbles(p: *const u8) -> __m256i {
    let qs = _mm_loadu_si128(p as *const __m128i);
    let mask = _mm_set1_epi8(0x0F);
    let lo = _mm_and_si128(qs, mask);
    let hi = _mm_and_si128(_mm_srli_epi16(qs, 4), mask);
    _mm256_set_m128i(hi, lo)
}

/// A block of 32 signed weights: Q8_0's bytes, or Q4_0's nibbles shifted to `q − 8`.
#[inline(always)]
unsafe fn signed_block<const Q4: bool>(blk: &[u8]) -> __m256i {
    if Q4 {
        _mm256_sub_epi8(nibbles(blk.as_ptr().add(2)), _mm256_set1_epi8(8))
    } else {
        load(blk.as_ptr().add(2))
    }
}

/// Q8_0 (`Q4 = false`) and Q4_0 (`Q4 = true`) weights, signed: their signs move onto the
/// activations so the weights multiply as unsigned. No scalar correction per block.
#[inline(always)]
pub(crate) unsafe fn signed<const Q4: bool, const VNNI: bool>(row: &[u8], x: &Q8Blocks) -> f32 {
    let block_bytes = if Q4 { 18 } else { 34 };
    let mut acc = _mm256_setzero_ps();
    for (b, blk) in row.chunks_exact(block_bytes).enumerate() {
        let w = signed_block::<Q4>(blk);
        let xq = load(x.quants.as_ptr().add(b * 32) as *const u8);
        let p = dot32::<VNNI>(_mm256_sign_epi8(w, w), _mm256_sign_epi8(xq, w));
        let d = _mm256_set1_ps(f16_at(blk, 0) * x.scales[b]);
        acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), d, acc);
    }
    hsum(acc)
}

/// Q4_1: `d·Σ q·x + m·Σ x`, scaled by the activations' block scale.
#[inline(always)]
pub(crate) unsafe fn q4_1<const VNNI: bool>(row: &[u8], x: &Q8Blocks) -> f32 {
    let mut acc = _mm256_setzero_ps();
    let mut offset = 0f32;
    for (b, blk) in row.chunks_exact(20).enumerate() {
        let xq = load(x.quants.as_ptr().add(b * 32) as *const u8);
        let p = dot32::<VNNI>(nibbles(blk.as_ptr().add(4)), xq);
        let dx = x.scales[b];
        let d = _mm256_set1_ps(f16_at(blk, 0) * dx);
        acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), d, acc);
        offset += f16_at(blk, 2) * dx * x.sums[b] as f32;
    }
    hsum(acc) + offset
}

/// Q4_K / Q5_K: per pair of sub-blocks, 32 bytes hold the low (even sub-block) and high (odd)
/// nibbles; each sub-block's products are weighted by its 6-bit scale in i16 (`madd`), its
/// minimum applied through the activations' sums.
#[inline(always)]
pub(crate) unsafe fn q4_k_q5_k<const FIVE: bool>(row: &[u8], x: &Q8KBlocks) -> f32 {
    let block_bytes = if FIVE { 176 } else { 144 };
    let quants = if FIVE { 48 } else { 16 };
    let mask = _mm256_set1_epi8(0x0F);
    let mut acc = _mm256_setzero_ps();
    let mut offset = 0f32;
    for (b, blk) in row.chunks_exact(block_bytes).enumerate() {
        let (scales, mins) = k_scales(&blk[4..16]);
        let dx = x.scales[b];
        let xq = x.quants.as_ptr().add(b * QK_K) as *const u8;
        let qh = if FIVE {
            load(blk.as_ptr().add(16))
        } else {
            _mm256_setzero_si256()
        };
        let mut isum = _mm256_setzero_si256();
        for pair in 0..4 {
            let bytes = load(blk.as_ptr().add(quants + 32 * pair));
            let mut lo = _mm256_and_si256(bytes, mask);
            let mut hi = _mm256_and_si256(_mm256_srli_epi16(bytes, 4), mask);
            if FIVE {
                // Bit `sub` of each qh byte is the fifth bit of sub-block `sub`.
                let fifth = |sub: usize| {
                    let bit = _mm256_set1_epi8(1 << sub);
                    let set = _mm256_cmpeq_epi8(_mm256_and_si256(qh, bit), bit);
                    _mm256_and_si256(set, _mm256_set1_epi8(0x10))
                };
                lo = _mm256_or_si256(lo, fifth(2 * pair));
                hi = _mm256_or_si256(hi, fifth(2 * pair + 1));
            }
            let p0 = _mm256_maddubs_epi16(lo, load(xq.add(64 * pair)));
            let p1 = _mm256_maddubs_epi16(hi, load(xq.add(64 * pair + 32)));
            let s0 = _mm256_set1_epi16(scales[2 * pair] as i16);
            let s1 = _mm256_set1_epi16(scales[2 * pair + 1] as i16);
            isum = _mm256_add_epi32(isum, _mm256_madd_epi16(p0, s0));
            isum = _mm256_add_epi32(isum, _mm256_madd_epi16(p1, s1));
        }
        let sums = &x.sums16[b * 16..(b + 1) * 16];
        let min: i32 = (0..8)
            .map(|j| mins[j] as i32 * (sums[2 * j] + sums[2 * j + 1]))
            .sum();
        let d = _mm256_set1_ps(f16_at(blk, 0) * dx);
        acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum), d, acc);
        offset += f16_at(blk, 2) * dx * min as f32;
    }
    hsum(acc) - offset
}

/// Q6_K: per half block, four 32-value chunks of 6-bit quants (low 4 bits from `ql`, high 2 from
/// `qh`); each chunk's two groups of 16 are weighted by their i8 scales in i16 (`madd`), the
/// offset 32 applied through the activations' sums — in integers, before the one conversion to
/// float per block, as ggml does: subtracting it as a float (two large terms) lost up to a unit
/// of the block's range where the result is small (found by fuzz/blocks).
#[inline(always)]
pub(crate) unsafe fn q6_k(row: &[u8], x: &Q8KBlocks) -> f32 {
    let low4 = _mm256_set1_epi8(0x0F);
    let low2 = _mm256_set1_epi8(0x03);
    let mut acc = 0f32;
    for (b, blk) in row.chunks_exact(210).enumerate() {
        let scales = &blk[192..208];
        let xq = x.quants.as_ptr().add(b * QK_K) as *const u8;
        let mut isum = _mm256_setzero_si256();
        for half in 0..2 {
            let ql = blk.as_ptr().add(half * 64);
            let qh = load(blk.as_ptr().add(128 + half * 32));
            for c in 0..4 {
                let low_bytes = load(ql.add((c % 2) * 32));
                // Shifts by a count in a register (`vpsrlw`, AVX2): the per-lane `srlv` forms
                // of 16-bit lanes are AVX-512.
                let low = _mm256_and_si256(
                    _mm256_srl_epi16(low_bytes, _mm_cvtsi32_si128(4 * (c / 2) as i32)),
                    low4,
                );
                let high =
                    _mm256_and_si256(_mm256_srl_epi16(qh, _mm_cvtsi32_si128(2 * c as i32)), low2);
                let q = _mm256_or_si256(low, _mm256_slli_epi16(high, 4));
                let start = half * 128 + c * 32;
                let p = _mm256_maddubs_epi16(q, load(xq.add(start)));
                let g = start / 16;
                let s = _mm256_set_m128i(
                    _mm_set1_epi16(scales[g + 1] as i8 as i16),
                    _mm_set1_epi16(scales[g] as i8 as i16),
                );
                isum = _mm256_add_epi32(isum, _mm256_madd_epi16(p, s));
            }
        }
        let sums = &x.sums16[b * 16..(b + 1) * 16];
        let shift: i32 = (0..16).map(|g| scales[g] as i8 as i32 * sums[g]).sum();
        // |isum| ≤ 256 · 63 · 127 · 128 < 2^31, |32 · shift| ≤ 2^28: exact in i32.
        let mut lanes = [0i32; 8];
        _mm256_storeu_si256(lanes.as_mut_ptr() as *mut __m256i, isum);
        let total = lanes.iter().sum::<i32>() - 32 * shift;
        acc += f16_at(blk, 208) * x.scales[b] * total as f32;
    }
    acc
}

/// [`signed`] for four activation rows at once: each weight block is loaded (unpacked) and made
/// unsigned once. Per row, the same operations in the same order as [`signed`], so the same
/// result.
#[inline(always)]
pub(crate) unsafe fn signed_x4<const Q4: bool, const VNNI: bool>(
    row: &[u8],
    x: [&Q8Blocks; 4],
) -> [f32; 4] {
    let block_bytes = if Q4 { 18 } else { 34 };
    let mut acc = [_mm256_setzero_ps(); 4];
    for (b, blk) in row.chunks_exact(block_bytes).enumerate() {
        let w = signed_block::<Q4>(blk);
        let aw = _mm256_sign_epi8(w, w);
        let dw = f16_at(blk, 0);
        for k in 0..4 {
            let xq = load(x[k].quants.as_ptr().add(b * 32) as *const u8);
            let p = dot32::<VNNI>(aw, _mm256_sign_epi8(xq, w));
            let d = _mm256_set1_ps(dw * x[k].scales[b]);
            acc[k] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), d, acc[k]);
        }
    }
    // Written out: a closure (`map`) would be a function without these target features.
    [hsum(acc[0]), hsum(acc[1]), hsum(acc[2]), hsum(acc[3])]
}

/// [`q4_1`] for four activation rows at once (nibbles unpacked once per block).
#[inline(always)]
pub(crate) unsafe fn q4_1_x4<const VNNI: bool>(row: &[u8], x: [&Q8Blocks; 4]) -> [f32; 4] {
    let mut acc = [_mm256_setzero_ps(); 4];
    let mut offset = [0f32; 4];
    for (b, blk) in row.chunks_exact(20).enumerate() {
        let w = nibbles(blk.as_ptr().add(4));
        let (dw, mw) = (f16_at(blk, 0), f16_at(blk, 2));
        for k in 0..4 {
            let xq = load(x[k].quants.as_ptr().add(b * 32) as *const u8);
            let p = dot32::<VNNI>(w, xq);
            let dx = x[k].scales[b];
            let d = _mm256_set1_ps(dw * dx);
            acc[k] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), d, acc[k]);
            offset[k] += mw * dx * x[k].sums[b] as f32;
        }
    }
    [
        hsum(acc[0]) + offset[0],
        hsum(acc[1]) + offset[1],
        hsum(acc[2]) + offset[2],
        hsum(acc[3]) + offset[3],
    ]
}
