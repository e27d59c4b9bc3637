//! A matrix kept in GGML's quantized blocks, as a GGUF file stores it, and its products.

use super::activation::{Q8Blocks, Q8KBlocks, quantize_q8, quantize_q8k};
use super::format::{GgmlType, dequantize};
use super::kernels::{Activations, Isa, dot_rows, dot_rows_x4};
use super::team::{SharedOut, split};

/// One run of rows in one block type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Part<'a> {
    /// The block type.
    pub ty: GgmlType,
    /// Rows in this run.
    pub rows: usize,
    /// `rows · ty.row_bytes(cols)` bytes.
    pub data: &'a [u8],
}

/// The rows of a `[rows, cols]` matrix in GGML blocks along `cols`, one output row per row.
/// Consecutive runs of rows may use different types: a Q4_K_M file keeps `attn_v` in Q6_K beside
/// Q4_K `attn_q` and `attn_k`, and a fused `qkv_proj` holds all three.
///
/// A matrix lives in one byte buffer (so a Burn tensor can hold it, see [`crate::Linear`]): a
/// header, then every part's blocks in order —
///
/// ```text
/// "PHI3QMAT" | version u32 = 1 | cols u32 | parts u32 | (type id u32, rows u32) × parts |
/// zero padding to a multiple of 16 | part 0's blocks | part 1's blocks | ...
/// ```
///
/// all integers little-endian.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuantizedMatrix<'a> {
    cols: usize,
    parts: Vec<Part<'a>>,
}

/// A [`QuantizedMatrix`] buffer being filled: the header written, each run's blocks then read
/// straight into place (a loader never holds a tensor twice). Allocated 16-byte aligned, as Burn's
/// tensors want their bytes, so it becomes a tensor without a copy.
pub struct MatrixBuffer {
    words: Vec<u128>,
    len: usize,
    parts: Vec<std::ops::Range<usize>>,
}

impl MatrixBuffer {
    /// A buffer for runs of `(type, rows)` of `cols` columns; `None` when `cols` is not whole
    /// blocks of a run's type or the size overflows.
    pub fn new(cols: usize, runs: &[(GgmlType, usize)]) -> Option<Self> {
        let mut offset = header_len(runs.len());
        let mut parts = Vec::with_capacity(runs.len());
        for &(ty, rows) in runs {
            let len = ty.row_bytes(cols)?.checked_mul(rows)?;
            parts.push(offset..offset.checked_add(len)?);
            offset += len;
        }
        let mut buffer = Self {
            words: vec![0; offset.div_ceil(16)],
            len: offset,
            parts,
        };
        // Before the first write: the pages are then faulted in huge.
        crate::huge_pages::advise(buffer.bytes(), false);
        let header = buffer.bytes_mut();
        header[..8].copy_from_slice(MAGIC);
        let mut at = 8;
        for v in [VERSION, cols as u32, runs.len() as u32]
            .into_iter()
            .chain(runs.iter().flat_map(|&(ty, rows)| [ty.id(), rows as u32]))
        {
            header[at..at + 4].copy_from_slice(&v.to_le_bytes());
            at += 4;
        }
        Some(buffer)
    }

    /// Run `i`'s blocks, to fill.
    pub fn part_mut(&mut self, i: usize) -> &mut [u8] {
        let range = self.parts[i].clone();
        &mut self.bytes_mut()[range]
    }

    /// The buffer's bytes.
    pub fn bytes(&self) -> &[u8] {
        &bytemuck::cast_slice(&self.words)[..self.len]
    }

    fn bytes_mut(&mut self) -> &mut [u8] {
        &mut bytemuck::cast_slice_mut(&mut self.words)[..self.len]
    }

    /// The 16-byte words, whose first `len` bytes are the buffer (the rest zero).
    pub fn into_words(self) -> Vec<u128> {
        self.words
    }
}

const MAGIC: &[u8; 8] = b"PHI3QMAT";
const VERSION: u32 = 1;

fn header_len(parts: usize) -> usize {
    (8 + 12 + 8 * parts).next_multiple_of(16)
}

fn u32_at(b: &[u8], i: usize) -> Option<usize> {
    Some(u32::from_le_bytes(b.get(i..i + 4)?.try_into().ok()?) as usize)
}

