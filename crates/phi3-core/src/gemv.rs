//! One-row products (a decode step) with float weights, on Flex's raw slices: every weight is
//! widened to f32 as it is read (f16 by F16C, bf16 by a 16-bit shift) and every sum is kept in
//! f32, output columns split over the threads. Flex's own one-row product runs on one core (its
//! gemm takes a gemv path that ignores rayon), accumulates f16 in f16, and converts bf16 tensors
//! whole on every call.

use crate::quant::{SharedOut, split};

/// A weight element type: how one value and eight values widen to f32.
pub(crate) trait Wide: Sync {
    /// The stored element.
    type Elem: Copy + Sync;
    /// One value as f32.
    fn widen(e: Self::Elem) -> f32;
    /// The values themselves when they are f32 already.
    fn as_f32(values: &[Self::Elem]) -> Option<&[f32]> {
        let _ = values;
        None
    }
    /// Eight values as f32.
    ///
    /// # Safety
    /// Eight elements at `p`; AVX2 (and F16C) available.
    #[cfg(target_arch = "x86_64")]
    unsafe fn load8(p: *const Self::Elem) -> std::arch::x86_64::__m256;
}

/// f32 weights.
pub(crate) struct F32;
/// f16 weights (their bits).
pub(crate) struct F16;
/// bf16 weights (their bits).
pub(crate) struct Bf16;

impl Wide for F32 {
    type Elem = f32;
    fn widen(e: f32) -> f32 {
        e
    }
    fn as_f32(values: &[f32]) -> Option<&[f32]> {
        Some(values)
    }
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn load8(p: *const f32) -> std::arch::x86_64::__m256 {
        // SAFETY: as the caller promises.
        unsafe { std::arch::x86_64::_mm256_loadu_ps(p) }
    }
}

impl Wide for F16 {
    type Elem = u16;
    fn widen(e: u16) -> f32 {
        half::f16::from_bits(e).to_f32()
    }
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn load8(p: *const u16) -> std::arch::x86_64::__m256 {
        use std::arch::x86_64::*;
        // SAFETY: as the caller promises.
        unsafe { _mm256_cvtph_ps(_mm_loadu_si128(p as *const __m128i)) }
    }
}

impl Wide for Bf16 {
    type Elem = u16;
    fn widen(e: u16) -> f32 {
        half::bf16::from_bits(e).to_f32()
    }
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn load8(p: *const u16) -> std::arch::x86_64::__m256 {
        use std::arch::x86_64::*;
        // SAFETY: as the caller promises.
        unsafe {
            let bits = _mm256_cvtepu16_epi32(_mm_loadu_si128(p as *const __m128i));
            _mm256_castsi256_ps(_mm256_slli_epi32(bits, 16))
        }
    }
}

/// `x · W` for `W` `[inp, out]` held in `w` at `offset` with strides `(s0, s1)`: row-major
/// (`s1 = 1`, summed as weighted rows, four at a time) or the transposed view of a row-major
/// `[out, inp]` (`s0 = 1`, a tied `lm_head`: one dot product per output). `None` for any other
/// layout.
///
/// # Shapes
/// - x: `[inp]` → `[out]`
pub(crate) fn gemv<W: Wide>(
    x: &[f32],
    w: &[W::Elem],
    (offset, s0, s1): (usize, usize, usize),
    out: usize,
) -> Option<Vec<f32>> {
    let inp = x.len();
    // Small weights on one thread: splitting them costs more than it saves.
    let threads = match inp * out < SERIAL_MAX {
        true => 1,
        false => rayon::current_num_threads(),
    };
    let mut y = vec![0f32; out];
    let row_major = match (s0, s1) {
        (_, 1) if offset + inp.checked_sub(1)? * s0 + out <= w.len() => true,
        (1, _) if offset + out.checked_sub(1)? * s1 + inp <= w.len() => false,
        _ => return None,
    };
    if row_major {
        // Each thread streams one contiguous block of rows into its own partial sums (the
        // memory order: one sequential read per thread), then the partials are added.
        let per = inp.div_ceil(threads).next_multiple_of(4);
        let tasks = inp.div_ceil(per);
        let mut partials = vec![0f32; out * tasks.saturating_sub(1)];
        let (ys, ps) = (SharedOut(y.as_mut_ptr()), SharedOut(partials.as_mut_ptr()));
        split(tasks, &|t| {
            // SAFETY: task 0 owns `y`, task t > 0 the t-th `out` values of `partials`.
            let acc = unsafe {
                match t {
                    0 => ys.slice(0, out),
                    _ => ps.slice((t - 1) * out, out),
                }
            };
            let row = |i: usize| &w[offset + i * s0..offset + i * s0 + out];
            let (lo, hi) = (t * per, ((t + 1) * per).min(inp));
            // Four input rows per pass over the accumulators: one load and store of them per
            // four weight rows.
            let mut i = lo;
            while i + 4 <= hi {
                let rows = [row(i), row(i + 1), row(i + 2), row(i + 3)];
                kernels::axpy4::<W>(acc, rows, [x[i], x[i + 1], x[i + 2], x[i + 3]]);
                i += 4;
            }
            for (i, &xi) in x.iter().enumerate().take(hi).skip(i) {
                kernels::axpy4::<W>(acc, [row(i); 4], [xi, 0.0, 0.0, 0.0]);
            }
        });
        for partial in partials.chunks_exact(out) {
            y.iter_mut().zip(partial).for_each(|(y, p)| *y += p);
        }
        return Some(y);
    }
    let chunk = out.div_ceil(threads).next_multiple_of(16).max(16);
    let ys = SharedOut(y.as_mut_ptr());
    split(out.div_ceil(chunk), &|c| {
        let lo = c * chunk;
        // SAFETY: `y` has `out` values; each task owns columns `lo..lo + len`.
        let acc = unsafe { ys.slice(lo, chunk.min(out - lo)) };
        for (k, yj) in acc.iter_mut().enumerate() {
            let j = lo + k;
            *yj = kernels::dot::<W>(x, &w[offset + j * s1..offset + j * s1 + inp]);
        }
    });
    Some(y)
}

