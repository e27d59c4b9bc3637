//! `exp` over a slice, vectorized: softmax and SiLU spend most of their time here, and the
//! scalar `expf` of the C library costs a call per value.

/// Replaces each `v` in `values` by `exp(v − shift)` and returns their sum. Values of −∞ (hidden
/// scores) become exactly 0.
///
/// Accuracy: within 2 ulp of `f32::exp` over the range that is not 0 or ∞ (Cephes' polynomial
/// after a two-part reduction by ln 2).
pub fn exp_sum(values: &mut [f32], shift: f32) -> f32 {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the features were detected at run time.
            return unsafe { exp_sum_avx512(values, shift) };
        }
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            // SAFETY: as above.
            return unsafe { exp_sum_avx2(values, shift) };
        }
    }
    exp_sum_portable(values, shift)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn exp_sum_avx512(values: &mut [f32], shift: f32) -> f32 {
    exp_sum_portable(values, shift)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn exp_sum_avx2(values: &mut [f32], shift: f32) -> f32 {
    exp_sum_portable(values, shift)
}

/// Written so that the compiler vectorizes it under the callers' target features: no calls,
/// no branches but selects, sums in 16 lanes.
#[inline(always)]
fn exp_sum_portable(values: &mut [f32], shift: f32) -> f32 {
    const LANES: usize = 16;
    let mut sums = [0f32; LANES];
    let mut chunks = values.chunks_exact_mut(LANES);
    for chunk in &mut chunks {
        for (v, s) in chunk.iter_mut().zip(sums.iter_mut()) {
            *v = exp(*v - shift);
            *s += *v;
        }
    }
    let mut sum = 0.0;
    for v in chunks.into_remainder() {
        *v = exp(*v - shift);
        sum += *v;
    }
    sums.iter().sum::<f32>() + sum
}

#[inline(always)]
fn exp(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    /// ln(f32::MAX): above it, ∞.
    const MAX: f32 = 88.722_83;
    // ln 2 in two parts: the first exact in few bits, so n·C1 is exact.
    const C1: f32 = 0.693_359_4;
    const C2: f32 = -2.121_944_4e-4;
    let clamped = x.clamp(-87.0, MAX);
    let n = (clamped * LOG2E + 0.5).floor();
    let r = clamped - n * C1 - n * C2;
    let p = 1.987_569_1e-4_f32;
    let p = p * r + 1.398_199_9e-3;
    let p = p * r + 8.333_452e-3;
    let p = p * r + 4.166_579_6e-2;
    let p = p * r + 1.666_666_5e-1;
    let p = p * r + 0.5;
    let y = p * r * r + r + 1.0;
    // 2^n as 2 · 2^(n−1): n reaches 128 just below MAX, whose 2^n is not an f32.
    let scale = f32::from_bits(((n as i32 + 126) << 23) as u32);
    let y = (y * 2.0) * scale;
    // Below e^-87 the result is 0 (and −∞ − shift, a hidden score, must give exactly 0); above
    // MAX, ∞, as f32::exp gives.
    let y = if x < -87.0 { 0.0 } else { y };
    if x > MAX { f32::INFINITY } else { y }
}

#[cfg(test)]
mod tests {
    #[test]
    fn equals_std_exp_within_2_ulp_and_sums() {
        let mut values: Vec<f32> = (0..20_011).map(|i| -90.0 + i as f32 * 0.0085).collect();
        values.extend([f32::NEG_INFINITY, 0.0, -0.0, 1e-30]);
        let want: Vec<f32> = values.iter().map(|&v| (v - 0.5).exp()).collect();
        let mut got = values.clone();
        let sum = super::exp_sum(&mut got, 0.5);
        for ((&x, &w), &g) in values.iter().zip(&want).zip(&got) {
            let ulps = (w.to_bits() as i64 - g.to_bits() as i64).abs();
            let tiny = w < 1e-37; // at the edge of the range: 0 where std gives a denormal
            assert!(ulps <= 2 || tiny && g < 1e-37, "exp({x} - 0.5): {g} vs {w}");
        }
        assert_eq!(got[20_011], 0.0, "−∞ gives exactly 0");
        let want_sum: f64 = want.iter().map(|&w| w as f64).sum();
        assert!(((sum as f64 - want_sum) / want_sum).abs() < 1e-5);
        // The portable loop (other architectures) gives the same values.
        let mut portable = values.clone();
        super::exp_sum_portable(&mut portable, 0.5);
        assert_eq!(portable, got);
        // The top of the range: finite up to ln(f32::MAX), then ∞.
        let mut edge = [88.72, 88.723, f32::INFINITY];
        super::exp_sum(&mut edge, 0.0);
        assert!((edge[0] / 88.72f32.exp() - 1.0).abs() < 1e-6, "{}", edge[0]);
        assert_eq!(&edge[1..], &[f32::INFINITY; 2]);
    }
}