impl<'a> QuantizedMatrix<'a> {
    /// A matrix of `cols` columns from runs of `(type, rows, blocks)`; `None` when a run's bytes
    /// are not `rows` rows of whole blocks.
    pub fn new(cols: usize, parts: Vec<Part<'a>>) -> Option<Self> {
        if cols == 0 {
            return None;
        }
        for p in &parts {
            if p.ty.row_bytes(cols)? * p.rows != p.data.len() {
                return None;
            }
        }
        Some(Self { cols, parts })
    }

    /// Reads a matrix back from [`Self::to_bytes`]'s buffer, without copying its blocks.
    pub fn from_bytes(bytes: &'a [u8]) -> Result<Self, String> {
        if bytes.get(..8) != Some(MAGIC.as_slice()) {
            return Err("not a quantized matrix (bad magic)".into());
        }
        let field = |i| u32_at(bytes, i).ok_or_else(|| "truncated header".to_string());
        if field(8)? != VERSION as usize {
            return Err(format!("unknown version {}", field(8)?));
        }
        let (cols, count) = (field(12)?, field(16)?);
        if cols == 0 {
            // Found by fuzz/blocks: the kernels split rows into chunks of `cols`.
            return Err("a matrix of 0 columns".into());
        }
        if count > 1 << 16 {
            return Err(format!("{count} parts"));
        }
        let mut offset = header_len(count);
        let mut parts = Vec::with_capacity(count);
        for i in 0..count {
            let id = field(20 + 8 * i)? as u32;
            let rows = field(24 + 8 * i)?;
            let ty = GgmlType::from_id(id).ok_or(format!("unknown GGML type {id}"))?;
            let row_bytes = ty
                .row_bytes(cols)
                .ok_or(format!("{cols} columns are not whole {} blocks", ty.name()))?;
            let len = rows
                .checked_mul(row_bytes)
                .ok_or_else(|| "size overflows".to_string())?;
            let data = bytes
                .get(offset..offset + len)
                .ok_or_else(|| "truncated blocks".to_string())?;
            parts.push(Part { ty, rows, data });
            offset += len;
        }
        Ok(Self { cols, parts })
    }

    /// The matrix in one buffer (see the type's documentation).
    pub fn to_bytes(&self) -> Vec<u8> {
        let runs: Vec<_> = self.parts.iter().map(|p| (p.ty, p.rows)).collect();
        let mut buffer = MatrixBuffer::new(self.cols, &runs).expect("parts were checked");
        for (i, p) in self.parts.iter().enumerate() {
            buffer.part_mut(i).copy_from_slice(p.data);
        }
        buffer.bytes().to_vec()
    }

    /// Output rows.
    pub fn rows(&self) -> usize {
        self.parts.iter().map(|p| p.rows).sum()
    }

    /// Input columns.
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// The runs of rows.
    pub fn parts(&self) -> &[Part<'a>] {
        &self.parts
    }

    /// Rows `start..start + count` as f32, row-major, into `out`.
    pub fn dequantize_rows(&self, start: usize, count: usize, out: &mut Vec<f32>) {
        out.clear();
        let mut first = 0;
        for p in &self.parts {
            let (lo, hi) = (start.max(first), (start + count).min(first + p.rows));
            if lo < hi {
                let row_bytes = p.ty.row_bytes(self.cols).unwrap_or(0);
                let bytes = &p.data[(lo - first) * row_bytes..(hi - first) * row_bytes];
                dequantize(p.ty, bytes, out);
            }
            first += p.rows;
        }
    }

    /// `out = W · x` for one row of activations (a decode step). See [`Self::matmul`].
    ///
    /// # Shapes
    /// - x: `[cols]`, out: `[rows]`
    pub fn matvec(&self, x: &[f32], out: &mut [f32]) {
        self.matmul(x, 1, out)
    }

    /// [`Self::matvec`] with the kernels of `isa` (one of [`Isa::supported`]), to compare them.
    pub fn matvec_with(&self, isa: Isa, x: &[f32], out: &mut [f32]) {
        self.matmul_with(isa, x, 1, out)
    }

    /// `out = x · Wᵀ` for `n` rows of activations, as llama.cpp computes it: every activation row
    /// is quantized to 8 bits once, and every product of a weight row and an activation row is
    /// an integer block dot product. Weight rows are split across rayon's threads in chunks that
    /// stay in cache while every activation row passes over them.
    ///
    /// One activation row gets the same numbers whether it is multiplied alone (a decode step) or
    /// among others (a prefill, an uncached rerun), so cached and uncached generation agree.
    ///
    /// # Shapes
    /// - x: `[n, cols]`, out: `[n, rows]`
    pub fn matmul(&self, x: &[f32], n: usize, out: &mut [f32]) {
        self.matmul_with(Isa::detected(), x, n, out)
    }

