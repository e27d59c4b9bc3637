//! GGML's tensor types and their dequantisation to f32, block by block.
//!
//! Block layouts are ggml's (`ggml-common.h`); [`dequantize`] is checked against the Python
//! `gguf` package's `dequantize` on real blocks (`tests/fixtures/gguf/dequant.json`, made by
//! `tools/reference/make_dequant_fixture.py`), and every kernel of this module against it.

use half::{bf16, f16};

/// The GGML tensor types phi3 reads and computes with (ggml's own names).
#[allow(non_camel_case_types)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GgmlType {
    /// 32-bit float.
    F32,
    /// IEEE half.
    F16,
    /// bfloat16.
    BF16,
    /// 32 values: f16 scale, 32 × i8.
    Q8_0,
    /// 32 values: f16 scale, 32 × 4-bit (offset 8).
    Q4_0,
    /// 32 values: f16 scale, f16 minimum, 32 × 4-bit.
    Q4_1,
    /// 256 values in 8 sub-blocks with 6-bit scales and minimums, 4-bit quants.
    Q4_K,
    /// As Q4_K with a fifth bit per quant.
    Q5_K,
    /// 256 values in 16 sub-blocks with i8 scales, 6-bit quants.
    Q6_K,
}

/// Values per block of the K-quants.
pub const QK_K: usize = 256;

impl GgmlType {
    /// Every type, floats first.
    pub const ALL: [GgmlType; 9] = [
        Self::F32,
        Self::F16,
        Self::BF16,
        Self::Q8_0,
        Self::Q4_0,
        Self::Q4_1,
        Self::Q4_K,
        Self::Q5_K,
        Self::Q6_K,
    ];

    /// ggml's numeric id.
    pub fn id(self) -> u32 {
        match self {
            Self::F32 => 0,
            Self::F16 => 1,
            Self::Q4_0 => 2,
            Self::Q4_1 => 3,
            Self::Q8_0 => 8,
            Self::Q4_K => 12,
            Self::Q5_K => 13,
            Self::Q6_K => 14,
            Self::BF16 => 30,
        }
    }

    /// ggml's name (`Q4_K`, `F16`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Self::F32 => "F32",
            Self::F16 => "F16",
            Self::BF16 => "BF16",
            Self::Q8_0 => "Q8_0",
            Self::Q4_0 => "Q4_0",
            Self::Q4_1 => "Q4_1",
            Self::Q4_K => "Q4_K",
            Self::Q5_K => "Q5_K",
            Self::Q6_K => "Q6_K",
        }
    }

    /// Whether values are stored in quantized blocks (not as plain floats).
    pub fn is_quantized(self) -> bool {
        !matches!(self, Self::F32 | Self::F16 | Self::BF16)
    }

    /// Bytes of one row of `cols` values, or `None` when `cols` is not whole blocks.
    pub fn row_bytes(self, cols: usize) -> Option<usize> {
        cols.is_multiple_of(self.block_size())
            .then(|| cols / self.block_size() * self.block_bytes())
    }

    /// The type with ggml's numeric id, if supported.
    pub fn from_id(id: u32) -> Option<Self> {
        Some(match id {
            0 => Self::F32,
            1 => Self::F16,
            2 => Self::Q4_0,
            3 => Self::Q4_1,
            8 => Self::Q8_0,
            12 => Self::Q4_K,
            13 => Self::Q5_K,
            14 => Self::Q6_K,
            30 => Self::BF16,
            _ => return None,
        })
    }

    /// Values per block.
    pub fn block_size(self) -> usize {
        match self {
            Self::F32 | Self::F16 | Self::BF16 => 1,
            Self::Q8_0 | Self::Q4_0 | Self::Q4_1 => 32,
            Self::Q4_K | Self::Q5_K | Self::Q6_K => QK_K,
        }
    }

    /// Bytes per block.
    pub fn block_bytes(self) -> usize {
        match self {
            Self::F32 => 4,
            Self::F16 | Self::BF16 => 2,
            Self::Q8_0 => 2 + 32,
            Self::Q4_0 => 2 + 16,
            Self::Q4_1 => 2 + 2 + 16,
            Self::Q4_K => 2 + 2 + 12 + QK_K / 2,
            Self::Q5_K => 2 + 2 + 12 + QK_K / 8 + QK_K / 2,
            Self::Q6_K => QK_K / 2 + QK_K / 4 + QK_K / 16 + 2,
        }
    }
}

