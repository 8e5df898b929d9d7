//! The vocabulary of the relationship conversations (14543-5-8 §9, §10, §13): roster and
//! subscription stanzas, the IGRS relation/rights/code IQs, and "wait until this arrives".
//! Like the tests, the helpers panic on failure.
#![allow(dead_code, clippy::expect_used)]

use std::time::Duration;

use hestia_client::{Bound, ClientError};
use hestia_proto::igrs::{NS_DEVICE, NS_PUSH, NS_RELATION, NS_RIGHTS, NS_VCODE, RelationRefusal};
use hestia_proto::{StanzaErrorCondition, ns};
use hestia_testkit::TestServer;
use hestia_xml::Element;

/// How long "eventually arrives" waits.
pub const ARRIVES: Duration = Duration::from_secs(5);

/// `name@domain`.
pub fn jid(t: &TestServer, name: &str) -> String {
    format!("{name}@{}", t.domain())
}

fn iq(iq_type: &str, to: Option<&str>, payload: Element) -> Element {
    let mut iq = Element::new("iq", ns::CLIENT)
        .with_attr("type", iq_type)
        .with_child(payload);
    if let Some(to) = to {
        iq.set_attr("to", to);
    }
    iq
}

/// `<presence to=… type=…/>`.
pub fn presence(to: &str, presence_type: &str) -> Element {
    Element::new("presence", ns::CLIENT)
        .with_attr("to", to)
        .with_attr("type", presence_type)
}

/// A subscription request for a device asking for `right`.
pub fn subscribe_for(to: &str, right: &str) -> Element {
    presence(to, "subscribe")
        .with_child(Element::new("relation", NS_RELATION).with_attr("right", right))
}

/// Roster get; returns the `<query/>` (None when the version was current).
pub async fn roster(client: &mut Bound, ver: Option<&str>) -> Option<Element> {
    let mut query = Element::new("query", ns::ROSTER);
    if let Some(v) = ver {
        query.set_attr("ver", v);
    }
    let result = client.iq(iq("get", None, query)).await.expect("roster get");
    result.get_child("query", ns::ROSTER).cloned()
}

/// The item for `contact` in a roster query or push.
pub fn item<'a>(query: &'a Element, contact: &str) -> Option<&'a Element> {
    query
        .children()
        .find(|i| i.is("item", ns::ROSTER) && i.attr("jid") == Some(contact))
}

/// (subscription, ask, relation kind, right) of an item.
pub fn item_state(item: &Element) -> (String, Option<String>, Option<String>, Option<String>) {
    let relation = item.get_child("relation", NS_RELATION);
    (
        item.attr("subscription").unwrap_or("none").to_owned(),
        item.attr("ask").map(str::to_owned),
        relation.and_then(|r| r.attr("kind")).map(str::to_owned),
        relation.and_then(|r| r.attr("right")).map(str::to_owned),
    )
}

/// Roster set of one item.
pub async fn roster_set(client: &mut Bound, item: Element) -> Result<Element, ClientError> {
    client
        .iq(iq(
            "set",
            None,
            Element::new("query", ns::ROSTER).with_child(item),
        ))
        .await
}

/// Removes a contact from the roster (a release, Fig. 7).
pub async fn roster_remove(client: &mut Bound, contact: &str) -> Result<Element, ClientError> {
    roster_set(
        client,
        Element::new("item", ns::ROSTER)
            .with_attr("jid", contact)
            .with_attr("subscription", "remove"),
    )
    .await
}

/// `<relate device=…><code>…</code></relate>` to the IRSP.
pub async fn relate_by_code(
    t: &TestServer,
    client: &mut Bound,
    device: &str,
    code: &str,
) -> Result<Element, ClientError> {
    let payload = Element::new("relate", NS_RELATION)
        .with_attr("device", device)
        .with_child(Element::new("code", NS_RELATION).with_text(code));
    client.iq(iq("set", Some(&t.domain()), payload)).await
}