    /// Every activation row in the 8-bit forms the parts' kernels take (empty where no part
    /// takes that form).
    fn quantize_activations(&self, x: &[f32]) -> (Vec<Q8Blocks>, Vec<Q8KBlocks>) {
        let needs = |f: fn(GgmlType) -> bool| self.parts.iter().any(|p| f(p.ty));
        let rows = x.chunks_exact(self.cols);
        let q8 = match needs(|t| matches!(t, GgmlType::Q8_0 | GgmlType::Q4_0 | GgmlType::Q4_1)) {
            true => rows.clone().map(quantize_q8).collect(),
            false => vec![],
        };
        let q8k = match needs(|t| matches!(t, GgmlType::Q4_K | GgmlType::Q5_K | GgmlType::Q6_K)) {
            true => rows.map(quantize_q8k).collect(),
            false => vec![],
        };
        (q8, q8k)
    }

    /// [`Self::matmul`] with the kernels of `isa`.
    pub fn matmul_with(&self, isa: Isa, x: &[f32], n: usize, out: &mut [f32]) {
        let (rows, cols) = (self.rows(), self.cols);
        let (q8, q8k) = self.quantize_activations(x);
        let acts: Vec<Activations> = (0..n)
            .map(|i| Activations {
                f32: &x[i * cols..(i + 1) * cols],
                q8: q8.get(i),
                q8k: q8k.get(i),
            })
            .collect();
        // One task per thread, each a contiguous range of output rows (small products stay on
        // the calling thread: waking the pool costs more than they do). Within a task, chunks of
        // rows stay in cache while every activation row passes over them.
        let threads = match rows * cols * n < SERIAL_MAX {
            true => 1,
            false => rayon::current_num_threads()
                .min(rows.div_ceil(CHUNK_ROWS))
                .max(1),
        };
        let per_task = rows.div_ceil(threads);
        let out = SharedOut(out.as_mut_ptr());
        let run = |t: usize| {
            let (start, end) = (t * per_task, ((t + 1) * per_task).min(rows));
            // Output `[n, rows]`: this task's columns of every row, disjoint from the others'.
            let slot = |i: usize, lo: usize, hi: usize| {
                // SAFETY: `out` has `n · rows` values; tasks own disjoint column ranges.
                unsafe { out.slice(i * rows + lo, hi - lo) }
            };
            let mut first = 0; // the first global row of the current part
            for p in &self.parts {
                let (lo, hi) = (start.max(first), end.min(first + p.rows));
                let row_bytes = p.ty.row_bytes(cols).unwrap_or(0);
                for c in (lo..hi).step_by(CHUNK_ROWS) {
                    let c_end = (c + CHUNK_ROWS).min(hi);
                    let data = &p.data[(c - first) * row_bytes..(c_end - first) * row_bytes];
                    let chunk = c_end - c;
                    let mut four = [0f32; 4 * CHUNK_ROWS];
                    for i in (0..n).step_by(4) {
                        if i + 4 <= n {
                            let x = [&acts[i], &acts[i + 1], &acts[i + 2], &acts[i + 3]];
                            dot_rows_x4(isa, p.ty, data, row_bytes, x, &mut four[..4 * chunk]);
                            for k in 0..4 {
                                slot(i + k, c, c_end)
                                    .copy_from_slice(&four[k * chunk..(k + 1) * chunk]);
                            }
                        } else {
                            for (k, act) in acts[i..].iter().enumerate() {
                                dot_rows(isa, p.ty, data, row_bytes, act, slot(i + k, c, c_end));
                            }
                        }
                    }
                }
                first += p.rows;
            }
        };
        match threads {
            1 => run(0),
            _ => split(threads, &run),
        }
    }
}

/// Products of fewer weight·activation values than this run on the calling thread.
const SERIAL_MAX: usize = 1 << 16;

/// Weight rows per task at most: a chunk (tens of KB) stays in L2 while the activation rows pass.
const CHUNK_ROWS: usize = 32;

