//! Where each token of a (possibly left-padded) batch sits.

/// Token positions of one forward call.
///
/// Inputs are laid out in *columns*: column `c` of batch row `r` is the `c`-th slot of that
/// row's padded sequence. Rows are left-padded: the first `padding[r]` columns of row `r` are
/// padding, and the token in column `c ≥ padding[r]` has position `c - padding[r]`. A call
/// covers columns `start..start + len`; cached decode steps have `start > 0`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Positions {
    /// First column of this call.
    pub start: usize,
    /// Columns in this call.
    pub len: usize,
    /// Left padding of each batch row.
    pub padding: Vec<usize>,
}

impl Positions {
    /// An unpadded batch of `batch` rows covering columns `start..start + len`.
    pub fn new(batch: usize, start: usize, len: usize) -> Self {
        Self {
            start,
            len,
            padding: vec![0; batch],
        }
    }

    /// A left-padded batch.
    pub fn padded(padding: Vec<usize>, start: usize, len: usize) -> Self {
        Self {
            start,
            len,
            padding,
        }
    }

    /// Number of rows.
    pub fn batch(&self) -> usize {
        self.padding.len()
    }

    /// One past the last column of this call.
    pub fn end(&self) -> usize {
        self.start + self.len
    }

    /// Whether no row is padded.
    pub fn is_uniform(&self) -> bool {
        self.padding.iter().all(|&p| p == 0)
    }

    /// Position of the token in `column` of `row`, or `None` for padding.
    pub fn position(&self, row: usize, column: usize) -> Option<usize> {
        column.checked_sub(self.padding[row])
    }

    /// The position of every token of this call, row by row (`[batch * len]`, padding as 0), to
    /// gather per-position table rows for a padded batch.
    pub fn gather_index(&self) -> Vec<i64> {
        (0..self.batch())
            .flat_map(|r| (self.start..self.end()).map(move |c| (r, c)))
            .map(|(r, c)| self.position(r, c).unwrap_or(0) as i64)
            .collect()
    }

    /// One more than the largest position in this call: the sequence length that decides
    /// length-dependent encodings such as LongRoPE.
    pub fn max_len(&self) -> usize {
        let least_padding = self.padding.iter().copied().min().unwrap_or(0);
        self.end().saturating_sub(least_padding)
    }
}