/// Dequantizes Q8_0, Q4_0 or Q4_1 blocks into `out` (32 values per block), with AVX2 where the
/// CPU has it: the same arithmetic either way (no fused multiply-adds), so the same values.
fn blocks32(ty: GgmlType, data: &[u8], out: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("f16c") {
        #[target_feature(enable = "avx2,f16c")]
        fn wide(ty: GgmlType, data: &[u8], out: &mut [f32]) {
            blocks32_body(ty, data, out)
        }
        // SAFETY: both features were detected.
        return unsafe { wide(ty, data, out) };
    }
    blocks32_body(ty, data, out)
}

#[inline(always)]
fn blocks32_body(ty: GgmlType, data: &[u8], out: &mut [f32]) {
    let blocks = data.chunks_exact(ty.block_bytes());
    for (b, o) in blocks.zip(out.chunks_exact_mut(32)) {
        let o: &mut [f32; 32] = o.try_into().expect("chunks of 32");
        match ty {
            GgmlType::Q8_0 => {
                let (d, q): (f32, &[u8; 32]) = (f16_at(b, 0), b[2..34].try_into().expect("34"));
                for j in 0..32 {
                    o[j] = q[j] as i8 as f32 * d;
                }
            }
            GgmlType::Q4_0 => {
                // Low nibbles are values 0..16, high nibbles 16..32.
                let (d, q): (f32, &[u8; 16]) = (f16_at(b, 0), b[2..18].try_into().expect("18"));
                for j in 0..16 {
                    o[j] = ((q[j] & 0x0F) as i32 - 8) as f32 * d;
                    o[j + 16] = ((q[j] >> 4) as i32 - 8) as f32 * d;
                }
            }
            _ => {
                let (d, m) = (f16_at(b, 0), f16_at(b, 2));
                let q: &[u8; 16] = b[4..20].try_into().expect("20");
                for j in 0..16 {
                    o[j] = (q[j] & 0x0F) as f32 * d + m;
                    o[j + 16] = (q[j] >> 4) as f32 * d + m;
                }
            }
        }
    }
}

pub(crate) fn f16_at(b: &[u8], i: usize) -> f32 {
    f16::from_le_bytes([b[i], b[i + 1]]).to_f32()
}

