//! End-to-end SCRAM exchanges: the RFC 5802 §5 and RFC 7677 §3 vectors on both sides, and the failure cases.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use crate::{ChannelBinding, HashAlg, Mechanism, SaslError, ScramClient, ScramKeys, ScramServer};

/// One RFC example exchange.
struct Vector {
    mechanism: Mechanism,
    client_nonce: &'static str,
    server_nonce: &'static str,
    salt: &'static str,
    client_first: &'static str,
    server_first: &'static str,
    client_final: &'static str,
    server_final: &'static str,
}

const VECTORS: [Vector; 2] = [
    // RFC 5802 §5.
    Vector {
        mechanism: Mechanism::ScramSha1,
        client_nonce: "fyko+d2lbbFgONRv9qkxdawL",
        server_nonce: "3rfcNHYJY1ZVvWVs7j",
        salt: "QSXCR+Q6sek8bf92",
        client_first: "n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL",
        server_first: "r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096",
        client_final: "c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=",
        server_final: "v=rmF9pqV8S7suAoZWja4dJRkFsKQ=",
    },
    // RFC 7677 §3.
    Vector {
        mechanism: Mechanism::ScramSha256,
        client_nonce: "rOprNGfwEbeRWgbNEkqO",
        server_nonce: "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0",
        salt: "W22ZaJ0SNY7soEsUEjb6gQ==",
        client_first: "n,,n=user,r=rOprNGfwEbeRWgbNEkqO",
        server_first: "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
        client_final: "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,\
                       p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
        server_final: "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=",
    },
];

/// Few iterations: the exchanges below test the protocol, not PBKDF2.
const ITERATIONS: u32 = 16;

fn binding(data: &[u8]) -> Option<ChannelBinding> {
    Some(ChannelBinding::tls_exporter(data.to_vec()))
}

#[test]
fn rfc_vectors_client_side() {
    for v in &VECTORS {
        let mut client = ScramClient::new(v.mechanism, "user", "pencil", None)
            .unwrap()
            .with_nonce(v.client_nonce);
        assert_eq!(client.client_first(), v.client_first.as_bytes());
        let client_final = client.client_final(v.server_first.as_bytes()).unwrap();
        assert_eq!(String::from_utf8(client_final).unwrap(), v.client_final);
        assert_eq!(
            client.verify_server_final(v.server_final.as_bytes()),
            Ok(())
        );
    }
}

#[test]
fn rfc_vectors_server_side() {
    for v in &VECTORS {
        let alg = v.mechanism.hash().unwrap();
        let salt = STANDARD.decode(v.salt).unwrap();
        let keys = ScramKeys::derive(alg, "pencil", &salt, 4096).unwrap();
        let mut server = ScramServer::new(v.mechanism, None, false).unwrap();
        let first = server.client_first(v.client_first.as_bytes()).unwrap();
        assert_eq!((first.username.as_str(), first.authzid), ("user", None));
        let server_first = server.server_first_with_nonce(Some(&keys), 0, v.server_nonce);
        assert_eq!(String::from_utf8(server_first).unwrap(), v.server_first);
        let server_final = server.client_final(v.client_final.as_bytes()).unwrap();
        assert_eq!(String::from_utf8(server_final).unwrap(), v.server_final);
    }
}

/// One side of a test exchange: mechanism, binding, credentials.
struct Side<'a> {
    mechanism: Mechanism,
    binding: Option<ChannelBinding>,
    password: &'a str,
}

/// Runs a whole exchange between our client and server; `Ok(username)` when both sides succeed. The server knows
/// user "user" with password `server.password`, or no user when that is empty.
fn exchange(client: Side<'_>, server: Side<'_>, offers_plus: bool) -> Result<String, SaslError> {
    let alg = server.mechanism.hash().unwrap();
    let keys = (!server.password.is_empty())
        .then(|| ScramKeys::derive(alg, server.password, b"salt", ITERATIONS).unwrap());
    let mut c = ScramClient::new(client.mechanism, "user", client.password, client.binding)?;
    let mut s = ScramServer::new(server.mechanism, server.binding, offers_plus)?;
    let first = s.client_first(&c.client_first())?;
    let server_first = s.server_first(keys.as_ref(), ITERATIONS);
    let server_final = s.client_final(&c.client_final(&server_first)?)?;
    c.verify_server_final(&server_final)?;
    Ok(first.username)
}

