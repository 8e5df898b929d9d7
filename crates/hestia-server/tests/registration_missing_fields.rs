//! A registration without username or password, or with an empty username, or a device element
//! without a type, is `bad-request` with IGRS status 2.

mod conversation;

use conversation::*;
use hestia_proto::igrs::{NS_REGISTER, RegistrationStatus as Status};
use hestia_proto::{StanzaErrorCondition as Cond, ns};
use hestia_testkit::TestServer;
use hestia_xml::Element;

fn query(children: &[(&str, &str)]) -> Element {
    children
        .iter()
        .fold(Element::new("query", ns::REGISTER), |q, (name, value)| {
            q.with_child(Element::new(*name, ns::REGISTER).with_text(*value))
        })
}

#[tokio::test]
async fn missing_fields_are_bad_request_with_status_2() {
    let t = TestServer::start().await.expect("server");
    let untyped_device = query(&[("username", "dev"), ("password", GOOD_PASSWORD)])
        .with_child(Element::new("device", NS_REGISTER));
    let cases = [
        ("no fields", query(&[])),
        ("no password", query(&[("username", "bob")])),
        ("no username", query(&[("password", GOOD_PASSWORD)])),
        (
            "empty username",
            query(&[("username", ""), ("password", GOOD_PASSWORD)]),
        ),
        ("device without type", untyped_device),
    ];
    let mut c = connect_from(&t, None).await;
    for (i, (what, payload)) in cases.into_iter().enumerate() {
        let id = format!("r{i}");
        let req = iq("set", &id, None, payload);
        c.send_raw(req.to_xml(ns::CLIENT).as_bytes())
            .await
            .expect("send");
        let answer = c.recv().await.expect("answer");
        assert_eq!(answer.attr("id"), Some(id.as_str()), "{what}");
        let error = assert_bounce(&answer, Cond::BadRequest);
        assert_eq!(
            app_status(&error),
            Some(Status::MalformedField),
            "{what}: {answer}"
        );
    }
    assert!(
        t.server
            .irsp
            .store
            .list_accounts(None, 10, 0)
            .await
            .expect("store")
            .is_empty(),
        "nothing was created"
    );
    t.stop().await;
}