/// An IGRS relation IQ (`approve`, `reject`, `release`, `transfer`, `peer`) with attributes.
pub async fn relation_iq(
    t: &TestServer,
    client: &mut Bound,
    name: &str,
    attrs: &[(&str, &str)],
) -> Result<Element, ClientError> {
    let mut payload = Element::new(name, NS_RELATION);
    for (k, v) in attrs {
        payload.set_attr(*k, *v);
    }
    client.iq(iq("set", Some(&t.domain()), payload)).await
}

/// Rights get for a device: `(policy, [(user, right)])`.
pub async fn rights(
    t: &TestServer,
    client: &mut Bound,
    device: &str,
) -> Result<(String, Vec<(String, String)>), ClientError> {
    let payload = Element::new("rights", NS_RIGHTS).with_attr("device", device);
    let result = client.iq(iq("get", Some(&t.domain()), payload)).await?;
    let rights = result
        .get_child("rights", NS_RIGHTS)
        .expect("rights payload")
        .clone();
    let grants = rights
        .children()
        .map(|g| {
            (
                g.attr("user").unwrap_or_default().to_owned(),
                g.attr("right").unwrap_or_default().to_owned(),
            )
        })
        .collect();
    Ok((rights.attr("policy").unwrap_or_default().to_owned(), grants))
}

/// Rights set: an optional policy and grants.
pub async fn set_rights(
    t: &TestServer,
    client: &mut Bound,
    device: &str,
    policy: Option<&str>,
    grants: &[(&str, &str)],
) -> Result<Element, ClientError> {
    let mut payload = Element::new("rights", NS_RIGHTS).with_attr("device", device);
    if let Some(p) = policy {
        payload.set_attr("policy", p);
    }
    for (user, right) in grants {
        payload.push_child(
            Element::new("grant", NS_RIGHTS)
                .with_attr("user", *user)
                .with_attr("right", *right),
        );
    }
    client.iq(iq("set", Some(&t.domain()), payload)).await
}

/// Verification code reset; `device` None = the device resets its own.
pub async fn reset_code(
    t: &TestServer,
    client: &mut Bound,
    device: Option<&str>,
    code: Option<&str>,
    release: bool,
) -> Result<Element, ClientError> {
    let mut payload = Element::new("reset", NS_VCODE);
    if let Some(d) = device {
        payload.set_attr("device", d);
    }
    if release {
        payload.set_attr("release", "true");
    }
    if let Some(c) = code {
        payload.push_child(Element::new("code", NS_VCODE).with_text(c));
    }
    client.iq(iq("set", Some(&t.domain()), payload)).await
}

/// Device search by exact ID: the `<device/>` found, if any.
pub async fn search(
    t: &TestServer,
    client: &mut Bound,
    device: &str,
) -> Result<Option<Element>, ClientError> {
    let payload = Element::new("search", NS_DEVICE).with_attr("device", device);
    let result = client.iq(iq("get", Some(&t.domain()), payload)).await?;
    Ok(result
        .get_child("search", NS_DEVICE)
        .and_then(|s| s.get_child("device", NS_DEVICE))
        .cloned())
}

/// An IQ request to another entity (a device property read or write).
pub fn request(iq_type: &str, to: &str) -> Element {
    iq(
        iq_type,
        Some(to),
        Element::new("query", "urn:example:lamp").with_attr("power", "on"),
    )
    .with_attr("id", hestia_proto::stanza::new_id())
}

/// The IGRS refusal carried by an IQ error answer.
#[track_caller]
pub fn refusal(answer: Result<Element, ClientError>) -> RelationRefusal {
    let err = match answer {
        Ok(el) => panic!("expected a refusal, got {el}"),
        Err(e) => e,
    };
    let stanza_error = err
        .stanza_error()
        .unwrap_or_else(|| panic!("expected a stanza error, got {err}"));
    RelationRefusal::of(stanza_error)
        .unwrap_or_else(|| panic!("no IGRS detail in {stanza_error:?}"))
}

/// The stanza error condition of an IQ answer.
#[track_caller]
pub fn condition(answer: Result<Element, ClientError>) -> StanzaErrorCondition {
    match answer {
        Ok(el) => panic!("expected an error, got {el}"),
        Err(e) => {
            e.stanza_error()
                .unwrap_or_else(|| panic!("expected a stanza error, got {e}"))
                .condition
        }
    }
}