/// Row of [`exchange_table`]: name, client side, server side, whether `-PLUS` is offered, expected result.
type ExchangeCase<'a> = (&'a str, Side<'a>, Side<'a>, bool, Result<String, SaslError>);

#[test]
fn exchange_table() {
    use Mechanism::*;
    let side = |mechanism, binding, password| Side {
        mechanism,
        binding,
        password,
    };
    let tls = || binding(&[7; 32]);
    let cases: Vec<ExchangeCase<'_>> = vec![
        (
            "sha-1 without TLS",
            side(ScramSha1, None, "pencil"),
            side(ScramSha1, None, "pencil"),
            false,
            Ok("user".into()),
        ),
        (
            "sha-256 over TLS, no plus offered",
            side(ScramSha256, tls(), "pencil"),
            side(ScramSha256, tls(), "pencil"),
            false,
            Ok("user".into()),
        ),
        (
            "sha-256-plus round trip",
            side(ScramSha256Plus, tls(), "pencil"),
            side(ScramSha256Plus, tls(), "pencil"),
            true,
            Ok("user".into()),
        ),
        (
            "sha-1-plus round trip",
            side(ScramSha1Plus, tls(), "pencil"),
            side(ScramSha1Plus, tls(), "pencil"),
            true,
            Ok("user".into()),
        ),
        (
            "client without TLS while plus offered (flag n)",
            side(ScramSha256, None, "pencil"),
            side(ScramSha256, tls(), "pencil"),
            true,
            Ok("user".into()),
        ),
        (
            "binding data mismatch",
            side(ScramSha256Plus, binding(&[1; 32]), "pencil"),
            side(ScramSha256Plus, binding(&[2; 32]), "pencil"),
            true,
            Err(SaslError::NotAuthorized),
        ),
        (
            "unsupported binding type",
            side(
                ScramSha256Plus,
                Some(ChannelBinding {
                    kind: "tls-unique".into(),
                    data: vec![7; 32],
                }),
                "pencil",
            ),
            side(ScramSha256Plus, tls(), "pencil"),
            true,
            Err(SaslError::NotAuthorized),
        ),
        (
            "downgrade: flag y while plus offered",
            side(ScramSha256, tls(), "pencil"),
            side(ScramSha256, tls(), "pencil"),
            true,
            Err(SaslError::NotAuthorized),
        ),
        (
            "plus mechanism without p= (flag y)",
            side(ScramSha256, tls(), "pencil"),
            side(ScramSha256Plus, tls(), "pencil"),
            true,
            Err(SaslError::MalformedRequest),
        ),
        (
            "plus mechanism without p= (flag n)",
            side(ScramSha256, None, "pencil"),
            side(ScramSha256Plus, tls(), "pencil"),
            true,
            Err(SaslError::MalformedRequest),
        ),
        (
            "p= with a plain mechanism",
            side(ScramSha256Plus, tls(), "pencil"),
            side(ScramSha256, tls(), "pencil"),
            true,
            Err(SaslError::MalformedRequest),
        ),
        (
            "wrong password",
            side(ScramSha256, None, "pen"),
            side(ScramSha256, None, "pencil"),
            false,
            Err(SaslError::NotAuthorized),
        ),
        (
            "wrong password, plus",
            side(ScramSha1Plus, tls(), "pen"),
            side(ScramSha1Plus, tls(), "pencil"),
            true,
            Err(SaslError::NotAuthorized),
        ),
        (
            "unknown user",
            side(ScramSha256, None, "pencil"),
            side(ScramSha256, None, ""),
            false,
            Err(SaslError::NotAuthorized),
        ),
        (
            "hash mismatch",
            side(ScramSha1, None, "pencil"),
            side(ScramSha256, None, "pencil"),
            false,
            Err(SaslError::NotAuthorized),
        ),
        (
            "SASLprep equal passwords",
            side(ScramSha256, None, "pen\u{00AD}cil"),
            side(ScramSha256, None, "pencil"),
            false,
            Ok("user".into()),
        ),
        (
            "server plus without binding",
            side(ScramSha256, None, "pencil"),
            side(ScramSha256Plus, None, "pencil"),
            false,
            Err(SaslError::InvalidMechanism),
        ),
        (
            "client plus without binding",
            side(ScramSha256Plus, None, "pencil"),
            side(ScramSha256Plus, tls(), "pencil"),
            true,
            Err(SaslError::InvalidMechanism),
        ),
    ];
    for (name, client, server, offers_plus, expected) in cases {
        assert_eq!(exchange(client, server, offers_plus), expected, "{name}");
    }
}