#[cfg(test)]
mod tests {
    /// fuzz/blocks' second finding (its input, as `to_bytes` lays a matrix out): one Q6_K row
    /// whose values all dequantize to 0 gave -1 instead of 0 on AVX2 / AVX-512 — the offset 32
    /// was subtracted as a float, two large terms cancelling. Every instruction set must give
    /// exactly 0 now.
    #[test]
    fn q6_k_values_at_the_offset_multiply_to_exactly_zero() {
        #[rustfmt::skip]
        let bytes: [u8; 247] = [
            0x50, 0x48, 0x49, 0x33, 0x51, 0x4d, 0x41, 0x54, 0x01, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00,
            0x01, 0x00, 0x00, 0x00, 0x0e, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
            0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
            0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
            0x54, 0x01, 0x00, 0x00, 0x00, 0x03, 0x06, 0x00, 0xe6, 0xe6, 0xe6, 0xe6, 0xe6, 0xe6, 0xe6, 0xe6,
            0xe6, 0xe6, 0xe6, 0xe6, 0xe6, 0xe6, 0xe6, 0xe6, 0xe6, 0xe6, 0xe6, 0xe6, 0xe6, 0xe6, 0xe6, 0xe6,
            0xe6, 0xe6, 0x3f, 0x50, 0x48, 0x49, 0x33, 0x51, 0x4d, 0x41, 0x54, 0x01, 0x00, 0x00, 0x00, 0x20,
            0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00,
            0xff, 0x4d, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0xff, 0x4d, 0x00,
            0x00, 0x00, 0x00, 0x00, 0x00, 0xe6, 0xe6, 0xe6, 0xe6, 0xe6, 0xe6, 0xe6, 0xe6, 0xe6, 0xe6, 0xe6,
            0xe6, 0xe6, 0xe6, 0xe6, 0xe6, 0xe6, 0xe6, 0xe6, 0xe6, 0xe6, 0xe6, 0xe6, 0xe6, 0xe6, 0xe6, 0xe6,
            0xe6, 0xe6, 0xe6, 0xe6, 0xe6, 0xe6, 0xe6, 0xe6, 0xe6, 0xe6, 0xe6, 0xe6, 0xe6, 0xe6, 0x00, 0x00,
            0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xb0, 0xb0, 0xb0, 0x00, 0x00, 0x00,
            0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xb0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
            0x00, 0x00, 0x00, 0x00, 0x69, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
            0x00, 0x69, 0x00, 0x00, 0x00, 0x00, 0x41,
        ];
        let m = QuantizedMatrix::from_bytes(&bytes).unwrap();
        let mut values = Vec::new();
        m.dequantize_rows(0, 1, &mut values);
        assert!(values.iter().all(|&v| v == 0.0));
        let x: Vec<f32> = (0..m.cols())
            .map(|i| ((i * 7 % 13) as f32 - 6.0) / 4.0)
            .collect();
        for isa in Isa::supported() {
            let mut y = [f32::NAN];
            m.matvec_with(isa, &x, &mut y);
            assert_eq!(y[0], 0.0, "{isa:?}");
        }
    }

    /// fuzz/blocks' first finding: a header of 0 columns was accepted, and a product then
    /// panicked ("chunk size must be non-zero") instead of the header being refused.
    #[test]
    fn a_header_of_zero_columns_is_refused() {
        let mut bytes = MAGIC.to_vec();
        for field in [VERSION, 0, 1, GgmlType::Q8_0.id(), 1] {
            bytes.extend(field.to_le_bytes());
        }
        bytes.resize(header_len(1) + 34, 0);
        assert!(QuantizedMatrix::from_bytes(&bytes).is_err());
        // The fuzzer's input: no parts at all.
        let mut bytes = MAGIC.to_vec();
        for field in [VERSION, 0, 0] {
            bytes.extend(field.to_le_bytes());
        }
        bytes.resize(header_len(0), 0);
        assert!(QuantizedMatrix::from_bytes(&bytes).is_err());
        assert!(QuantizedMatrix::new(0, vec![]).is_none());
    }

    use super::*;
    use crate::quant::activation::QK8;
    use crate::quant::format::QK_K;
    use crate::quant::test_blocks::random_blocks;

