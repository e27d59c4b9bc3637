//! Streaming detokenization: text out as soon as it is complete.
//!
//! Decoding token by token breaks two things: SentencePiece drops the leading space of the first
//! token of a decode, and byte-fallback tokens (`<0xE4>`) carry one byte of a multi-byte UTF-8
//! character each. So the decoder re-decodes a short window of recent tokens, emits only what
//! the window added beyond what was already printed, and holds text back while it ends in an
//! incomplete character (decoded as U+FFFD).

use crate::{Tokenizer, TokenizerError};

/// Turns a stream of token ids into text chunks whose concatenation is the full decode.
pub struct StreamDecoder<'a> {
    tokenizer: &'a Tokenizer,
    skip_special_tokens: bool,
    ids: Vec<u32>,
    /// Start of the window decoded for context.
    prefix: usize,
    /// End of the part already emitted.
    read: usize,
}

impl<'a> StreamDecoder<'a> {
    /// A decoder with nothing seen yet.
    pub fn new(tokenizer: &'a Tokenizer, skip_special_tokens: bool) -> Self {
        Self {
            tokenizer,
            skip_special_tokens,
            ids: vec![],
            prefix: 0,
            read: 0,
        }
    }

    fn decode(&self, ids: &[u32]) -> Result<String, TokenizerError> {
        self.tokenizer.decode(ids, self.skip_special_tokens)
    }

    /// Adds one token; returns the text it completes, if any.
    pub fn push(&mut self, id: u32) -> Result<Option<String>, TokenizerError> {
        self.ids.push(id);
        let before = self.decode(&self.ids[self.prefix..self.read])?;
        let after = self.decode(&self.ids[self.prefix..])?;
        if after.len() > before.len() && !after.ends_with('\u{FFFD}') && after.starts_with(&before)
        {
            let text = after[before.len()..].to_string();
            self.prefix = self.read;
            self.read = self.ids.len();
            Ok(Some(text))
        } else {
            Ok(None)
        }
    }

    /// Whatever is still held back at the end of the stream (an incomplete character decodes to
    /// U+FFFD, as in the full decode).
    pub fn finish(&mut self) -> Result<Option<String>, TokenizerError> {
        let before = self.decode(&self.ids[self.prefix..self.read])?;
        let after = self.decode(&self.ids[self.prefix..])?;
        self.prefix = self.ids.len();
        self.read = self.ids.len();
        Ok(after
            .strip_prefix(&before)
            .filter(|t| !t.is_empty())
            .map(str::to_string))
    }

    /// All ids pushed so far.
    pub fn ids(&self) -> &[u32] {
        &self.ids
    }
}
