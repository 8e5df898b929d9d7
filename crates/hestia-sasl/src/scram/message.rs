//! SCRAM message grammar (RFC 5802 §7): the GS2 header, `saslname` escaping (`=2C`, `=3D`), nonces, and parsing of
//! the four messages. Parsing only; the state machines in `server` and `client` decide what the values mean.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use rand::RngCore;

use crate::{SaslError, saslprep};

/// Random bytes in a nonce we generate (base64-encoded to 24 printable characters).
const NONCE_BYTES: usize = 18;

/// The `gs2-cbind-flag` (RFC 5802 §7).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum CbindFlag {
    /// `n`: the client does not support channel binding.
    NotSupported,
    /// `y`: the client supports channel binding but thinks the server does not.
    NotOffered,
    /// `p=<cb-name>`: the client uses channel binding of this type.
    Used(String),
}

/// A parsed client-first-message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ClientFirstMessage {
    pub flag: CbindFlag,
    pub authzid: Option<String>,
    /// The gs2-header exactly as sent, including both commas.
    pub gs2_header: String,
    /// client-first-message-bare exactly as sent.
    pub bare: String,
    /// Unescaped and SASLprepped.
    pub username: String,
    pub nonce: String,
}

/// A parsed server-first-message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ServerFirstMessage {
    pub nonce: String,
    pub salt: Vec<u8>,
    pub iterations: u32,
}

/// A parsed client-final-message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ClientFinalMessage {
    /// Decoded `c=`: gs2-header plus channel-binding data.
    pub cbind_input: Vec<u8>,
    pub nonce: String,
    pub proof: Vec<u8>,
    /// client-final-message-without-proof exactly as sent.
    pub without_proof: String,
}

/// A parsed server-final-message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ServerFinalMessage {
    Verifier(Vec<u8>),
    Error(String),
}

pub(crate) fn b64(data: &[u8]) -> String {
    STANDARD.encode(data)
}

fn unb64(s: &str) -> Result<Vec<u8>, SaslError> {
    STANDARD.decode(s).map_err(|_| SaslError::MalformedRequest)
}

fn utf8(msg: &[u8]) -> Result<&str, SaslError> {
    std::str::from_utf8(msg).map_err(|_| SaslError::MalformedRequest)
}

/// A fresh random nonce of printable characters without `,`.
pub(crate) fn random_nonce() -> String {
    let mut bytes = [0u8; NONCE_BYTES];
    rand::thread_rng().fill_bytes(&mut bytes);
    b64(&bytes)
}

/// `printable = %x21-2B / %x2D-7E`, at least one.
pub(crate) fn is_valid_nonce(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| (0x21..=0x7e).contains(&b) && b != b',')
}

/// Escapes a name into a `saslname`: `=` becomes `=3D` and `,` becomes `=2C`.
pub(crate) fn escape_saslname(name: &str) -> String {
    name.replace('=', "=3D").replace(',', "=2C")
}

/// Unescapes a `saslname`; any `=` not starting `=2C` or `=3D`, or an empty name, is malformed.
pub(crate) fn unescape_saslname(s: &str) -> Result<String, SaslError> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(at) = rest.find('=') {
        out.push_str(&rest[..at]);
        let escape = rest.get(at..at + 3);
        match escape {
            Some("=2C") => out.push(','),
            Some("=3D") => out.push('='),
            _ => return Err(SaslError::MalformedRequest),
        }
        rest = &rest[at + 3..];
    }
    out.push_str(rest);
    if out.is_empty() {
        return Err(SaslError::MalformedRequest);
    }
    Ok(out)
}

/// The value of `part` if it is the attribute `name=value`.
fn attribute(part: &str, name: char) -> Result<&str, SaslError> {
    let mut chars = part.chars();
    if chars.next() == Some(name) && chars.next() == Some('=') {
        Ok(&part[2..])
    } else {
        Err(SaslError::MalformedRequest)
    }
}

/// Optional extensions (`attr-val`) after the known attributes are ignored, but must be well formed.
fn check_extensions<'a>(parts: impl Iterator<Item = &'a str>) -> Result<(), SaslError> {
    for part in parts {
        let bytes = part.as_bytes();
        if bytes.len() < 2 || !bytes[0].is_ascii_alphabetic() || bytes[1] != b'=' {
            return Err(SaslError::MalformedRequest);
        }
    }
    Ok(())
}

/// `m=` (reserved-mext) announces a mandatory extension we do not know, which must fail authentication.
fn reject_mandatory_extension(first: &str) -> Result<(), SaslError> {
    if first.starts_with("m=") {
        return Err(SaslError::MalformedRequest);
    }
    Ok(())
}

fn parse_cbind_flag(s: &str) -> Result<CbindFlag, SaslError> {
    match s {
        "n" => Ok(CbindFlag::NotSupported),
        "y" => Ok(CbindFlag::NotOffered),
        _ => {
            let name = attribute(s, 'p')?;
            let is_cb_name = |b: u8| b.is_ascii_alphanumeric() || b == b'.' || b == b'-';
            if name.is_empty() || !name.bytes().all(is_cb_name) {
                return Err(SaslError::MalformedRequest);
            }
            Ok(CbindFlag::Used(name.to_owned()))
        }
    }
}

