//! XEP-0077 §3.3: after login an IQ set with username and password changes the account's own
//! password (the new one works, the old one no longer does); naming another account is
//! `not-allowed` with IGRS status 5 and changes nothing.

mod conversation;

use conversation::*;
use hestia_proto::igrs::RegistrationStatus as Status;
use hestia_proto::{StanzaErrorCondition as Cond, ns};
use hestia_testkit::{PASSWORD, TestServer};
use hestia_xml::Element;

fn change(username: &str, password: &str) -> Element {
    Element::new("iq", ns::CLIENT)
        .with_attr("type", "set")
        .with_child(register_query(username, password))
}

#[tokio::test]
async fn a_user_changes_their_own_password_only() {
    let t = TestServer::start().await.expect("server");
    t.add_user("alice").await.expect("alice");
    t.add_user("bob").await.expect("bob");
    let mut alice = t.login("alice").await.expect("alice login");

    let new_password = "a-brand-new-password";
    let result = alice
        .iq(change("alice", new_password))
        .await
        .expect("password changed");
    assert_eq!(Status::find_in(&result), Some(Status::Success), "{result}");

    let other = alice.iq(change("bob", "hijacked-password")).await;
    assert_refused(other, Cond::NotAllowed, Status::NotAllowed);
    let weak = alice.iq(change("alice", "short")).await;
    assert_refused(weak, Cond::NotAcceptable, Status::PolicyFailed);
    assert_quiet(&mut alice).await;

    login_with(&t, "alice", new_password)
        .await
        .expect("the new password works");
    assert_sasl_failure(login_with(&t, "alice", PASSWORD).await, "not-authorized");
    t.login("bob").await.expect("bob's password is untouched");
    assert_sasl_failure(
        login_with(&t, "bob", "hijacked-password").await,
        "not-authorized",
    );
    t.stop().await;
}