/// Receives until a stanza satisfying `want` arrives (others are skipped), or panics with
/// `what` after [`ARRIVES`].
pub async fn expect(client: &mut Bound, what: &str, want: impl Fn(&Element) -> bool) -> Element {
    let deadline = tokio::time::Instant::now() + ARRIVES;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        match client.recv_timeout(left).await {
            Ok(Some(el)) if want(&el) => return el,
            Ok(Some(_)) => {}
            Ok(None) => panic!("{what}: nothing matching arrived in {ARRIVES:?}"),
            Err(e) => panic!("{what}: {e}"),
        }
    }
}

/// One expectation of [`expect_each`]: what it is called in a failure, and the test.
pub type Want<'a> = (&'a str, &'a dyn Fn(&Element) -> bool);

/// Receives until every expectation has been met, in any order (the server may interleave a
/// roster push, a presence and a server push differently); returns the matches in the order
/// of `wants`.
pub async fn expect_each(client: &mut Bound, wants: &[Want<'_>]) -> Vec<Element> {
    let mut found: Vec<Option<Element>> = vec![None; wants.len()];
    let deadline = tokio::time::Instant::now() + ARRIVES;
    while found.iter().any(Option::is_none) {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let el = match client.recv_timeout(left).await {
            Ok(Some(el)) => el,
            Ok(None) => {
                let missing: Vec<&str> = wants
                    .iter()
                    .zip(&found)
                    .filter(|(_, f)| f.is_none())
                    .map(|((what, _), _)| *what)
                    .collect();
                panic!("still waiting for {missing:?} after {ARRIVES:?}");
            }
            Err(e) => panic!("{e}"),
        };
        if let Some(i) = (0..wants.len()).find(|&i| found[i].is_none() && (wants[i].1)(&el)) {
            found[i] = Some(el);
        }
    }
    found.into_iter().flatten().collect()
}

/// Drains whatever arrives within `limit` and returns it.
pub async fn drain(client: &mut Bound, limit: Duration) -> Vec<Element> {
    let mut got = Vec::new();
    while let Ok(Some(el)) = client.recv_timeout(limit).await {
        got.push(el);
    }
    got
}

/// A roster push (iq set) for `contact`.
pub fn is_roster_push(el: &Element, contact: &str) -> bool {
    el.name() == "iq"
        && el.attr("type") == Some("set")
        && el
            .get_child("query", ns::ROSTER)
            .is_some_and(|q| item(q, contact).is_some())
}

/// The item of a roster push.
pub fn pushed_item<'a>(el: &'a Element, contact: &str) -> &'a Element {
    let q = el.get_child("query", ns::ROSTER).expect("roster query");
    item(q, contact).expect("pushed item")
}

/// Presence of `type` (None = available) from the bare JID `from` (any connection of it).
pub fn is_presence(el: &Element, from: &str, presence_type: Option<&str>) -> bool {
    el.name() == "presence"
        && el.attr("type") == presence_type
        && el
            .attr("from")
            .is_some_and(|f| f == from || f.starts_with(&format!("{from}/")))
}

/// A server push message whose payload element is `name`.
pub fn is_push(el: &Element, name: &str) -> bool {
    push_payload(el, name).is_some()
}

pub fn push_payload<'a>(el: &'a Element, name: &str) -> Option<&'a Element> {
    (el.name() == "message")
        .then(|| el.get_child("push", NS_PUSH))
        .flatten()
        .and_then(|p| p.get_child(name, NS_PUSH))
}

/// Logs in, asks for the roster (becoming an interested resource) and sends initial presence,
/// then drains what the login brought (own presence, probes, stored pushes) into the result.
pub async fn online(t: &TestServer, name: &str) -> (Bound, Vec<Element>) {
    let mut client = t.login(name).await.expect("login");
    roster(&mut client, None).await;
    client.send_presence().await.expect("presence");
    let got = drain(&mut client, Duration::from_millis(400)).await;
    (client, got)
}
