//! Configuration plumbing shared by every area: a macro that declares a config section once —
//! fields, defaults and doc comments — and derives from it the serde struct, its `Default`, and
//! the commented sample that `hestia config example` prints; plus human-readable durations.
//!
//! Keeping the doc comment and the default in one declaration is what lets a test diff the
//! committed example against the code: the sample cannot drift from the structs.

use std::fmt::Write as _;

/// A section that can describe itself as commented TOML.
pub trait Section {
    /// Appends `# doc` / `key = default` lines for every field.
    fn write_example(&self, out: &mut String);
}

/// Declares a config section. Every field carries its doc comment and default:
///
/// ```
/// hestia_config::section! {
///     /// Connection limits.
///     pub struct Limits {
///         /// Largest stanza after authentication, in bytes.
///         pub max_stanza_bytes: usize = 262_144,
///     }
/// }
/// let l = Limits::default();
/// assert_eq!(l.max_stanza_bytes, 262_144);
/// ```
#[macro_export]
macro_rules! section {
    (
        $(#[doc = $sdoc:literal])*
        pub struct $name:ident {
            $(
                $(#[doc = $doc:literal])*
                pub $field:ident : $ty:ty = $default:expr
            ),* $(,)?
        }
    ) => {
        $(#[doc = $sdoc])*
        #[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
        #[serde(deny_unknown_fields, default)]
        pub struct $name {
            $( $(#[doc = $doc])* pub $field: $ty, )*
        }

        impl Default for $name {
            fn default() -> Self {
                $name { $( $field: $default, )* }
            }
        }

        impl $crate::Section for $name {
            fn write_example(&self, out: &mut String) {
                $(
                    $( $crate::push_comment(out, $doc); )*
                    $crate::push_value(out, stringify!($field), &self.$field);
                )*
            }
        }
    };
}

#[doc(hidden)]
pub fn push_comment(out: &mut String, doc: &str) {
    let _ = writeln!(out, "#{}", doc.trim_end());
}

#[doc(hidden)]
pub fn push_value<T: serde::Serialize>(out: &mut String, key: &str, value: &T) {
    // A one-field table serialises the value exactly as TOML would in the file; Option::None
    // serialises to nothing, which we show commented out.
    #[derive(serde::Serialize)]
    struct One<'a, T: serde::Serialize> {
        #[serde(rename = "k")]
        value: &'a T,
    }
    match toml::to_string(&One { value }) {
        Ok(line) if line.starts_with("k = ") => {
            let _ = writeln!(out, "{key}{}", &line[1..].trim_end());
        }
        _ => {
            let _ = writeln!(out, "# {key} =");
        }
    }
    out.push('\n');
}

/// Writes `[name]` and the section's example.
pub fn write_table(out: &mut String, name: &str, section: &dyn Section) {
    let _ = writeln!(out, "[{name}]");
    section.write_example(out);
}

/// A duration written as a human string in config ("5m", "30s", "250ms").
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Duration(pub std::time::Duration);

impl Duration {
    pub const fn secs(s: u64) -> Duration {
        Duration(std::time::Duration::from_secs(s))
    }

    pub const fn millis(ms: u64) -> Duration {
        Duration(std::time::Duration::from_millis(ms))
    }

    pub fn get(self) -> std::time::Duration {
        self.0
    }
}

impl serde::Serialize for Duration {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&humantime::format_duration(self.0).to_string())
    }
}

impl<'de> serde::Deserialize<'de> for Duration {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let s = String::deserialize(d)?;
        humantime::parse_duration(&s)
            .map(Duration)
            .map_err(|e| serde::de::Error::custom(format!("invalid duration {s:?}: {e}")))
    }
}

/// A shared secret from the configuration (a component's handshake secret, a token): its
/// `Debug` never shows the value, so it cannot leak into logs through a `{:?}` of a section.
#[derive(Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(secret: impl Into<String>) -> Secret {
        Secret(secret.into())
    }

    /// The secret itself, for the one check that needs it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    section! {
        /// Test section.
        pub struct Demo {
            /// A number.
            pub n: u32 = 7,
            /// A wait.
            pub wait: Duration = Duration::secs(90),
            /// Optional text.
            pub name: Option<String> = None,
        }
    }

    #[test]
    fn example_round_trips() {
        let mut out = String::new();
        write_table(&mut out, "demo", &Demo::default());
        assert!(out.contains("# A number.\nn = 7\n"), "{out}");
        assert!(out.contains("wait = \"1m 30s\""), "{out}");
        assert!(out.contains("# name ="), "{out}");
        let parsed: toml::Table = toml::from_str(&out).expect("valid toml");
        let demo: Demo = parsed["demo"].clone().try_into().expect("section parses");
        assert_eq!(demo, Demo::default());
    }

    #[test]
    fn unknown_fields_are_refused() {
        let r: Result<Demo, _> = toml::from_str("nn = 1");
        assert!(r.is_err());
    }

    #[test]
    fn a_secret_never_shows_in_debug() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s:?}"), "Secret(<redacted>)");
        assert_eq!(s.expose(), "hunter2");
        let parsed: std::collections::BTreeMap<String, Secret> =
            toml::from_str("gateway = \"hunter2\"").expect("toml");
        assert!(!format!("{parsed:?}").contains("hunter2"));
    }
}