#[test]
fn unknown_user_gets_a_plausible_challenge() {
    let mut s = ScramServer::new(Mechanism::ScramSha256, None, false).unwrap();
    s.client_first(b"n,,n=nobody,r=abc").unwrap();
    let server_first = String::from_utf8(s.server_first(None, 4096)).unwrap();
    let parts: Vec<&str> = server_first.split(',').collect();
    assert!(
        parts[0].starts_with("r=abc") && parts[0].len() > "r=abc".len(),
        "{server_first}"
    );
    assert_eq!(STANDARD.decode(&parts[1][2..]).unwrap().len(), 16);
    assert_eq!(parts[2], "i=4096");
    // Even a client that guessed the keys cannot succeed: there are none.
    let c_final = format!(
        "c=biws,r={},p={}",
        &parts[0][2..],
        STANDARD.encode([0u8; 32])
    );
    assert_eq!(
        s.client_final(c_final.as_bytes()),
        Err(SaslError::NotAuthorized)
    );
}

/// Rewrites a client-final-message before the server sees it.
type Edit<'a> = &'a dyn Fn(String) -> String;

#[test]
fn server_rejects_tampered_client_final() {
    let keys = ScramKeys::derive(HashAlg::Sha1, "pencil", b"salt", ITERATIONS).unwrap();
    let run = |edit: Edit<'_>| {
        let mut c = ScramClient::new(Mechanism::ScramSha1, "user", "pencil", None).unwrap();
        let mut s = ScramServer::new(Mechanism::ScramSha1, None, false).unwrap();
        s.client_first(&c.client_first()).unwrap();
        let server_first = s.server_first(Some(&keys), 0);
        let client_final = String::from_utf8(c.client_final(&server_first).unwrap()).unwrap();
        s.client_final(edit(client_final).as_bytes())
    };
    assert!(run(&|m| m).is_ok());
    let cases: [(&str, Edit<'_>, SaslError); 5] = [
        (
            "other nonce",
            &|m| m.replacen(",r=", ",r=x", 1),
            SaslError::NotAuthorized,
        ),
        (
            "c= claims y",
            &|m| m.replacen("c=biws", "c=eSws", 1),
            SaslError::NotAuthorized,
        ),
        (
            "short proof",
            &|m| format!("{},p=AAAA", m.rsplit_once(',').unwrap().0),
            SaslError::NotAuthorized,
        ),
        (
            "extension changes AuthMessage",
            &|m| m.replacen(",p=", ",x=1,p=", 1),
            SaslError::NotAuthorized,
        ),
        (
            "no proof",
            &|m| m.rsplit_once(',').unwrap().0.to_owned(),
            SaslError::MalformedRequest,
        ),
    ];
    for (name, edit, expected) in cases {
        assert_eq!(run(edit), Err(expected), "{name}");
    }
}

#[test]
fn malformed_client_first_is_rejected() {
    let cases: &[&[u8]] = &[
        b"",
        b"n,,",
        b"n,,m=x,n=user,r=abc",
        b"n,,n=us=er,r=abc",
        b"n,,n=user",
        b"\xff",
    ];
    for msg in cases {
        let mut s = ScramServer::new(Mechanism::ScramSha256, None, false).unwrap();
        assert_eq!(
            s.client_first(msg),
            Err(SaslError::MalformedRequest),
            "{:?}",
            String::from_utf8_lossy(msg)
        );
    }
}

