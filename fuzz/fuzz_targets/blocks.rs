//! GGML blocks: every dequantizer on arbitrary bytes, and phi3's block kernels (matrix-vector
//! and matrix-matrix, every instruction set this machine has) on arbitrary matrices, checked
//! against dequantize-then-multiply where the values are finite.
#![no_main]

use libfuzzer_sys::fuzz_target;
use phi3::core::quant::{GgmlType, Isa, QuantizedMatrix, dequantize};

const TYPES: [GgmlType; 9] = [
    GgmlType::F32,
    GgmlType::F16,
    GgmlType::BF16,
    GgmlType::Q8_0,
    GgmlType::Q4_0,
    GgmlType::Q4_1,
    GgmlType::Q4_K,
    GgmlType::Q5_K,
    GgmlType::Q6_K,
];

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let ty = TYPES[selector as usize % TYPES.len()];
    let whole = rest.len() / ty.block_bytes() * ty.block_bytes();
    let mut out = Vec::new();
    dequantize(ty, &rest[..whole], &mut out);
    assert_eq!(out.len(), whole / ty.block_bytes() * ty.block_size());

    // The same bytes as a serialized matrix (its own header says its shape and types).
    let Ok(matrix) = QuantizedMatrix::from_bytes(rest) else {
        return;
    };
    // The harness's own activations are sized by the header: keep them small (the library
    // never sizes anything by an unvalidated matrix header: these buffers come from checked
    // GGUF tensors).
    let (rows, cols) = (matrix.rows(), matrix.cols());
    if cols > 1 << 16 || rows.saturating_mul(cols) > 1 << 20 {
        return;
    }
    let x: Vec<f32> = (0..2 * cols)
        .map(|i| ((i * 7 % 13) as f32 - 6.0) / 4.0)
        .collect();
    let mut reference = Vec::new();
    matrix.dequantize_rows(0, rows, &mut reference);
    for isa in Isa::supported() {
        let mut y = vec![0.0; rows];
        matrix.matvec_with(isa, &x[..cols], &mut y);
        let mut y2 = vec![0.0; 2 * rows];
        matrix.matmul_with(isa, &x, 2, &mut y2);
        if reference.iter().all(|v| v.is_finite() && v.abs() < 1e4) {
            for r in 0..rows {
                let row = &reference[r * cols..(r + 1) * cols];
                let exact: f32 = row.iter().zip(&x[..cols]).map(|(a, b)| a * b).sum();
                let scale: f32 = row.iter().map(|a| a.abs()).sum::<f32>() * 1.5 + 1e-3;
                // Activations are quantized to 8 bits: a relative error of ~1% of the row's mass.
                assert!(
                    (y[r] - exact).abs() <= 0.02 * scale,
                    "{isa:?} row {r}: {} vs {exact}",
                    y[r]
                );
            }
        }
    }
});
