//! XMPP addresses (RFC 7622): `localpart@domainpart/resourcepart`.
//!
//! The localpart is enforced with the PRECIS UsernameCaseMapped profile (RFC 8265 §3.3: width
//! mapping, case folding, NFC, IdentifierClass) minus the characters RFC 7622 §3.3.1 forbids; the
//! resourcepart with OpaqueString (RFC 8265 §4.2); the domainpart is lower-cased and NFC-normalised
//! (IDNA2008 U-labels) or an IP literal. For ASCII addresses — all that IGRS entities use — PRECIS and
//! the older stringprep profiles agree, so peers on either side interoperate.

use std::fmt;

use unicode_normalization::UnicodeNormalization;

/// Each part is limited to 1023 octets (RFC 7622 §3.1).
const MAX_PART: usize = 1023;

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum JidError {
    #[error("empty address or part")]
    Empty,
    #[error("part longer than 1023 octets")]
    TooLong,
    #[error("forbidden character in localpart")]
    BadLocalpart,
    #[error("invalid domainpart")]
    BadDomain,
    #[error("forbidden character in resourcepart")]
    BadResource,
}

/// A normalised address. Equality is on the normalised form.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Jid {
    local: Option<String>,
    domain: String,
    resource: Option<String>,
}

impl Jid {
    /// Parses and normalises an address string.
    pub fn parse(s: &str) -> Result<Jid, JidError> {
        // RFC 7622 §3.1: split at the first '/', then at the last '@' before it.
        let (bare, resource) = match s.split_once('/') {
            Some((b, r)) => (b, Some(r)),
            None => (s, None),
        };
        let (local, domain) = match bare.rsplit_once('@') {
            Some((l, d)) => (Some(l), d),
            None => (None, bare),
        };
        let domain = domain.strip_suffix('.').unwrap_or(domain);
        Ok(Jid {
            local: local.map(normalize_localpart).transpose()?,
            domain: normalize_domain(domain)?,
            resource: resource.map(normalize_resource).transpose()?,
        })
    }

    /// Builds `local@domain` from parts, normalising each.
    pub fn bare(local: &str, domain: &str) -> Result<Jid, JidError> {
        Ok(Jid {
            local: Some(normalize_localpart(local)?),
            domain: normalize_domain(domain)?,
            resource: None,
        })
    }

    /// A domain-only address.
    pub fn domain_jid(domain: &str) -> Result<Jid, JidError> {
        Ok(Jid {
            local: None,
            domain: normalize_domain(domain)?,
            resource: None,
        })
    }

    pub fn with_resource(&self, resource: &str) -> Result<Jid, JidError> {
        Ok(Jid {
            local: self.local.clone(),
            domain: self.domain.clone(),
            resource: Some(normalize_resource(resource)?),
        })
    }

    pub fn local(&self) -> Option<&str> {
        self.local.as_deref()
    }

    pub fn domain(&self) -> &str {
        &self.domain
    }

    pub fn resource(&self) -> Option<&str> {
        self.resource.as_deref()
    }

    pub fn is_bare(&self) -> bool {
        self.resource.is_none()
    }

    pub fn is_full(&self) -> bool {
        self.resource.is_some()
    }

    /// This address without its resourcepart.
    pub fn to_bare(&self) -> Jid {
        Jid {
            local: self.local.clone(),
            domain: self.domain.clone(),
            resource: None,
        }
    }
}

impl fmt::Display for Jid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(l) = &self.local {
            write!(f, "{l}@")?;
        }
        f.write_str(&self.domain)?;
        if let Some(r) = &self.resource {
            write!(f, "/{r}")?;
        }
        Ok(())
    }
}

impl std::str::FromStr for Jid {
    type Err = JidError;
    fn from_str(s: &str) -> Result<Jid, JidError> {
        Jid::parse(s)
    }
}

fn check_len(s: &str) -> Result<(), JidError> {
    match s.len() {
        0 => Err(JidError::Empty),
        n if n > MAX_PART => Err(JidError::TooLong),
        _ => Ok(()),
    }
}

/// UsernameCaseMapped + RFC 7622 §3.3.1 exclusions.
pub fn normalize_localpart(s: &str) -> Result<String, JidError> {
    // Width mapping (fullwidth → ASCII) is what NFKC does for these code points; case folding
    // then NFC, as RFC 8265 §3.3.2 orders it. ASCII needs neither (and NFC leaves it as it is):
    // skip them for the common case, which every routed stanza's addresses go through.
    let mapped: String = if s.is_ascii() {
        s.to_ascii_lowercase()
    } else {
        s.chars()
            .map(|c| {
                if ('\u{FF01}'..='\u{FF5E}').contains(&c) {
                    char::from_u32(c as u32 - 0xFEE0).unwrap_or(c)
                } else {
                    c
                }
            })
            .collect::<String>()
            .to_lowercase()
            .nfc()
            .collect()
    };
    check_len(&mapped)?;
    let is_ok = mapped.chars().all(|c| {
        !matches!(c, '"' | '&' | '\'' | '/' | ':' | '<' | '>' | '@')
            && !c.is_whitespace()
            && !c.is_control()
            && (c.is_ascii_graphic() || (c.is_alphanumeric() && !has_compat(c)))
    });
    if is_ok {
        Ok(mapped)
    } else {
        Err(JidError::BadLocalpart)
    }
}