/// Weights of fewer elements than this are multiplied on one thread.
const SERIAL_MAX: usize = 1 << 16;

pub(crate) mod kernels {
    use super::Wide;

    /// `acc += Σ_k xs[k] · rows[k]`.
    pub(super) fn axpy4<W: Wide>(acc: &mut [f32], rows: [&[W::Elem]; 4], xs: [f32; 4]) {
        #[cfg(target_arch = "x86_64")]
        if avx2() {
            // SAFETY: AVX2, FMA and F16C were detected.
            unsafe { x86::axpy4::<W>(acc, rows, xs) };
            return;
        }
        for (j, a) in acc.iter_mut().enumerate() {
            for (r, &xi) in rows.iter().zip(&xs) {
                *a += xi * W::widen(r[j]);
            }
        }
    }

    /// `dst = src` widened to f32, appended.
    pub(crate) fn widen<W: Wide>(src: &[W::Elem], dst: &mut Vec<f32>) {
        let at = dst.len();
        dst.resize(at + src.len(), 0.0);
        let dst = &mut dst[at..];
        #[cfg(target_arch = "x86_64")]
        if avx2() {
            // SAFETY: AVX2, FMA and F16C were detected.
            unsafe { x86::widen::<W>(src, dst) };
            return;
        }
        for (d, &s) in dst.iter_mut().zip(src) {
            *d = W::widen(s);
        }
    }

    /// `Σ x · row`.
    pub(super) fn dot<W: Wide>(x: &[f32], row: &[W::Elem]) -> f32 {
        #[cfg(target_arch = "x86_64")]
        if avx2() {
            // SAFETY: AVX2, FMA and F16C were detected.
            return unsafe { x86::dot::<W>(x, row) };
        }
        x.iter().zip(row).map(|(a, &w)| a * W::widen(w)).sum()
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

        use super::super::Wide;

        #[target_feature(enable = "avx2,fma,f16c")]
        pub(super) unsafe fn axpy4<W: Wide>(acc: &mut [f32], rows: [&[W::Elem]; 4], xs: [f32; 4]) {
            let n = rows.iter().fold(acc.len(), |n, r| n.min(r.len()));
            let x = [
                _mm256_set1_ps(xs[0]),
                _mm256_set1_ps(xs[1]),
                _mm256_set1_ps(xs[2]),
                _mm256_set1_ps(xs[3]),
            ];
            let mut k = 0;
            while k + 8 <= n {
                // SAFETY: k + 8 ≤ n, within every slice; the features are enabled.
                unsafe {
                    let mut a = _mm256_loadu_ps(acc.as_ptr().add(k));
                    a = _mm256_fmadd_ps(W::load8(rows[0].as_ptr().add(k)), x[0], a);
                    a = _mm256_fmadd_ps(W::load8(rows[1].as_ptr().add(k)), x[1], a);
                    a = _mm256_fmadd_ps(W::load8(rows[2].as_ptr().add(k)), x[2], a);
                    a = _mm256_fmadd_ps(W::load8(rows[3].as_ptr().add(k)), x[3], a);
                    _mm256_storeu_ps(acc.as_mut_ptr().add(k), a);
                }
                k += 8;
            }
            for j in k..n {
                for (r, &xi) in rows.iter().zip(&xs) {
                    acc[j] += xi * W::widen(r[j]);
                }
            }
        }

        #[target_feature(enable = "avx2,fma,f16c")]
        pub(super) unsafe fn widen<W: Wide>(src: &[W::Elem], dst: &mut [f32]) {
            let n = src.len().min(dst.len());
            let mut k = 0;
            while k + 8 <= n {
                // SAFETY: k + 8 ≤ n, within both slices; the features are enabled.
                unsafe { _mm256_storeu_ps(dst.as_mut_ptr().add(k), W::load8(src.as_ptr().add(k))) };
                k += 8;
            }
            for j in k..n {
                dst[j] = W::widen(src[j]);
            }
        }

        #[target_feature(enable = "avx2,fma,f16c")]
        pub(super) unsafe fn dot<W: Wide>(x: &[f32], row: &[W::Elem]) -> f32 {
            let n = x.len().min(row.len());
            let (mut s0, mut s1) = (_mm256_setzero_ps(), _mm256_setzero_ps());
            let mut k = 0;
            while k + 16 <= n {
                // SAFETY: k + 16 ≤ n, within both slices; the features are enabled.
                unsafe {
                    let w0 = W::load8(row.as_ptr().add(k));
                    let w1 = W::load8(row.as_ptr().add(k + 8));
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
                total += x[j] * W::widen(row[j]);
            }
            total
        }
    }
}