/// Dequantises `data` (whole blocks of `ty`) into `out`, which receives
/// `data.len() / block_bytes * block_size` values.
pub fn dequantize(ty: GgmlType, data: &[u8], out: &mut Vec<f32>) {
    let blocks = data.chunks_exact(ty.block_bytes());
    match ty {
        GgmlType::F32 => out.extend(blocks.map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))),
        GgmlType::F16 => out.extend(blocks.map(|b| f16_at(b, 0))),
        GgmlType::BF16 => out.extend(blocks.map(|b| bf16::from_le_bytes([b[0], b[1]]).to_f32())),
        // The 32-value types write into room made first, by loops the compiler vectorizes (a
        // prefill dequantizes every weight once per product).
        GgmlType::Q8_0 | GgmlType::Q4_0 | GgmlType::Q4_1 => {
            let start = out.len();
            out.resize(start + data.len() / ty.block_bytes() * 32, 0.0);
            blocks32(ty, data, &mut out[start..]);
        }
        GgmlType::Q4_K | GgmlType::Q5_K => blocks.for_each(|b| {
            let (d, dmin) = (f16_at(b, 0), f16_at(b, 2));
            let (scales, mins) = k_scales(&b[4..16]);
            let (qh, qs) = if ty == GgmlType::Q5_K {
                (Some(&b[16..48]), &b[48..176])
            } else {
                (None, &b[16..144])
            };
            for sub in 0..8 {
                // Sub-blocks pair up on 32 bytes of quants: even ones take the low nibbles.
                let bytes = &qs[(sub / 2) * 32..(sub / 2) * 32 + 32];
                let shift = 4 * (sub % 2);
                let (scale, min) = (d * scales[sub] as f32, dmin * mins[sub] as f32);
                for l in 0..32 {
                    let mut q = (bytes[l] >> shift) & 0x0F;
                    if let Some(qh) = qh {
                        q |= ((qh[l] >> sub) & 1) << 4;
                    }
                    out.push(scale * q as f32 - min);
                }
            }
        }),
        GgmlType::Q6_K => blocks.for_each(|b| {
            let (ql, qh) = (&b[0..128], &b[128..192]);
            let scales = &b[192..208];
            let d = f16_at(b, 208);
            for half in 0..2 {
                let (ql, qh) = (
                    &ql[half * 64..half * 64 + 64],
                    &qh[half * 32..half * 32 + 32],
                );
                for r in 0..128 {
                    // Low 4 bits: 64 bytes, low nibbles then high nibbles.
                    let low = (ql[r % 64] >> (4 * (r / 64))) & 0x0F;
                    // High 2 bits: 32 bytes, four 2-bit fields each.
                    let high = (qh[r % 32] >> (2 * (r / 32))) & 0x03;
                    let q = (low | (high << 4)) as i32 - 32;
                    let e = half * 128 + r;
                    out.push(d * scales[e / 16] as i8 as f32 * q as f32);
                }
            }
        }),
    }
}

/// `values` (whole blocks) quantized to `ty`'s blocks: Q8_0, Q4_0 and Q4_1 (round to nearest,
/// scales from each block's range, as ggml's reference quantizers), or the float types. `None`
/// for the K-quants, which phi3 reads but does not write.
pub fn quantize(ty: GgmlType, values: &[f32]) -> Option<Vec<u8>> {
    let blocks = values.chunks_exact(ty.block_size());
    let mut out = Vec::with_capacity(values.len() / ty.block_size() * ty.block_bytes());
    let f16_bytes = |v: f32| f16::from_f32(v).to_le_bytes();
    match ty {
        GgmlType::F32 => blocks.for_each(|b| out.extend(b[0].to_le_bytes())),
        GgmlType::F16 => blocks.for_each(|b| out.extend(f16_bytes(b[0]))),
        GgmlType::BF16 => blocks.for_each(|b| out.extend(bf16::from_f32(b[0]).to_le_bytes())),
        GgmlType::Q8_0 => blocks.for_each(|b| {
            let amax = b.iter().fold(0f32, |m, v| m.max(v.abs()));
            let d = amax / 127.0;
            let inv = if d > 0.0 { 1.0 / d } else { 0.0 };
            out.extend(f16_bytes(d));
            out.extend(b.iter().map(|v| (v * inv).round() as i8 as u8));
        }),
        GgmlType::Q4_0 => blocks.for_each(|b| {
            // The value of largest magnitude maps to −8, so the range [−8, 7] is used fully.
            let max = b
                .iter()
                .fold(0f32, |m, &v| if v.abs() > m.abs() { v } else { m });
            let d = max / -8.0;
            let inv = if d != 0.0 { 1.0 / d } else { 0.0 };
            let q = |v: f32| ((v * inv + 8.5) as i32).clamp(0, 15) as u8;
            out.extend(f16_bytes(d));
            out.extend((0..16).map(|i| q(b[i]) | (q(b[i + 16]) << 4)));
        }),
        GgmlType::Q4_1 => blocks.for_each(|b| {
            let (min, max) = b
                .iter()
                .fold((f32::MAX, f32::MIN), |(lo, hi), &v| (lo.min(v), hi.max(v)));
            let d = (max - min) / 15.0;
            let inv = if d > 0.0 { 1.0 / d } else { 0.0 };
            let q = |v: f32| (((v - min) * inv + 0.5) as i32).clamp(0, 15) as u8;
            out.extend(f16_bytes(d));
            out.extend(f16_bytes(min));
            out.extend((0..16).map(|i| q(b[i]) | (q(b[i + 16]) << 4)));
        }),
        GgmlType::Q4_K | GgmlType::Q5_K | GgmlType::Q6_K => return None,
    }
    Some(out)
}

