//! Random but valid blocks of every type, for the kernel tests and benchmarks (the K-quants have
//! no quantizer here).

use half::f16;

use super::format::GgmlType;

/// A tiny deterministic generator (xorshift), so tests need no RNG crate.
struct Bytes(u64);

impl Bytes {
    fn next(&mut self) -> u8 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 24) as u8
    }
    /// An f16 scale in [0.001, 0.05) (signed when `signed`), little-endian.
    fn scale(&mut self, signed: bool) -> [u8; 2] {
        let v = 0.001 + self.next() as f32 / 256.0 * 0.049;
        let v = if signed && self.next() & 1 == 1 {
            -v
        } else {
            v
        };
        f16::from_f32(v).to_le_bytes()
    }
}

/// `blocks` random blocks of `ty`, reproducible from `seed`.
pub fn random_blocks(ty: GgmlType, blocks: usize, seed: u64) -> Vec<u8> {
    let mut r = Bytes(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let mut out = Vec::with_capacity(blocks * ty.block_bytes());
    for _ in 0..blocks {
        let mut b: Vec<u8> = (0..ty.block_bytes()).map(|_| r.next()).collect();
        match ty {
            GgmlType::F32 => b.copy_from_slice(&((r.next() as f32 - 128.0) / 64.0).to_le_bytes()),
            GgmlType::F16 | GgmlType::BF16 => {
                b.copy_from_slice(&f16::from_f32((r.next() as f32 - 128.0) / 64.0).to_le_bytes())
            }
            GgmlType::Q8_0 | GgmlType::Q4_0 => b[0..2].copy_from_slice(&r.scale(true)),
            GgmlType::Q4_1 => {
                b[0..2].copy_from_slice(&r.scale(false));
                b[2..4].copy_from_slice(&r.scale(true));
            }
            GgmlType::Q4_K | GgmlType::Q5_K => {
                b[0..2].copy_from_slice(&r.scale(false));
                b[2..4].copy_from_slice(&r.scale(false));
            }
            GgmlType::Q6_K => b[208..210].copy_from_slice(&r.scale(true)),
        }
        out.extend(b);
    }
    out
}
