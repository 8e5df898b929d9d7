//! Many clients logging in at once: 200 users authenticate, bind and ping concurrently, and
//! every one of them is served.

#![cfg(test)]

use std::collections::HashSet;
use std::sync::Arc;

use hestia_testkit::TestServer;
use tokio::task::JoinSet;

const USERS: usize = 200;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_concurrent_logins() {
    let t = Arc::new(TestServer::start().await.expect("server"));
    for n in 0..USERS {
        t.add_user(&format!("user{n}")).await.expect("user");
    }
    let mut logins = JoinSet::new();
    for n in 0..USERS {
        let t = t.clone();
        logins.spawn(async move {
            let mut session = t.login(&format!("user{n}")).await?;
            session.ping().await?;
            anyhow::Ok(session)
        });
    }
    let mut bound = Vec::new();
    while let Some(joined) = logins.join_next().await {
        bound.push(joined.expect("task").expect("login, bind and ping"));
    }
    let jids: HashSet<String> = bound
        .iter()
        .map(|b| b.jid().to_bare().to_string())
        .collect();
    assert_eq!(jids.len(), USERS, "every user bound once");
    drop(bound);
    if let Ok(t) = Arc::try_unwrap(t) {
        t.stop().await;
    }
}
