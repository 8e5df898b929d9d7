//! JWT access tokens (RFC 9068) in JWS compact serialization (RFC 7515), signed `EdDSA`
//! (RFC 8037). Only what this server issues is accepted: header `alg` `EdDSA`, `typ` `at+jwt`,
//! a `kid`, no `crit`; anything else (`alg: none`, an HMAC or RSA algorithm, a JWE) is refused
//! before a key is looked at.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde::{Deserialize, Serialize};

/// The one signature algorithm.
pub const ALG: &str = "EdDSA";
/// RFC 9068 §2.1.
pub const TYP: &str = "at+jwt";
/// Longest token accepted for parsing (ours are well under 1 KiB).
const MAX_TOKEN_BYTES: usize = 4096;

/// The claims of an access token (RFC 9068 §2.2) plus `gid`, the grant the token came from, so
/// revoking the grant refuses every token issued from it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessClaims {
    pub iss: String,
    /// The user.
    pub sub: String,
    /// The resource the token is for.
    pub aud: String,
    pub client_id: String,
    /// Space-separated.
    pub scope: String,
    pub iat: i64,
    pub exp: i64,
    pub jti: String,
    pub gid: String,
}

#[derive(Debug, Deserialize)]
struct Header {
    alg: String,
    #[serde(default)]
    typ: Option<String>,
    #[serde(default)]
    kid: Option<String>,
    #[serde(default)]
    crit: Option<serde_json::Value>,
}

/// A token taken apart, its signature not yet checked.
#[derive(Debug)]
pub struct Unverified<'a> {
    pub kid: String,
    /// `header.payload`, what the signature covers.
    pub signing_input: &'a str,
    pub signature: Vec<u8>,
    pub claims: AccessClaims,
}

/// Whether `token` looks like a JWS (three dot-separated parts) rather than an opaque token.
pub fn is_jwt(token: &str) -> bool {
    token.bytes().filter(|b| *b == b'.').count() == 2
}

/// The signing input of a new token with `kid` and `claims`.
pub fn signing_input(kid: &str, claims: &AccessClaims) -> Result<String, serde_json::Error> {
    let header = serde_json::json!({ "alg": ALG, "typ": TYP, "kid": kid });
    Ok(format!(
        "{}.{}",
        B64.encode(serde_json::to_vec(&header)?),
        B64.encode(serde_json::to_vec(claims)?)
    ))
}

/// The compact token from its signing input and signature.
pub fn assemble(signing_input: &str, signature: &[u8]) -> String {
    format!("{signing_input}.{}", B64.encode(signature))
}

/// Takes `token` apart and checks its header; why not, in words, otherwise.
pub fn parse(token: &str) -> Result<Unverified<'_>, &'static str> {
    if token.len() > MAX_TOKEN_BYTES {
        return Err("token too long");
    }
    let (signing_input, signature) = token.rsplit_once('.').ok_or("not a JWT")?;
    let (header, payload) = signing_input.split_once('.').ok_or("not a JWT")?;
    let header: Header = B64
        .decode(header)
        .ok()
        .and_then(|h| serde_json::from_slice(&h).ok())
        .ok_or("malformed JWT header")?;
    if header.alg != ALG {
        return Err("unsupported JWT algorithm");
    }
    if !header.typ.as_deref().is_some_and(|t| {
        t.eq_ignore_ascii_case(TYP) || t.eq_ignore_ascii_case("application/at+jwt")
    }) {
        return Err("not an access token (typ must be at+jwt)");
    }
    if header.crit.is_some() {
        return Err("unsupported critical JWT header");
    }
    let kid = header.kid.ok_or("JWT without kid")?;
    let signature = B64
        .decode(signature)
        .map_err(|_| "malformed JWT signature")?;
    let claims = B64
        .decode(payload)
        .ok()
        .and_then(|c| serde_json::from_slice(&c).ok())
        .ok_or("malformed JWT claims")?;
    Ok(Unverified {
        kid,
        signing_input,
        signature,
        claims,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims() -> AccessClaims {
        AccessClaims {
            iss: "https://b.example".into(),
            sub: "alice".into(),
            aud: "https://b.example/cui/v1".into(),
            client_id: "home-a".into(),
            scope: "devices:read".into(),
            iat: 100,
            exp: 700,
            jti: "j1".into(),
            gid: "g1".into(),
        }
    }

    fn with_header(header: &str) -> String {
        let payload = B64.encode(serde_json::to_vec(&claims()).expect("json"));
        format!("{}.{payload}.{}", B64.encode(header), B64.encode([0u8; 64]))
    }

    #[test]
    fn a_token_round_trips_through_parse() {
        let input = signing_input("k1", &claims()).expect("encode");
        let token = assemble(&input, &[7; 64]);
        assert!(is_jwt(&token));
        let parsed = parse(&token).expect("parses");
        assert_eq!(parsed.kid, "k1");
        assert_eq!(parsed.claims, claims());
        assert_eq!(parsed.signing_input, input);
        assert_eq!(parsed.signature, [7; 64]);
        let header = B64
            .decode(input.split('.').next().expect("h"))
            .expect("b64");
        assert_eq!(
            String::from_utf8(header).expect("utf8"),
            r#"{"alg":"EdDSA","kid":"k1","typ":"at+jwt"}"#
        );
    }

    #[test]
    fn hostile_headers_are_refused() {
        let cases = [
            (
                r#"{"alg":"none","typ":"at+jwt","kid":"k1"}"#,
                "unsupported JWT algorithm",
            ),
            (
                r#"{"alg":"HS256","typ":"at+jwt","kid":"k1"}"#,
                "unsupported JWT algorithm",
            ),
            (
                r#"{"alg":"EdDSA","typ":"JWT","kid":"k1"}"#,
                "not an access token (typ must be at+jwt)",
            ),
            (
                r#"{"alg":"EdDSA","kid":"k1"}"#,
                "not an access token (typ must be at+jwt)",
            ),
            (r#"{"alg":"EdDSA","typ":"at+jwt"}"#, "JWT without kid"),
            (
                r#"{"alg":"EdDSA","typ":"at+jwt","kid":"k1","crit":["x"]}"#,
                "unsupported critical JWT header",
            ),
            ("not json", "malformed JWT header"),
        ];
        for (header, why) in cases {
            assert_eq!(
                parse(&with_header(header)).expect_err(header),
                why,
                "{header}"
            );
        }
        assert_eq!(parse("a.b").expect_err("two parts"), "not a JWT");
        assert_eq!(
            parse(&"a.".repeat(3000)).expect_err("long"),
            "token too long"
        );
        let ok = with_header(r#"{"alg":"EdDSA","typ":"application/at+jwt","kid":"k1"}"#);
        assert!(parse(&ok).is_ok());
    }
}
