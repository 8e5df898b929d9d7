//! Point-to-multipoint with an explicit address list (14543-5-8 §11.7.2, XEP-0033): a message
//! to the domain with `<addresses/>` reaches each related `to`/`cc`/`bcc` recipient once, with
//! `bcc` hidden and every address marked delivered; a recipient the sender may not reach gets
//! the sender an error naming only that address, exactly what an unknown address gets; an
//! offline recipient has its copy stored.

#![allow(clippy::expect_used)]

mod conversation;

use conversation::*;
use hestia_proto::{StanzaErrorCondition as Cond, ns};
use hestia_testkit::TestServer;
use hestia_xml::Element;

fn address(kind: &str, jid: &str) -> Element {
    Element::new("address", ns::ADDRESS)
        .with_attr("type", kind)
        .with_attr("jid", jid)
}

fn multicast(domain: &str, body_text: &str, addresses: Vec<Element>) -> Element {
    let mut list = Element::new("addresses", ns::ADDRESS);
    for a in addresses {
        list.push_child(a);
    }
    Element::new("message", ns::CLIENT)
        .with_attr("to", domain)
        .with_attr("type", "chat")
        .with_attr("id", "mc1")
        .with_child(Element::new("body", ns::CLIENT).with_text(body_text))
        .with_child(list)
}

fn listed(stanza: &Element) -> Vec<(String, String, bool)> {
    stanza
        .get_child("addresses", ns::ADDRESS)
        .map(|a| {
            a.children()
                .map(|x| {
                    (
                        x.attr("type").unwrap_or_default().to_owned(),
                        x.attr("jid").unwrap_or_default().to_owned(),
                        x.attr("delivered") == Some("true"),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn an_address_list_reaches_each_related_recipient_once_with_bcc_hidden() {
    let t = TestServer::start().await.expect("server");
    for u in ["alice", "bob", "carol", "dave", "mallory"] {
        t.add_user(u).await.expect("user");
    }
    for friend in ["bob", "carol", "dave"] {
        t.befriend("alice", friend).await.expect("friends");
    }
    let d = t.domain();
    let jid = |u: &str| format!("{u}@{d}");
    let mut alice = t.login_available("alice").await.expect("alice");
    let mut bob = t.login_available("bob").await.expect("bob");
    let mut carol = t.login_available("carol").await.expect("carol");
    let mut mallory = t.login_available("mallory").await.expect("mallory");
    // Presence from the friends' logins is not what this test is about.
    for c in [&mut alice, &mut bob, &mut carol] {
        while c.recv_timeout(QUIET).await.expect("drain").is_some() {}
    }

    let msg = multicast(
        &d,
        "dinner at 8",
        vec![
            address("to", &jid("bob")),
            address("cc", &jid("carol")),
            address("bcc", &jid("dave")),
            address("to", &jid("bob")),
            address("to", &jid("mallory")),
            address("replyto", &jid("alice")),
        ],
    );
    alice.send(&msg).await.expect("send");
    let want_header = vec![
        ("to".to_owned(), jid("bob"), true),
        ("cc".to_owned(), jid("carol"), true),
        ("to".to_owned(), jid("bob"), true),
        ("to".to_owned(), jid("mallory"), true),
        ("replyto".to_owned(), jid("alice"), false),
    ];
    for (client, name) in [(&mut bob, "bob"), (&mut carol, "carol")] {
        let got = client.recv().await.expect("copy");
        assert_eq!(body(&got).as_deref(), Some("dinner at 8"), "{got}");
        assert_eq!(got.attr("from"), Some(alice.jid().to_string().as_str()));
        assert!(
            got.attr("to").is_some_and(|to| to.starts_with(&jid(name))),
            "{got}"
        );
        assert_eq!(
            listed(&got),
            want_header,
            "bcc hidden, delivered marked: {got}"
        );
        assert_quiet(client).await;
    }
    // Mallory is not alice's friend: she receives nothing, alice an error naming her only.
    assert_quiet(&mut mallory).await;
    let refusal = alice.recv().await.expect("refusal");
    assert_bounce(&refusal, Cond::ServiceUnavailable);
    assert_eq!(
        listed(&refusal),
        vec![("to".to_owned(), jid("mallory"), false)]
    );
    assert_quiet(&mut alice).await;

    // Dave (bcc) was offline: his copy waits for him, without the bcc list.
    let mut dave = t.login_available("dave").await.expect("dave");
    let stored = loop {
        let got = dave.recv().await.expect("stored copy");
        if got.name() == "message" {
            break got;
        }
    };
    assert_eq!(body(&stored).as_deref(), Some("dinner at 8"));
    assert!(stored.get_child("delay", ns::DELAY).is_some(), "{stored}");
    assert_eq!(listed(&stored), want_header);
    t.stop().await;
}

#[tokio::test]
async fn oversized_or_empty_address_lists_are_refused_whole() {
    let t = TestServer::start().await.expect("server");
    t.add_user("alice").await.expect("alice");
    t.add_user("bob").await.expect("bob");
    t.befriend("alice", "bob").await.expect("friends");
    let d = t.domain();
    let mut alice = t.login("alice").await.expect("alice");
    let mut bob = t.login_available("bob").await.expect("bob");
    let _ = bob.recv_timeout(QUIET).await;

    let many = (0..=hestia_router::multicast::MAX_RECIPIENTS)
        .map(|i| address("to", &format!("user{i}@{d}")))
        .collect();
    alice
        .send(&multicast(&d, "spam", many))
        .await
        .expect("send");
    let refusal = alice.recv().await.expect("refusal");
    assert_bounce(&refusal, Cond::PolicyViolation);

    alice
        .send(&multicast(
            &d,
            "nobody",
            vec![address("replyto", &format!("bob@{d}"))],
        ))
        .await
        .expect("send");
    assert_bounce(&alice.recv().await.expect("refusal"), Cond::BadRequest);

    let uri_only = Element::new("address", ns::ADDRESS)
        .with_attr("type", "to")
        .with_attr("uri", "mailto:bob@example.com");
    alice
        .send(&multicast(&d, "uri", vec![uri_only]))
        .await
        .expect("send");
    assert_bounce(&alice.recv().await.expect("refusal"), Cond::JidMalformed);
    assert_quiet(&mut bob).await;
    t.stop().await;
}
