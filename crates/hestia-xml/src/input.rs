//! Buffered, unparsed input of a stream and the windowed token search that keeps every token
//! within the current stanza's byte budget (RFC 6120 §13.12).

use crate::XmlError;
use crate::lexer::{CDATA_OPEN, ScanState};
use crate::parser::FEED_SLACK;

/// Unparsed input; `pos` is where the next token starts.
#[derive(Debug, Default)]
pub(crate) struct Input {
    pub buf: Vec<u8>,
    pub pos: usize,
    /// Stream offset of `buf[0]`, so limits can be measured across compactions.
    pub base: usize,
    scan: ScanState,
}

pub(crate) const TOO_LARGE: XmlError = XmlError::PolicyViolation("stanza too large");

impl Input {
    pub fn peek(&self, n: usize) -> Option<u8> {
        self.buf.get(self.pos + n).copied()
    }

    pub fn abs_pos(&self) -> usize {
        self.base + self.pos
    }

    pub fn compact(&mut self) {
        if self.pos > 0 {
            self.buf.drain(..self.pos);
            self.base += self.pos;
            self.pos = 0;
        }
        if self.buf.is_empty() && self.buf.capacity() > FEED_SLACK {
            self.buf.shrink_to(8 * 1024);
        }
    }

    /// Finds the end of the token at `pos` with `scan`, looking no further than `max` bytes
    /// past stream offset `unit_start`. `Ok(None)`: need more input.
    pub fn token<F>(
        &mut self,
        unit_start: usize,
        max: usize,
        scan: F,
    ) -> Result<Option<usize>, XmlError>
    where
        F: FnOnce(&[u8], &mut ScanState) -> Result<Option<usize>, XmlError>,
    {
        let window = (unit_start + max)
            .saturating_sub(self.base)
            .min(self.buf.len());
        if window < self.pos {
            return Err(TOO_LARGE);
        }
        match scan(&self.buf[self.pos..window], &mut self.scan)? {
            Some(len) => Ok(Some(self.pos + len)),
            None if self.buf.len() > window => Err(TOO_LARGE),
            None => Ok(None),
        }
    }

    pub fn str(&self, end: usize) -> Result<&str, XmlError> {
        std::str::from_utf8(&self.buf[self.pos..end]).map_err(|_| XmlError::UnsupportedEncoding)
    }

    /// Classifies `<!` at `pos`: `Ok(Some(()))` for a CDATA section, an error for anything else
    /// (DOCTYPE, comment), `Ok(None)` if more bytes are needed to tell.
    pub fn bang(&self) -> Result<Option<()>, XmlError> {
        let rest = &self.buf[self.pos..];
        match rest.get(2) {
            None => Ok(None),
            Some(b'[') if rest.len() < CDATA_OPEN.len() => Ok(None),
            Some(b'[') if rest.starts_with(CDATA_OPEN) => Ok(Some(())),
            Some(b'[') => Err(XmlError::nwf("malformed CDATA section")),
            Some(b'-') => Err(XmlError::RestrictedXml("comment")),
            Some(_) => Err(XmlError::RestrictedXml("DTD")),
        }
    }

    pub fn skip_ws(&mut self) -> usize {
        let rest = &self.buf[self.pos..];
        let n = rest
            .iter()
            .position(|&c| !matches!(c, b' ' | b'\t' | b'\r' | b'\n'))
            .unwrap_or(rest.len());
        self.pos += n;
        n
    }
}

pub(crate) fn is_ws(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\r' | b'\n')
}
