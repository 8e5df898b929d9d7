//! The scopes of access tokens on `/cui/v1`: which HES-CLIP operations (ISO/IEC 10192-4-3 §6.2) a
//! federated peer may perform for the user. The gateway's own console tokens hold them all.

use std::fmt;

/// One scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Retrieval of the device list and of device properties.
    DevicesRead,
    /// Update of device properties.
    DevicesWrite,
    /// Subscription to device events.
    Events,
}

impl Scope {
    pub const ALL: [Scope; 3] = [Scope::DevicesRead, Scope::DevicesWrite, Scope::Events];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::DevicesRead => "devices:read",
            Scope::DevicesWrite => "devices:write",
            Scope::Events => "events",
        }
    }

    /// What the consent screen says the scope allows.
    pub fn in_words(self) -> &'static str {
        match self {
            Scope::DevicesRead => "see your devices and read their properties",
            Scope::DevicesWrite => "change your devices' properties (switch, set, adjust)",
            Scope::Events => "be told about your devices' events",
        }
    }

    fn bit(self) -> u8 {
        1 << (self as u8)
    }

    pub fn parse(s: &str) -> Option<Scope> {
        Scope::ALL.into_iter().find(|scope| scope.as_str() == s)
    }
}

/// A set of scopes, written space-separated in a fixed order (RFC 6749 §3.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Scopes(u8);

impl Scopes {
    pub fn all() -> Scopes {
        Scopes(Scope::ALL.iter().fold(0, |bits, s| bits | s.bit()))
    }

    /// Parses a scope string; an unknown scope is an error naming it.
    pub fn parse(text: &str) -> Result<Scopes, String> {
        let mut bits = 0;
        for word in text.split(' ').filter(|w| !w.is_empty()) {
            let scope = Scope::parse(word).ok_or_else(|| format!("unknown scope {word:?}"))?;
            bits |= scope.bit();
        }
        Ok(Scopes(bits))
    }

    /// The set of exactly these scopes.
    pub fn of(scopes: &[Scope]) -> Scopes {
        Scopes(scopes.iter().fold(0, |bits, s| bits | s.bit()))
    }

    /// Parses a list of scope names, as a client registration holds them.
    pub fn from_list(list: &[String]) -> Result<Scopes, String> {
        Scopes::parse(&list.join(" "))
    }

    pub fn contains(self, scope: Scope) -> bool {
        self.0 & scope.bit() != 0
    }

    pub fn is_subset_of(self, other: Scopes) -> bool {
        self.0 & !other.0 == 0
    }

    /// The scope a request asks for within `held`: `held` when it asks none (`requested` is
    /// None), else the parsed scope if it is a non-empty subset of `held`; why not otherwise.
    pub fn within(requested: Option<&str>, held: Scopes) -> Result<Scopes, String> {
        match requested.map(Scopes::parse) {
            None => Ok(held),
            Some(Ok(s)) if !s.is_empty() && s.is_subset_of(held) => Ok(s),
            Some(Ok(_)) => Err(format!("the scope may be at most \"{held}\"")),
            Some(Err(e)) => Err(e),
        }
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    pub fn iter(self) -> impl Iterator<Item = Scope> {
        Scope::ALL.into_iter().filter(move |s| self.contains(*s))
    }

    pub fn to_list(self) -> Vec<String> {
        self.iter().map(|s| s.as_str().to_owned()).collect()
    }
}

impl fmt::Display for Scopes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let words: Vec<&str> = self.iter().map(Scope::as_str).collect();
        f.write_str(&words.join(" "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_parse_print_and_compare() {
        let cases = [
            ("", ""),
            ("devices:read", "devices:read"),
            ("events  devices:read", "devices:read events"),
            (
                "devices:write devices:read devices:write",
                "devices:read devices:write",
            ),
        ];
        for (input, printed) in cases {
            assert_eq!(
                Scopes::parse(input).expect(input).to_string(),
                printed,
                "{input}"
            );
        }
        for bad in ["admin", "devices:read x", "DEVICES:READ"] {
            assert!(Scopes::parse(bad).is_err(), "{bad}");
        }
        let read = Scopes::parse("devices:read").expect("read");
        assert!(read.is_subset_of(Scopes::all()));
        assert!(!Scopes::all().is_subset_of(read));
        assert!(Scopes::default().is_subset_of(read));
        assert!(read.contains(Scope::DevicesRead) && !read.contains(Scope::DevicesWrite));
        assert_eq!(Scopes::within(None, read), Ok(read));
        assert_eq!(
            Scopes::within(Some("devices:read"), Scopes::all()),
            Ok(read)
        );
        assert!(Scopes::within(Some("devices:write"), read).is_err());
        assert!(
            Scopes::within(Some(" "), read).is_err(),
            "an empty scope is no narrowing"
        );
        assert!(Scopes::within(Some("admin"), Scopes::all()).is_err());
    }
}
