//! The per-row kernels, one set per instruction set, chosen at run time.
//!
//! [`super::dot`] holds the portable dot products (plain loops over blocks, correct everywhere);
//! [`super::x86`] the AVX2 ones (`maddubs`/`madd`) and their AVX-512 VNNI variants (`dpbusd`).
//! [`Isa::detected`] picks the best the CPU has, once. Every variant computes the same integer
//! sums per block and differs from the portable one only in the order of the f32 additions
//! (tested).

use std::sync::OnceLock;

use super::activation::{Q8Blocks, Q8KBlocks};
use super::dot;
use super::format::{GgmlType, dequantize};

/// An instruction set the kernels are compiled for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Isa {
    /// The build's baseline (SSE2 on x86-64; whatever the target has elsewhere).
    Portable,
    /// x86-64 AVX2, FMA and F16C.
    Avx2,
    /// x86-64 AVX-512 (F, BW, VL) with VNNI.
    Avx512,
}

impl Isa {
    /// The best the CPU supports (checked once). `PHI3_ISA=portable|avx2|avx512` caps it, to
    /// compare kernels.
    pub fn detected() -> Self {
        static ISA: OnceLock<Isa> = OnceLock::new();
        *ISA.get_or_init(|| {
            let cap = match std::env::var("PHI3_ISA").as_deref() {
                Ok("portable") => Isa::Portable,
                Ok("avx2") => Isa::Avx2,
                _ => Isa::Avx512,
            };
            Self::supported()
                .into_iter()
                .filter(|&i| i <= cap)
                .max()
                .unwrap_or(Isa::Portable)
        })
    }

    /// Every instruction set this CPU runs, the portable one first.
    pub fn supported() -> Vec<Self> {
        let mut out = vec![Isa::Portable];
        #[cfg(target_arch = "x86_64")]
        {
            if is_x86_feature_detected!("avx2")
                && is_x86_feature_detected!("fma")
                && is_x86_feature_detected!("f16c")
            {
                out.push(Isa::Avx2);
                if is_x86_feature_detected!("avx512f")
                    && is_x86_feature_detected!("avx512bw")
                    && is_x86_feature_detected!("avx512vl")
                    && is_x86_feature_detected!("avx512vnni")
                {
                    out.push(Isa::Avx512);
                }
            }
        }
        out
    }
}

impl PartialOrd for Isa {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Isa {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (*self as u8).cmp(&(*other as u8))
    }
}

/// A row of activations in every form a kernel may need.
pub(crate) struct Activations<'a> {
    pub f32: &'a [f32],
    pub q8: Option<&'a Q8Blocks>,
    pub q8k: Option<&'a Q8KBlocks>,
}

