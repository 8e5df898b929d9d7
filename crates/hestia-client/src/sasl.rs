//! The client side of SASL negotiation (RFC 6120 §6): picking a mechanism from `<mechanisms/>`, the
//! `<auth/>`/`<challenge/>`/`<response/>`/`<success/>`/`<failure/>` exchange, and the base64 framing
//! (RFC 6120 §6.4.2: `=` is an empty response). The mechanisms themselves live in `hestia-sasl`.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use hestia_proto::ns;
use hestia_sasl::{ChannelBinding, Mechanism, ScramClient, encode_plain};
use hestia_xml::Element;

use crate::ClientError;
use crate::conn::XmppConn;

/// What the client picks on its own, best first. EXTERNAL is only used when asked for.
const PREFERENCE: [Mechanism; 5] = [
    Mechanism::ScramSha256Plus,
    Mechanism::ScramSha1Plus,
    Mechanism::ScramSha256,
    Mechanism::ScramSha1,
    Mechanism::Plain,
];

/// The mechanism names offered in a `<stream:features/>`.
pub(crate) fn offered_mechanisms(features: &Element) -> Vec<String> {
    features
        .get_child("mechanisms", ns::SASL)
        .map(|m| {
            m.children()
                .filter(|c| c.is("mechanism", ns::SASL))
                .map(|c| c.text().trim().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// `forced` as is (so tests can see the server refuse it), else the best offered one; `-PLUS` needs TLS.
pub(crate) fn choose_mechanism(
    offered: &[String],
    forced: Option<Mechanism>,
    has_binding: bool,
) -> Result<Mechanism, ClientError> {
    if let Some(m) = forced {
        if m.is_plus() && !has_binding {
            return Err(ClientError::Protocol(format!("{} needs TLS", m.name())));
        }
        return Ok(m);
    }
    PREFERENCE
        .into_iter()
        .filter(|m| has_binding || !m.is_plus())
        .find(|m| offered.iter().any(|o| o == m.name()))
        .ok_or_else(|| {
            ClientError::Protocol(format!(
                "no supported SASL mechanism offered (offered: {offered:?})"
            ))
        })
}

/// The binding handed to [`ScramClient`], which derives the gs2 flag from it (RFC 5802 §6):
/// `-PLUS` gets the data (`p=tls-exporter`); a plain SCRAM mechanism gets it only when the server offered no
/// `-PLUS` mechanism, so the flag is `y` ("I could bind, I think you cannot") rather than a downgrade signal the
/// server would rightly reject; without TLS there is none (`n`).
pub(crate) fn binding_for(
    mechanism: Mechanism,
    offered: &[String],
    exporter: Option<&[u8]>,
) -> Option<ChannelBinding> {
    let data = exporter?;
    let server_offers_plus = offered
        .iter()
        .any(|o| Mechanism::from_name(o).is_some_and(Mechanism::is_plus));
    (mechanism.is_plus() || !server_offers_plus).then(|| ChannelBinding {
        kind: "tls-exporter".to_owned(),
        data: data.to_vec(),
    })
}

/// One server answer during the exchange.
enum Step {
    Challenge(Vec<u8>),
    Success(Vec<u8>),
}

fn encode(payload: &[u8]) -> String {
    if payload.is_empty() {
        "=".to_owned()
    } else {
        B64.encode(payload)
    }
}

fn decode(text: &str) -> Result<Vec<u8>, ClientError> {
    match text.trim() {
        "" | "=" => Ok(Vec::new()),
        t => B64
            .decode(t)
            .map_err(|e| ClientError::Protocol(format!("server sent invalid base64 in SASL: {e}"))),
    }
}

async fn send_auth(
    conn: &mut XmppConn,
    mechanism: Mechanism,
    initial: &[u8],
) -> Result<(), ClientError> {
    let auth = Element::new("auth", ns::SASL)
        .with_attr("mechanism", mechanism.name())
        .with_text(encode(initial));
    conn.send(&auth).await
}

async fn send_response(conn: &mut XmppConn, payload: &[u8]) -> Result<(), ClientError> {
    let response = Element::new("response", ns::SASL);
    let response = if payload.is_empty() {
        response
    } else {
        response.with_text(B64.encode(payload))
    };
    conn.send(&response).await
}

/// Reads the server's next SASL element; `<failure/>` becomes [`ClientError::Sasl`].
async fn next_step(conn: &mut XmppConn) -> Result<Step, ClientError> {
    let el = conn.recv().await?;
    if el.ns() != ns::SASL {
        return Err(ClientError::Protocol(format!(
            "expected a SASL element, got <{}/>",
            el.name()
        )));
    }
    match el.name() {
        "challenge" => Ok(Step::Challenge(decode(&el.text())?)),
        "success" => Ok(Step::Success(decode(&el.text())?)),
        "failure" => {
            let condition = el
                .children()
                .find(|c| c.ns() == ns::SASL && c.name() != "text")
                .map_or("undefined-condition", |c| c.name());
            Err(ClientError::Sasl(condition.to_owned()))
        }
        other => Err(ClientError::Protocol(format!(
            "unexpected SASL element <{other}/>"
        ))),
    }
}

/// A SCRAM exchange (RFC 5802 §5) ending with a verified server signature, taken from `<success/>` additional
/// data or from a final challenge (RFC 6120 §6.3.10).
pub(crate) async fn scram(
    conn: &mut XmppConn,
    mechanism: Mechanism,
    username: &str,
    password: &str,
    binding: Option<ChannelBinding>,
) -> Result<(), ClientError> {
    let local = |e: hestia_sasl::SaslError| ClientError::Protocol(format!("SCRAM: {e}"));
    let mut client = ScramClient::new(mechanism, username, password, binding).map_err(local)?;
    send_auth(conn, mechanism, &client.client_first()).await?;
    let Step::Challenge(server_first) = next_step(conn).await? else {
        return Err(ClientError::Protocol(
            "SASL success before the SCRAM exchange finished".to_owned(),
        ));
    };
    let client_final = client.client_final(&server_first).map_err(local)?;
    send_response(conn, &client_final).await?;
    let server_final = match next_step(conn).await? {
        Step::Success(data) => data,
        Step::Challenge(data) => {
            send_response(conn, &[]).await?;
            match next_step(conn).await? {
                Step::Success(_) => data,
                Step::Challenge(_) => {
                    return Err(ClientError::Protocol(
                        "SCRAM: unexpected extra challenge".to_owned(),
                    ));
                }
            }
        }
    };
    if server_final.is_empty() {
        return Err(ClientError::Protocol(
            "SCRAM: server sent no signature".to_owned(),
        ));
    }
    client
        .verify_server_final(&server_final)
        .map_err(|e| ClientError::Protocol(format!("SCRAM: server signature rejected: {e}")))
}

/// PLAIN (RFC 4616) with the credentials as the initial response.
pub(crate) async fn plain(
    conn: &mut XmppConn,
    username: &str,
    password: &str,
) -> Result<(), ClientError> {
    send_auth(conn, Mechanism::Plain, &encode_plain(username, password)).await?;
    expect_success(conn).await
}

/// EXTERNAL (XEP-0178) with an empty initial response: the server takes the identity from the certificate.
pub(crate) async fn external(conn: &mut XmppConn) -> Result<(), ClientError> {
    send_auth(conn, Mechanism::External, &[]).await?;
    expect_success(conn).await
}

async fn expect_success(conn: &mut XmppConn) -> Result<(), ClientError> {
    match next_step(conn).await? {
        Step::Success(_) => Ok(()),
        Step::Challenge(_) => Err(ClientError::Protocol(
            "unexpected SASL challenge".to_owned(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn features(mechanisms: &[&str]) -> Element {
        let mut list = Element::new("mechanisms", ns::SASL);
        for m in mechanisms {
            list.push_child(Element::new("mechanism", ns::SASL).with_text(*m));
        }
        Element::new("features", ns::STREAM).with_child(list)
    }

    #[test]
    fn best_offered_mechanism_is_chosen() {
        use Mechanism::*;
        let all = [
            "PLAIN",
            "SCRAM-SHA-1",
            "SCRAM-SHA-256",
            "SCRAM-SHA-1-PLUS",
            "SCRAM-SHA-256-PLUS",
            "EXTERNAL",
        ];
        let cases: &[(&[&str], bool, Option<Mechanism>)] = &[
            (&all, true, Some(ScramSha256Plus)),
            (&all, false, Some(ScramSha256)),
            (
                &["SCRAM-SHA-1-PLUS", "SCRAM-SHA-1", "PLAIN"],
                true,
                Some(ScramSha1Plus),
            ),
            (
                &["SCRAM-SHA-1-PLUS", "SCRAM-SHA-1", "PLAIN"],
                false,
                Some(ScramSha1),
            ),
            (&["PLAIN", "SCRAM-SHA-1"], true, Some(ScramSha1)),
            (&["PLAIN"], true, Some(Plain)),
            (&["EXTERNAL"], true, None),
            (&["DIGEST-MD5"], true, None),
            (&[], true, None),
        ];
        for (offered, has_binding, want) in cases {
            let offered = offered_mechanisms(&features(offered));
            let got = choose_mechanism(&offered, None, *has_binding).ok();
            assert_eq!(got, *want, "{offered:?} tls={has_binding}");
        }
    }

    #[test]
    fn forced_mechanism_is_used_even_if_not_offered() {
        let offered = offered_mechanisms(&features(&["SCRAM-SHA-256"]));
        let got = choose_mechanism(&offered, Some(Mechanism::Plain), false).ok();
        assert_eq!(got, Some(Mechanism::Plain));
        assert!(choose_mechanism(&offered, Some(Mechanism::ScramSha256Plus), false).is_err());
    }

    #[test]
    fn binding_only_signals_y_when_server_cannot_bind() {
        let with_plus: Vec<String> = vec!["SCRAM-SHA-256-PLUS".into(), "SCRAM-SHA-256".into()];
        let without_plus: Vec<String> = vec!["SCRAM-SHA-256".into()];
        let cb = Some(&[7u8; 32][..]);
        assert!(binding_for(Mechanism::ScramSha256Plus, &with_plus, cb).is_some());
        assert!(binding_for(Mechanism::ScramSha256, &with_plus, cb).is_none());
        assert!(binding_for(Mechanism::ScramSha256, &without_plus, cb).is_some());
        assert!(binding_for(Mechanism::ScramSha256, &without_plus, None).is_none());
        let b = binding_for(Mechanism::ScramSha1Plus, &with_plus, cb).expect("binding");
        assert_eq!((b.kind.as_str(), b.data.len()), ("tls-exporter", 32));
    }

    #[test]
    fn base64_framing() {
        assert_eq!(encode(b""), "=");
        assert_eq!(encode(b"n,,n=a,r=b"), "biwsbj1hLHI9Yg==");
        assert_eq!(decode("=").ok(), Some(Vec::new()));
        assert_eq!(decode("").ok(), Some(Vec::new()));
        assert_eq!(
            decode(" biwsbj1hLHI9Yg==\n").ok(),
            Some(b"n,,n=a,r=b".to_vec())
        );
        assert!(decode("!!").is_err());
    }
}
