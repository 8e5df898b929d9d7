//! SASLprep (RFC 4013), the stringprep profile SCRAM (RFC 5802 §5.1) and PLAIN (RFC 4616 §2) apply to user names and
//! passwords. The practical subset: map non-ASCII spaces (RFC 3454 C.1.2) to U+0020, drop the characters "commonly
//! mapped to nothing" (B.1), normalise with NFKC, reject the prohibited tables (C.1.2–C.9) and reject an empty
//! result. Not done: the bidirectional-text check (RFC 3454 §6) and the unassigned-code-point check (A.1), which
//! need Unicode 3.2 tables.

use unicode_normalization::UnicodeNormalization;

use crate::SaslError;

/// Prepares `input` with SASLprep; a prohibited character or an empty result is [`SaslError::MalformedRequest`].
pub fn saslprep(input: &str) -> Result<String, SaslError> {
    // Fast path: printable ASCII is unchanged by every step.
    if !input.is_empty() && input.bytes().all(|b| (0x20..0x7f).contains(&b)) {
        return Ok(input.to_owned());
    }
    let mapped: String = input
        .chars()
        .filter_map(|c| {
            if is_non_ascii_space(c) {
                Some(' ')
            } else if is_mapped_to_nothing(c) {
                None
            } else {
                Some(c)
            }
        })
        .collect();
    let normalized: String = mapped.nfkc().collect();
    if normalized.is_empty() || normalized.chars().any(is_prohibited) {
        return Err(SaslError::MalformedRequest);
    }
    Ok(normalized)
}

/// RFC 3454 C.1.2, non-ASCII space characters.
fn is_non_ascii_space(c: char) -> bool {
    matches!(
        c,
        '\u{00A0}' | '\u{1680}' | '\u{2000}'..='\u{200B}' | '\u{202F}' | '\u{205F}' | '\u{3000}'
    )
}

/// RFC 3454 B.1, commonly mapped to nothing.
fn is_mapped_to_nothing(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}'
            | '\u{034F}'
            | '\u{1806}'
            | '\u{180B}'..='\u{180D}'
            | '\u{200B}'..='\u{200D}'
            | '\u{2060}'
            | '\u{FE00}'..='\u{FE0F}'
            | '\u{FEFF}'
    )
}

/// RFC 4013 §2.3: the prohibited-output tables C.1.2, C.2.1, C.2.2, C.3, C.4, C.5 (impossible in `str`), C.6, C.7,
/// C.8 and C.9.
fn is_prohibited(c: char) -> bool {
    let cp = u32::from(c);
    is_non_ascii_space(c)
        // C.2.1 ASCII control and C.2.2 non-ASCII control.
        || c.is_control()
        || matches!(
            c,
            '\u{06DD}'
                | '\u{070F}'
                | '\u{180E}'
                | '\u{200C}'
                | '\u{200D}'
                | '\u{2028}'
                | '\u{2029}'
                | '\u{2060}'..='\u{2063}'
                | '\u{206A}'..='\u{206F}'
                | '\u{FEFF}'
                | '\u{FFF9}'..='\u{FFFC}'
                | '\u{1D173}'..='\u{1D17A}'
        )
        // C.3 private use.
        || matches!(c, '\u{E000}'..='\u{F8FF}' | '\u{F0000}'..='\u{FFFFD}' | '\u{100000}'..='\u{10FFFD}')
        // C.4 non-character code points: U+FDD0..U+FDEF and the last two of every plane.
        || matches!(c, '\u{FDD0}'..='\u{FDEF}')
        || cp & 0xFFFE == 0xFFFE
        // C.6 inappropriate for plain text, C.7 for canonical representation.
        || matches!(c, '\u{FFF9}'..='\u{FFFD}' | '\u{2FF0}'..='\u{2FFB}')
        // C.8 change display properties or deprecated.
        || matches!(c, '\u{0340}' | '\u{0341}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}')
        // C.9 tagging characters.
        || matches!(c, '\u{E0001}' | '\u{E0020}'..='\u{E007F}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table() {
        let cases: &[(&str, Result<&str, SaslError>)] = &[
            // RFC 4013 §3 examples.
            ("I\u{00AD}X", Ok("IX")),
            ("user", Ok("user")),
            ("USER", Ok("USER")),
            ("\u{00AA}", Ok("a")),
            ("\u{2168}", Ok("IX")),
            ("\u{0007}", Err(SaslError::MalformedRequest)),
            // Non-ASCII spaces become U+0020.
            ("pass\u{00A0}word", Ok("pass word")),
            ("a\u{3000}b", Ok("a b")),
            // Soft hyphen and zero-width joiner are removed.
            ("pen\u{00AD}cil", Ok("pencil")),
            ("pen\u{200D}cil", Ok("pencil")),
            // Control, private-use, non-character, display-changing and tagging characters are rejected.
            ("pen\ncil", Err(SaslError::MalformedRequest)),
            ("pen\u{007F}cil", Err(SaslError::MalformedRequest)),
            ("pen\u{0085}cil", Err(SaslError::MalformedRequest)),
            ("pen\u{E000}cil", Err(SaslError::MalformedRequest)),
            ("pen\u{FFFF}cil", Err(SaslError::MalformedRequest)),
            ("pen\u{200E}cil", Err(SaslError::MalformedRequest)),
            ("pen\u{E0041}cil", Err(SaslError::MalformedRequest)),
            // Empty input, or only characters mapped to nothing, is rejected.
            ("", Err(SaslError::MalformedRequest)),
            ("\u{00AD}", Err(SaslError::MalformedRequest)),
            // Ordinary non-ASCII passes through (already NFKC).
            ("pässwörd", Ok("pässwörd")),
            ("a\u{0308}", Ok("ä")),
        ];
        for (input, expected) in cases {
            assert_eq!(
                saslprep(input),
                expected.clone().map(str::to_owned),
                "{input:?}"
            );
        }
    }
}