/// Parses `gs2-header client-first-message-bare`.
pub(crate) fn parse_client_first(msg: &[u8]) -> Result<ClientFirstMessage, SaslError> {
    let msg = utf8(msg)?;
    let (flag, rest) = msg.split_once(',').ok_or(SaslError::MalformedRequest)?;
    let flag = parse_cbind_flag(flag)?;
    let (authzid, bare) = rest.split_once(',').ok_or(SaslError::MalformedRequest)?;
    let authzid = match authzid {
        "" => None,
        a => Some(unescape_saslname(attribute(a, 'a')?)?),
    };
    let gs2_header = &msg[..msg.len() - bare.len()];

    let mut parts = bare.split(',');
    let username = parts.next().ok_or(SaslError::MalformedRequest)?;
    reject_mandatory_extension(username)?;
    let username = saslprep(&unescape_saslname(attribute(username, 'n')?)?)?;
    let nonce = attribute(parts.next().ok_or(SaslError::MalformedRequest)?, 'r')?;
    if !is_valid_nonce(nonce) {
        return Err(SaslError::MalformedRequest);
    }
    check_extensions(parts)?;
    Ok(ClientFirstMessage {
        flag,
        authzid,
        gs2_header: gs2_header.to_owned(),
        bare: bare.to_owned(),
        username,
        nonce: nonce.to_owned(),
    })
}

/// Parses `[reserved-mext ","] nonce "," salt "," iteration-count ["," extensions]`.
pub(crate) fn parse_server_first(msg: &[u8]) -> Result<ServerFirstMessage, SaslError> {
    let mut parts = utf8(msg)?.split(',');
    let nonce = parts.next().ok_or(SaslError::MalformedRequest)?;
    reject_mandatory_extension(nonce)?;
    let nonce = attribute(nonce, 'r')?;
    let salt = unb64(attribute(
        parts.next().ok_or(SaslError::MalformedRequest)?,
        's',
    )?)?;
    let iterations = attribute(parts.next().ok_or(SaslError::MalformedRequest)?, 'i')?;
    check_extensions(parts)?;
    let is_digits = !iterations.is_empty() && iterations.bytes().all(|b| b.is_ascii_digit());
    let iterations: u32 = match iterations.parse() {
        Ok(i) if is_digits && i > 0 => i,
        _ => return Err(SaslError::MalformedRequest),
    };
    if !is_valid_nonce(nonce) || salt.is_empty() {
        return Err(SaslError::MalformedRequest);
    }
    Ok(ServerFirstMessage {
        nonce: nonce.to_owned(),
        salt,
        iterations,
    })
}

/// Parses `channel-binding "," nonce ["," extensions] "," proof`.
pub(crate) fn parse_client_final(msg: &[u8]) -> Result<ClientFinalMessage, SaslError> {
    let msg = utf8(msg)?;
    let (without_proof, proof) = msg.rsplit_once(',').ok_or(SaslError::MalformedRequest)?;
    let proof = unb64(attribute(proof, 'p')?)?;
    let mut parts = without_proof.split(',');
    let cbind_input = unb64(attribute(
        parts.next().ok_or(SaslError::MalformedRequest)?,
        'c',
    )?)?;
    let nonce = attribute(parts.next().ok_or(SaslError::MalformedRequest)?, 'r')?;
    check_extensions(parts)?;
    if !is_valid_nonce(nonce) || proof.is_empty() {
        return Err(SaslError::MalformedRequest);
    }
    Ok(ClientFinalMessage {
        cbind_input,
        nonce: nonce.to_owned(),
        proof,
        without_proof: without_proof.to_owned(),
    })
}

