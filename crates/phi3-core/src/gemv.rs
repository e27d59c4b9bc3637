//! One-row products (a decode step) with 16-bit weights, on Flex's raw slices: every weight is
//! widened to f32 as it is read and every sum is kept in f32, output columns split across
//! rayon's threads. Flex's own f16 product takes gemm's axpy form, which accumulates in f16, and
//! its bf16 product converts both whole tensors to f32 on every call.

use rayon::prelude::*;

/// `x · W` for `W` `[inp, out]` of f16 (or bf16 when `bf16`) bits at `offset` with strides
/// `(s0, s1)`: row-major (`s1 = 1`, summed as weighted rows) or the transposed view of a
/// row-major `[out, inp]` (`s0 = 1`, a tied `lm_head`: one dot product per output). `None` for
/// any other layout.
///
/// # Shapes
/// - x: `[inp]` → `[out]`
pub(crate) fn half_gemv(
    x: &[f32],
    w: &[u16],
    (offset, s0, s1): (usize, usize, usize),
    out: usize,
    bf16: bool,
) -> Option<Vec<f32>> {
    let inp = x.len();
    let threads = rayon::current_num_threads();
    let chunk = out.div_ceil(threads).next_multiple_of(16).max(16);
    let mut y = vec![0f32; out];
    if s1 == 1 {
        let last = offset + (inp.checked_sub(1)? * s0) + out;
        if last > w.len() {
            return None;
        }
        y.par_chunks_mut(chunk).enumerate().for_each(|(c, acc)| {
            let lo = c * chunk;
            for (i, &xi) in x.iter().enumerate() {
                let row = &w[offset + i * s0 + lo..offset + i * s0 + lo + acc.len()];
                kernels::axpy(acc, row, xi, bf16);
            }
        });
    } else if s0 == 1 {
        let last = offset + (out.checked_sub(1)? * s1) + inp;
        if last > w.len() {
            return None;
        }
        y.par_chunks_mut(chunk).enumerate().for_each(|(c, ys)| {
            for (k, yj) in ys.iter_mut().enumerate() {
                let j = c * chunk + k;
                *yj = kernels::dot(x, &w[offset + j * s1..offset + j * s1 + inp], bf16);
            }
        });
    } else {
        return None;
    }
    Some(y)
}

mod kernels {
    use half::{bf16, f16};

    fn widen(bits: u16, bf16: bool) -> f32 {
        match bf16 {
            true => bf16::from_bits(bits).to_f32(),
            false => f16::from_bits(bits).to_f32(),
        }
    }

    /// `acc += xi · row`.
    pub(super) fn axpy(acc: &mut [f32], row: &[u16], xi: f32, bf16: bool) {
        #[cfg(target_arch = "x86_64")]
        if avx2() {
            // SAFETY: AVX2, FMA and F16C were detected.
            unsafe { x86::axpy(acc, row, xi, bf16) };
            return;
        }
        for (a, &w) in acc.iter_mut().zip(row) {
            *a += xi * widen(w, bf16);
        }
    }

    /// `Σ x · row`.
    pub(super) fn dot(x: &[f32], row: &[u16], bf16: bool) -> f32 {
        #[cfg(target_arch = "x86_64")]
        if avx2() {
            // SAFETY: AVX2, FMA and F16C were detected.
            return unsafe { x86::dot(x, row, bf16) };
        }
        x.iter().zip(row).map(|(a, &w)| a * widen(w, bf16)).sum()
    }

    #[cfg(target_arch = "x86_64")]
    fn avx2() -> bool {
        static DETECTED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
        *DETECTED.get_or_init(|| {
            is_x86_feature_detected!("avx2")
                && is_x86_feature_detected!("fma")
                && is_x86_feature_detected!("f16c")
        })
    }

    #[cfg(target_arch = "x86_64")]
    mod x86 {
        use std::arch::x86_64::*;

        use super::widen;

        /// Eight 16-bit values widened to f32: F16C for f16, a 16-bit shift for bf16.
        #[inline(always)]
        unsafe fn load8(p: *const u16, bf16: bool) -> __m256 {
            // SAFETY: the caller has eight values at `p` and AVX2 + F16C.
            unsafe {
                let bits = _mm_loadu_si128(p as *const __m128i);
                match bf16 {
                    true => _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(bits), 16)),
                    false => _mm256_cvtph_ps(bits),
                }
            }
        }

        #[target_feature(enable = "avx2,fma,f16c")]
        pub(super) unsafe fn axpy(acc: &mut [f32], row: &[u16], xi: f32, bf16: bool) {
            let n = acc.len().min(row.len());
            let x = _mm256_set1_ps(xi);
            let mut k = 0;
            while k + 8 <= n {
                // SAFETY: k + 8 ≤ n, within both slices.
                unsafe {
                    let a = _mm256_loadu_ps(acc.as_ptr().add(k));
                    let w = load8(row.as_ptr().add(k), bf16);
                    _mm256_storeu_ps(acc.as_mut_ptr().add(k), _mm256_fmadd_ps(w, x, a));
                }
                k += 8;
            }
            for j in k..n {
                acc[j] += xi * widen(row[j], bf16);
            }
        }

        #[target_feature(enable = "avx2,fma,f16c")]
        pub(super) unsafe fn dot(x: &[f32], row: &[u16], bf16: bool) -> f32 {
            let n = x.len().min(row.len());
            let (mut s0, mut s1) = (_mm256_setzero_ps(), _mm256_setzero_ps());
            let mut k = 0;
            while k + 16 <= n {
                // SAFETY: k + 16 ≤ n, within both slices.
                unsafe {
                    let w0 = load8(row.as_ptr().add(k), bf16);
                    let w1 = load8(row.as_ptr().add(k + 8), bf16);
                    s0 = _mm256_fmadd_ps(_mm256_loadu_ps(x.as_ptr().add(k)), w0, s0);
                    s1 = _mm256_fmadd_ps(_mm256_loadu_ps(x.as_ptr().add(k + 8)), w1, s1);
                }
                k += 16;
            }
            let s = _mm256_add_ps(s0, s1);
            let h = _mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps(s, 1));
            let h = _mm_add_ps(h, _mm_movehl_ps(h, h));
            let mut total = _mm_cvtss_f32(_mm_add_ss(h, _mm_shuffle_ps(h, h, 1)));
            for j in k..n {
                total += x[j] * widen(row[j], bf16);
            }
            total
        }
    }
}