    /// W·x in f64 from the dequantized rows, and the activation-quantisation bound on each
    /// output: `Σ_blocks (max|x_b| / 127) / 2 · Σ_{i∈b} |w_i|`, plus f32 rounding.
    fn reference(m: &QuantizedMatrix, x: &[f32]) -> (Vec<f64>, Vec<f64>) {
        let mut w = Vec::new();
        m.dequantize_rows(0, m.rows(), &mut w);
        let mut exact = vec![];
        let mut bound = vec![];
        for (r, row) in w.chunks_exact(m.cols()).enumerate() {
            let ty = m.parts().iter().scan(0, |end, p| {
                *end += p.rows;
                Some((*end, p.ty))
            });
            let ty = ty
                .filter(|(end, _)| r < *end)
                .map(|(_, t)| t)
                .next()
                .unwrap();
            let block = match ty {
                GgmlType::Q4_K | GgmlType::Q5_K | GgmlType::Q6_K => QK_K,
                _ => QK8,
            };
            exact.push(row.iter().zip(x).map(|(a, b)| *a as f64 * *b as f64).sum());
            let quant: f64 = row
                .chunks(block)
                .zip(x.chunks(block))
                .map(|(wb, xb)| {
                    let amax = xb.iter().fold(0f32, |m, v| m.max(v.abs())) as f64;
                    amax / 127.0 / 2.0 * wb.iter().map(|v| v.abs() as f64).sum::<f64>()
                })
                .sum();
            let magnitude: f64 = row.iter().zip(x).map(|(a, b)| (*a * *b).abs() as f64).sum();
            bound.push(match ty.is_quantized() {
                true => quant + 1e-5 * magnitude + 1e-6,
                false => 1e-5 * magnitude + 1e-6,
            });
        }
        (exact, bound)
    }

    fn check(m: &QuantizedMatrix, n: usize, seed: u64) {
        let x: Vec<f32> = (0..n * m.cols())
            .map(|i| (((i as u64 * 2654435761 + seed) % 1000) as f32 / 500.0 - 1.0) * 3.0)
            .collect();
        let mut out = vec![0f32; n * m.rows()];
        m.matmul(&x, n, &mut out);
        // A row multiplied among others gets exactly what it gets alone.
        for (xr, or) in x.chunks(m.cols()).zip(out.chunks(m.rows())) {
            let mut alone = vec![0f32; m.rows()];
            m.matvec(xr, &mut alone);
            assert_eq!(alone, or);
        }
        for (xr, or) in x.chunks(m.cols()).zip(out.chunks(m.rows())) {
            let (exact, bound) = reference(m, xr);
            for (r, ((got, want), b)) in or.iter().zip(&exact).zip(&bound).enumerate() {
                assert!(
                    (*got as f64 - want).abs() <= *b,
                    "row {r} of {:?} (n = {n}): {got} vs {want}, bound {b:e}",
                    m.parts().iter().map(|p| p.ty).collect::<Vec<_>>()
                );
            }
        }
    }

    #[test]
    fn every_type_matches_dequantize_then_multiply() {
        for ty in GgmlType::ALL {
            let (rows, cols) = (37, 512);
            let data = random_blocks(ty, rows * cols / ty.block_size(), 7);
            let m = QuantizedMatrix::new(
                cols,
                vec![Part {
                    ty,
                    rows,
                    data: &data,
                }],
            )
            .unwrap();
            for n in [1, 2, 5] {
                check(&m, n, ty.id() as u64);
            }
        }
    }

    #[test]
    fn mixed_parts_round_trip_through_bytes() {
        let cols = 256;
        let a = random_blocks(GgmlType::Q4_K, 5, 1);
        let b = random_blocks(GgmlType::Q6_K, 3, 2);
        let c = random_blocks(GgmlType::Q8_0, 3 * 8, 3);
        let m = QuantizedMatrix::new(
            cols,
            vec![
                Part {
                    ty: GgmlType::Q4_K,
                    rows: 5,
                    data: &a,
                },
                Part {
                    ty: GgmlType::Q6_K,
                    rows: 3,
                    data: &b,
                },
                Part {
                    ty: GgmlType::Q8_0,
                    rows: 3,
                    data: &c,
                },
            ],
        )
        .unwrap();
        let bytes = m.to_bytes();
        let back = QuantizedMatrix::from_bytes(&bytes).unwrap();
        assert_eq!(back, m);
        assert_eq!((back.rows(), back.cols()), (11, 256));
        check(&back, 1, 5);
        check(&back, 7, 6);
        assert!(QuantizedMatrix::from_bytes(&bytes[..bytes.len() - 1]).is_err());
        assert!(QuantizedMatrix::from_bytes(b"PHI3QMAX").is_err());
        // Rows that are not whole blocks are refused.
        assert!(
            QuantizedMatrix::new(
                100,
                vec![Part {
                    ty: GgmlType::Q4_0,
                    rows: 1,
                    data: &a
                }]
            )
            .is_none()
        );
    }
}