/// Parses `(server-error / verifier) ["," extensions]`.
pub(crate) fn parse_server_final(msg: &[u8]) -> Result<ServerFinalMessage, SaslError> {
    let mut parts = utf8(msg)?.split(',');
    let first = parts.next().ok_or(SaslError::MalformedRequest)?;
    check_extensions(parts)?;
    if let Ok(error) = attribute(first, 'e') {
        return Ok(ServerFinalMessage::Error(error.to_owned()));
    }
    let verifier = unb64(attribute(first, 'v')?)?;
    Ok(ServerFinalMessage::Verifier(verifier))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MALFORMED: Result<(), SaslError> = Err(SaslError::MalformedRequest);

    #[test]
    fn saslname_escaping() {
        let cases = [
            ("user", "user"),
            ("a,b", "a=2Cb"),
            ("a=b", "a=3Db"),
            ("=,=", "=3D=2C=3D"),
        ];
        for (name, escaped) in cases {
            assert_eq!(escape_saslname(name), escaped);
            assert_eq!(unescape_saslname(escaped).as_deref(), Ok(name));
        }
        for bad in ["", "a=", "a=2", "a=2c", "a=3d", "a=41", "=", "a==3D"] {
            assert_eq!(
                unescape_saslname(bad),
                Err(SaslError::MalformedRequest),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn client_first_parses() {
        let parsed = parse_client_first(b"p=tls-exporter,,n=user,r=abc").unwrap();
        assert_eq!(parsed.flag, CbindFlag::Used("tls-exporter".into()));
        assert!(parsed.authzid.is_none());
        let parsed = parse_client_first(b"y,a=a=2Cb,n=us=2Cer=3D,r=abc,x=ext").unwrap();
        assert_eq!(parsed.flag, CbindFlag::NotOffered);
        assert_eq!(parsed.authzid.as_deref(), Some("a,b"));
        assert_eq!(parsed.gs2_header, "y,a=a=2Cb,");
        assert_eq!(parsed.bare, "n=us=2Cer=3D,r=abc,x=ext");
        assert_eq!(parsed.username, "us,er=");
        assert_eq!(parsed.nonce, "abc");
    }

    #[test]
    fn malformed_client_first() {
        let cases: &[&[u8]] = &[
            b"",
            b"n",
            b"n,",
            b"n,,",
            b"x,,n=user,r=abc",
            b"p,,n=user,r=abc",
            b"p=,,n=user,r=abc",
            b"p=tls exporter,,n=user,r=abc",
            b"n,authzid,n=user,r=abc",
            b"n,a=,n=user,r=abc",
            b"n,,m=ext,n=user,r=abc",
            b"n,,user,r=abc",
            b"n,,n=,r=abc",
            b"n,,n=us=er,r=abc",
            b"n,,n=user",
            b"n,,n=user,",
            b"n,,n=user,r=",
            b"n,,n=user,nonce",
            b"n,,r=abc,n=user",
            b"n,,n=user,r=a\x7fc",
            b"n,,n=user,r=abc,",
            b"n,,n=user,r=abc,1=x",
            b"n,,n=us\x07er,r=abc",
            b"n,,n=\xff,r=abc",
        ];
        for msg in cases {
            assert_eq!(
                parse_client_first(msg).map(|_| ()),
                MALFORMED,
                "{:?}",
                String::from_utf8_lossy(msg)
            );
        }
    }

    #[test]
    fn malformed_server_first() {
        let cases: &[&[u8]] = &[
            b"",
            b"m=x,r=abc,s=QSXC,i=1",
            b"r=abc,s=QSXC",
            b"r=abc,s=QSXC,i=0",
            b"r=abc,s=QSXC,i=-1",
            b"r=abc,s=QSXC,i=+1",
            b"r=abc,s=QSXC,i=4294967296",
            b"r=abc,s=QSXC,i=x",
            b"r=abc,s=!!!!,i=1",
            b"r=abc,s=,i=1",
            b"r=,s=QSXC,i=1",
            b"s=QSXC,r=abc,i=1",
        ];
        for msg in cases {
            assert_eq!(
                parse_server_first(msg).map(|_| ()),
                MALFORMED,
                "{:?}",
                String::from_utf8_lossy(msg)
            );
        }
        let ok = parse_server_first(b"r=abc,s=QSXC,i=4096,x=ignored").unwrap();
        assert_eq!(ok.iterations, 4096);
    }

    #[test]
    fn malformed_client_final() {
        let cases: &[&[u8]] = &[
            b"",
            b"c=biws,r=abc",
            b"c=biws,p=AAAA",
            b"r=abc,c=biws,p=AAAA",
            b"c=b!ws,r=abc,p=AAAA",
            b"c=biws,r=abc,p=A",
            b"c=biws,r=abc,p=",
            b"c=biws,r=,p=AAAA",
            b"c=biws,r=abc,p=AAAA,x=after-proof",
            b"c=biws,r=abc,,p=AAAA",
        ];
        for msg in cases {
            assert_eq!(
                parse_client_final(msg).map(|_| ()),
                MALFORMED,
                "{:?}",
                String::from_utf8_lossy(msg)
            );
        }
        let ok = parse_client_final(b"c=biws,r=abc,x=ext,p=AAAA").unwrap();
        assert_eq!(ok.without_proof, "c=biws,r=abc,x=ext");
        assert_eq!(ok.cbind_input, b"n,,");
    }

    #[test]
    fn server_final_forms() {
        assert_eq!(
            parse_server_final(b"v=AAAA"),
            Ok(ServerFinalMessage::Verifier(vec![0, 0, 0]))
        );
        assert_eq!(
            parse_server_final(b"e=invalid-proof"),
            Ok(ServerFinalMessage::Error("invalid-proof".into()))
        );
        for bad in [&b""[..], b"x=AAAA", b"v=A", b"v=AAAA,"] {
            assert_eq!(parse_server_final(bad).map(|_| ()), MALFORMED);
        }
    }

    #[test]
    fn nonces_are_printable_and_fresh() {
        let (a, b) = (random_nonce(), random_nonce());
        assert!(is_valid_nonce(&a) && is_valid_nonce(&b));
        assert_ne!(a, b);
    }
}