/// `out[r] = row r of data · x` for consecutive rows of one block type.
pub(crate) fn dot_rows(
    isa: Isa,
    ty: GgmlType,
    data: &[u8],
    row_bytes: usize,
    x: &Activations,
    out: &mut [f32],
) {
    match isa {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `Isa::detected` only returns an instruction set the CPU supports.
        Isa::Avx512 => unsafe { rows_avx512(ty, data, row_bytes, x, out) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: as above.
        Isa::Avx2 => unsafe { rows_avx2(ty, data, row_bytes, x, out) },
        _ => rows(ty, data, row_bytes, x, out),
    }
}

/// [`dot_rows`] for four activation rows: `out` is `[4, rows]`. Each row gets exactly what
/// [`dot_rows`] gives it alone; types with a four-row kernel read each weight block once.
pub(crate) fn dot_rows_x4(
    isa: Isa,
    ty: GgmlType,
    data: &[u8],
    row_bytes: usize,
    x: [&Activations; 4],
    out: &mut [f32],
) {
    let rows = data.len() / row_bytes.max(1);
    #[cfg(target_arch = "x86_64")]
    if isa != Isa::Portable
        && matches!(ty, GgmlType::Q8_0 | GgmlType::Q4_0 | GgmlType::Q4_1)
        && let [Some(a), Some(b), Some(c), Some(d)] = x.map(|a| a.q8)
    {
        // SAFETY: `isa` is one the CPU supports (`Isa::detected`).
        unsafe {
            match isa {
                Isa::Avx512 => rows_x4_avx512(ty, data, row_bytes, [a, b, c, d], out),
                _ => rows_x4_avx2(ty, data, row_bytes, [a, b, c, d], out),
            }
        }
        return;
    }
    for (k, act) in x.into_iter().enumerate() {
        dot_rows(
            isa,
            ty,
            data,
            row_bytes,
            act,
            &mut out[k * rows..(k + 1) * rows],
        );
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn rows_x4_avx2(
    ty: GgmlType,
    data: &[u8],
    row_bytes: usize,
    x: [&Q8Blocks; 4],
    out: &mut [f32],
) {
    // SAFETY: the caller checked AVX2, FMA and F16C.
    unsafe { rows_x4::<false>(ty, data, row_bytes, x, out) }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
unsafe fn rows_x4_avx512(
    ty: GgmlType,
    data: &[u8],
    row_bytes: usize,
    x: [&Q8Blocks; 4],
    out: &mut [f32],
) {
    // SAFETY: the caller checked AVX-512 (F, BW, VL, VNNI), AVX2, FMA and F16C.
    unsafe { rows_x4::<true>(ty, data, row_bytes, x, out) }
}

/// Plain loops, as `rows_x86`.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn rows_x4<const VNNI: bool>(
    ty: GgmlType,
    data: &[u8],
    row_bytes: usize,
    x: [&Q8Blocks; 4],
    out: &mut [f32],
) {
    use super::x86;
    let rows = data.len() / row_bytes;
    for (r, row) in data.chunks_exact(row_bytes).enumerate() {
        // SAFETY: the caller's target features are those the kernels need.
        let v = unsafe {
            match ty {
                GgmlType::Q8_0 => x86::signed_x4::<false, false>(row, x),
                GgmlType::Q4_0 => x86::signed_x4::<true, VNNI>(row, x),
                _ => x86::q4_1_x4::<VNNI>(row, x),
            }
        };
        for (k, value) in v.into_iter().enumerate() {
            out[k * rows + r] = value;
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn rows_avx2(ty: GgmlType, data: &[u8], row_bytes: usize, x: &Activations, out: &mut [f32]) {
    // SAFETY: the caller checked AVX2, FMA and F16C.
    unsafe { rows_x86::<false>(ty, data, row_bytes, x, out) }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
unsafe fn rows_avx512(
    ty: GgmlType,
    data: &[u8],
    row_bytes: usize,
    x: &Activations,
    out: &mut [f32],
) {
    // SAFETY: the caller checked AVX-512 (F, BW, VL, VNNI), AVX2, FMA and F16C.
    unsafe { rows_x86::<true>(ty, data, row_bytes, x, out) }
}

#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn rows_x86<const VNNI: bool>(
    ty: GgmlType,
    data: &[u8],
    row_bytes: usize,
    x: &Activations,
    out: &mut [f32],
) {
    use super::x86;
    // Plain loops, no closures: a closure is a function of its own without this function's
    // target features, and the intrinsics inlined into it would become calls.
    let rows = data.chunks_exact(row_bytes).zip(out.iter_mut());
    let q8 = x.q8;
    let q8k = x.q8k;
    // SAFETY (every call): the caller's target features are those the kernels need.
    match (ty, q8, q8k) {
        (GgmlType::Q8_0, Some(x), _) => {
            // Always `maddubs`: with VNNI, the sign trick plus `dpbusd` measured 2.4× slower
            // (benches/quant.rs, Phi-3-sized rows, AMD EPYC).
            for (r, o) in rows {
                *o = unsafe { x86::signed::<false, false>(r, x) };
            }
        }
        (GgmlType::Q4_0, Some(x), _) => {
            for (r, o) in rows {
                *o = unsafe { x86::signed::<true, VNNI>(r, x) };
            }
        }
        (GgmlType::Q4_1, Some(x), _) => {
            for (r, o) in rows {
                *o = unsafe { x86::q4_1::<VNNI>(r, x) };
            }
        }
        (GgmlType::Q4_K, _, Some(x)) => {
            for (r, o) in rows {
                *o = unsafe { x86::q4_k_q5_k::<false>(r, x) };
            }
        }
        (GgmlType::Q5_K, _, Some(x)) => {
            for (r, o) in rows {
                *o = unsafe { x86::q4_k_q5_k::<true>(r, x) };
            }
        }
        (GgmlType::Q6_K, _, Some(x)) => {
            for (r, o) in rows {
                *o = unsafe { x86::q6_k(r, x) };
            }
        }
        // Float rows, or activations missing for the type (never: `matvec` prepares them).
        _ => self::rows(ty, data, row_bytes, x, out),
    }
}

#[inline(always)]
fn rows(ty: GgmlType, data: &[u8], row_bytes: usize, x: &Activations, out: &mut [f32]) {
    let rows = data.chunks_exact(row_bytes).zip(out.iter_mut());
    let q8 = || x.q8.expect("activations quantized for Q8_0-family rows");
    let q8k = || x.q8k.expect("activations quantized for K-quant rows");
    match ty {
        GgmlType::Q8_0 => rows.for_each(|(r, o)| *o = dot::q8_0(r, q8())),
        GgmlType::Q4_0 => rows.for_each(|(r, o)| *o = dot::q4_0(r, q8())),
        GgmlType::Q4_1 => rows.for_each(|(r, o)| *o = dot::q4_1(r, q8())),
        GgmlType::Q4_K => rows.for_each(|(r, o)| *o = dot::q4_k_q5_k::<false>(r, q8k())),
        GgmlType::Q5_K => rows.for_each(|(r, o)| *o = dot::q4_k_q5_k::<true>(r, q8k())),
        GgmlType::Q6_K => rows.for_each(|(r, o)| *o = dot::q6_k(r, q8k())),
        GgmlType::F32 | GgmlType::F16 | GgmlType::BF16 => {
            let mut row = Vec::with_capacity(x.f32.len());
            rows.for_each(|(r, o)| {
                row.clear();
                dequantize(ty, r, &mut row);
                *o = row.iter().zip(x.f32).map(|(a, b)| a * b).sum();
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quant::activation::{quantize_q8, quantize_q8k};
    use crate::quant::test_blocks::random_blocks;

    #[test]
    fn every_instruction_set_computes_the_portable_sums() {
        let cols = 512;
        let x: Vec<f32> = (0..cols)
            .map(|i| ((i * 7919 % 211) as f32 - 105.0) / 31.0)
            .collect();
        let (q8, q8k) = (quantize_q8(&x), quantize_q8k(&x));
        let act = Activations {
            f32: &x,
            q8: Some(&q8),
            q8k: Some(&q8k),
        };
        for ty in GgmlType::ALL {
            let rows = 9;
            let row_bytes = ty.row_bytes(cols).unwrap();
            let data = random_blocks(ty, rows * cols / ty.block_size(), 11);
            let run = |isa| {
                let mut out = vec![0f32; rows];
                dot_rows(isa, ty, &data, row_bytes, &act, &mut out);
                out
            };
            let portable = run(Isa::Portable);
            // Four rows at once give each row what it gets alone, on every instruction set.
            for isa in Isa::supported() {
                let mut four = vec![0f32; 4 * rows];
                dot_rows_x4(isa, ty, &data, row_bytes, [&act; 4], &mut four);
                let alone = run(isa);
                for k in 0..4 {
                    assert_eq!(
                        &four[k * rows..(k + 1) * rows],
                        &alone[..],
                        "{ty:?} on {isa:?}"
                    );
                }
            }
            for isa in Isa::supported() {
                for (a, b) in run(isa).iter().zip(&portable) {
                    // Same integer sums; only the order of the f32 additions differs.
                    assert!(
                        (a - b).abs() <= 1e-5 * b.abs().max(1.0),
                        "{ty:?} on {isa:?}: {a} vs {b}"
                    );
                }
            }
        }
    }
}
