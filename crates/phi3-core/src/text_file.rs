//! Reading the small text files of a checkpoint (`config.json`, indexes, tokenizer settings) with
//! a size limit: they come from strangers, and a symlink to an endless file (`/dev/zero`) or a
//! multi-gigabyte "config" must be an error, not an allocation that never ends.

use std::io::Read;
use std::path::Path;

/// The limit for JSON settings files: real ones are kilobytes, the largest shard indexes and
/// tokenizer configs a few megabytes.
pub const SETTINGS_LIMIT: u64 = 16 << 20;

/// The file at `path` as UTF-8 text, or an `InvalidData` error when it holds more than `limit`
/// bytes (found by reading at most `limit + 1`, so the file's reported size is not trusted).
pub fn read_text(path: &Path, limit: u64) -> std::io::Result<String> {
    let mut text = String::new();
    std::fs::File::open(path)?
        .take(limit + 1)
        .read_to_string(&mut text)?;
    if text.len() as u64 > limit {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("more than {limit} bytes; refusing to read it whole"),
        ));
    }
    Ok(text)
}