/// The eight 6-bit scales and minimums of a Q4_K / Q5_K block, packed in 12 bytes.
pub(crate) fn k_scales(s: &[u8]) -> ([u8; 8], [u8; 8]) {
    let mut scales = [0u8; 8];
    let mut mins = [0u8; 8];
    for j in 0..4 {
        scales[j] = s[j] & 0x3F;
        mins[j] = s[j + 4] & 0x3F;
        scales[j + 4] = (s[j + 8] & 0x0F) | ((s[j] >> 2) & 0x30);
        mins[j + 4] = (s[j + 8] >> 4) | ((s[j + 4] >> 2) & 0x30);
    }
    (scales, mins)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The vectorized dequantization gives exactly the portable loop's values, and those are
    /// each block's `d · q (+ m)` read off the bytes one by one.
    #[test]
    fn dequantized_blocks_equal_the_portable_loop_and_the_format() {
        for ty in [GgmlType::Q8_0, GgmlType::Q4_0, GgmlType::Q4_1] {
            let data = crate::quant::random_blocks(ty, 37, 5);
            let mut fast = vec![];
            dequantize(ty, &data, &mut fast);
            let mut portable = vec![0f32; 37 * 32];
            blocks32_body(ty, &data, &mut portable);
            assert_eq!(fast, portable, "{ty:?}");
            let bb = ty.block_bytes();
            for (i, v) in fast.iter().enumerate() {
                let b = &data[i / 32 * bb..(i / 32 + 1) * bb];
                let (j, d) = (i % 32, f16_at(b, 0));
                let expected = match ty {
                    GgmlType::Q8_0 => b[2 + j] as i8 as f32 * d,
                    GgmlType::Q4_0 => ((b[2 + j % 16] >> (4 * (j / 16))) & 15) as f32 * d - 8.0 * d,
                    _ => ((b[4 + j % 16] >> (4 * (j / 16))) & 15) as f32 * d + f16_at(b, 2),
                };
                assert!(
                    (v - expected).abs() <= 1e-6 * expected.abs().max(1.0),
                    "{ty:?} {i}"
                );
            }
        }
    }

    #[test]
    fn quantize_then_dequantize_stays_within_half_a_step() {
        let values: Vec<f32> = (0..256)
            .map(|i| ((i * 7919 % 257) as f32 - 128.0) / 37.0)
            .collect();
        for (ty, steps) in [
            (GgmlType::Q8_0, 127.0),
            (GgmlType::Q4_0, 8.0),
            (GgmlType::Q4_1, 15.0),
        ] {
            let blocks = quantize(ty, &values).unwrap();
            assert_eq!(blocks.len(), ty.row_bytes(256).unwrap());
            let mut back = vec![];
            dequantize(ty, &blocks, &mut back);
            for (b, (xs, ys)) in values.chunks(32).zip(back.chunks(32)).enumerate() {
                let amax = xs.iter().fold(0f32, |m, v| m.max(v.abs()));
                let range = xs.iter().fold(f32::MIN, |m, &v| m.max(v))
                    - xs.iter().fold(f32::MAX, |m, &v| m.min(v));
                let step = if ty == GgmlType::Q4_1 {
                    range / steps
                } else {
                    amax / steps
                };
                // Q4_0's range is [−8, 7] steps: the extreme of the other sign clips by a step.
                let bound = if ty == GgmlType::Q4_0 {
                    step
                } else {
                    step / 2.0
                };
                for (x, y) in xs.iter().zip(ys) {
                    // f16 scales add a relative error of 2^-11 on top.
                    assert!(
                        (x - y).abs() <= bound + amax * 1e-3,
                        "{ty:?} block {b}: {x} → {y}"
                    );
                }
            }
        }
        assert!(quantize(GgmlType::Q4_K, &values).is_none());
    }
}