fn normalize_domain(s: &str) -> Result<String, JidError> {
    if let Some(inner) = s.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
        return inner
            .parse::<std::net::Ipv6Addr>()
            .map(|_| s.to_ascii_lowercase())
            .map_err(|_| JidError::BadDomain);
    }
    let d: String = if s.is_ascii() {
        s.to_ascii_lowercase()
    } else {
        s.to_lowercase().nfc().collect()
    };
    check_len(&d)?;
    let is_label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.chars().all(|c| c == '-' || c.is_alphanumeric())
    };
    if d.split('.').all(is_label_ok) {
        Ok(d)
    } else {
        Err(JidError::BadDomain)
    }
}

/// PRECIS IdentifierClass disallows characters with a compatibility decomposition (HasCompat).
fn has_compat(c: char) -> bool {
    !std::iter::once(c).nfkc().eq(std::iter::once(c))
}

/// OpaqueString: non-ASCII spaces to U+0020, NFC, no controls.
pub fn normalize_resource(s: &str) -> Result<String, JidError> {
    // ASCII is already NFC, and its only non-space whitespace characters are controls.
    let r: String = if s.is_ascii() {
        s.to_owned()
    } else {
        s.chars()
            .map(|c| {
                if c.is_whitespace() && c != ' ' && !c.is_control() {
                    ' '
                } else {
                    c
                }
            })
            .nfc()
            .collect()
    };
    check_len(&r)?;
    if r.chars().any(|c| c.is_control()) {
        return Err(JidError::BadResource);
    }
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc7622_examples() {
        // Valid addresses (RFC 7622 §3.5 and friends) and their normalised text.
        let ok = [
            ("juliet@example.com", "juliet@example.com"),
            ("juliet@example.com/foo", "juliet@example.com/foo"),
            ("juliet@example.com/foo bar", "juliet@example.com/foo bar"),
            ("juliet@example.com/foo@bar", "juliet@example.com/foo@bar"),
            ("foo\\20bar@example.com", "foo\\20bar@example.com"),
            ("fussball@example.com", "fussball@example.com"),
            ("fußball@example.com", "fußball@example.com"),
            ("π@example.com", "π@example.com"),
            ("Σ@example.com/foo", "σ@example.com/foo"),
            ("JULIET@Example.COM/Balcony", "juliet@example.com/Balcony"),
            ("example.com", "example.com"),
            ("example.com/foobar", "example.com/foobar"),
            ("a.example.com/b@example.net", "a.example.com/b@example.net"),
            ("juliet@example.com.", "juliet@example.com"),
            ("ｊｕｌｉｅｔ@example.com", "juliet@example.com"),
            ("user@[::1]", "user@[::1]"),
        ];
        for (input, want) in ok {
            let jid = Jid::parse(input).unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!(jid.to_string(), want, "{input}");
        }
    }

    #[test]
    fn rfc7622_invalid() {
        let bad = [
            ("\"juliet\"@example.com", JidError::BadLocalpart),
            ("foo bar@example.com", JidError::BadLocalpart),
            ("henry\u{2163}@example.com", JidError::BadLocalpart),
            ("@example.com/", JidError::Empty),
            ("juliet@/foo", JidError::Empty),
            ("juliet@example.com/", JidError::Empty),
            ("", JidError::Empty),
            ("a<b@example.com", JidError::BadLocalpart),
            ("juliet@exa mple.com", JidError::BadDomain),
            ("juliet@-example.com", JidError::BadDomain),
            ("juliet@example.com/a\u{0007}", JidError::BadResource),
        ];
        for (input, want) in bad {
            assert_eq!(Jid::parse(input), Err(want), "{input:?}");
        }
        let long = format!("{}@example.com", "a".repeat(1024));
        assert_eq!(Jid::parse(&long), Err(JidError::TooLong));
    }

    #[test]
    fn bare_and_full() {
        let j = Jid::parse("lamp-1@home.example/conn1").expect("valid");
        assert!(j.is_full());
        assert_eq!(j.to_bare().to_string(), "lamp-1@home.example");
        assert_eq!(j.local(), Some("lamp-1"));
        assert_eq!(j.resource(), Some("conn1"));
        assert_eq!(
            j.to_bare().with_resource("x").expect("ok").resource(),
            Some("x")
        );
    }
}