#[test]
fn usernames_are_escaped_and_prepared() {
    let cases = [
        ("a,b=c", "n=a=2Cb=3Dc", "a,b=c"),
        ("jul\u{00A0}iet", "n=jul iet", "jul iet"),
        ("ju\u{00AD}liet", "n=juliet", "juliet"),
    ];
    for (username, on_the_wire, seen_by_server) in cases {
        let mut c = ScramClient::new(Mechanism::ScramSha1, username, "pencil", None)
            .unwrap()
            .with_nonce("abc");
        let first = c.client_first();
        assert_eq!(first, format!("n,,{on_the_wire},r=abc").as_bytes());
        let mut s = ScramServer::new(Mechanism::ScramSha1, None, false).unwrap();
        assert_eq!(s.client_first(&first).unwrap().username, seen_by_server);
    }
    assert_eq!(
        ScramClient::new(Mechanism::ScramSha1, "jul\u{0007}iet", "pencil", None).map(|_| ()),
        Err(SaslError::MalformedRequest)
    );
}

#[test]
fn authzid_is_reported() {
    let mut s = ScramServer::new(Mechanism::ScramSha1, None, false).unwrap();
    let first = s
        .client_first(b"n,a=admin=2C1@example.com,n=user,r=abc")
        .unwrap();
    assert_eq!(first.authzid.as_deref(), Some("admin,1@example.com"));
}

#[test]
fn out_of_order_calls_fail() {
    let mut s = ScramServer::new(Mechanism::ScramSha1, None, false).unwrap();
    assert!(s.server_first(None, 1).is_empty());
    assert_eq!(
        s.client_final(b"c=biws,r=abc,p=AAAA"),
        Err(SaslError::MalformedRequest)
    );
    assert_eq!(
        s.client_first(b"n,,n=user,r=abc"),
        Err(SaslError::MalformedRequest)
    );

    let mut c = ScramClient::new(Mechanism::ScramSha1, "user", "pencil", None).unwrap();
    assert_eq!(
        c.client_final(b"r=abc,s=QSXC,i=1"),
        Err(SaslError::MalformedRequest)
    );
    assert_eq!(
        c.verify_server_final(b"v=AAAA"),
        Err(SaslError::MalformedRequest)
    );
}

#[test]
fn client_rejects_bad_server_messages() {
    let server_firsts: &[(&[u8], SaslError)] = &[
        (b"r=other,s=QSXC,i=1", SaslError::NotAuthorized),
        (b"r=abc,s=QSXC,i=1", SaslError::NotAuthorized),
        (b"r=abcdef,s=QSXC", SaslError::MalformedRequest),
        (b"m=x,r=abcdef,s=QSXC,i=1", SaslError::MalformedRequest),
    ];
    for (server_first, expected) in server_firsts {
        let mut c = ScramClient::new(Mechanism::ScramSha1, "user", "pencil", None)
            .unwrap()
            .with_nonce("abc");
        c.client_first();
        assert_eq!(c.client_final(server_first), Err(expected.clone()));
    }
    let v = &VECTORS[0];
    let server_finals: &[(&[u8], SaslError)] = &[
        (b"e=invalid-proof", SaslError::NotAuthorized),
        (b"v=AAAA", SaslError::NotAuthorized),
        (b"v=", SaslError::NotAuthorized),
        (b"x=1", SaslError::MalformedRequest),
    ];
    for (server_final, expected) in server_finals {
        let mut c = ScramClient::new(v.mechanism, "user", "pencil", None)
            .unwrap()
            .with_nonce(v.client_nonce);
        c.client_first();
        c.client_final(v.server_first.as_bytes()).unwrap();
        assert_eq!(c.verify_server_final(server_final), Err(expected.clone()));
    }
}

#[test]
fn non_scram_mechanisms_are_refused() {
    for mechanism in [Mechanism::Plain, Mechanism::External] {
        assert_eq!(
            ScramServer::new(mechanism, None, false).map(|_| ()),
            Err(SaslError::InvalidMechanism)
        );
        assert_eq!(
            ScramClient::new(mechanism, "u", "p", None).map(|_| ()),
            Err(SaslError::InvalidMechanism)
        );
    }
}
