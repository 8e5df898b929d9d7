//! Every connection's task holds its future for its whole life, so the future's size is paid per
//! idle connection (the idle-memory target is 8 KiB per connection, everything included). The
//! handlers' futures are boxed inside it; this keeps an accidental inline one from sneaking back.

#![cfg(test)]

use hestia_proto::Jid;
use hestia_router::{Irsp, Registry};
use hestia_session::{C2s, C2sOptions};

#[tokio::test]
async fn connection_task_future_stays_small() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite:{}", dir.path().join("t.db").display());
    let store = hestia_store::Store::open(&url).await.expect("store");
    let domain = Jid::domain_jid("localhost").expect("domain");
    let irsp = Irsp::new(
        domain,
        store,
        Registry::new(vec![]).expect("registry"),
        Default::default(),
    );
    let c2s = C2s::new(
        irsp,
        C2sOptions::default(),
        0,
        Default::default(),
        Default::default(),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let task = hestia_session::connection::run(c2s, tcp, addr, false, ());
    let size = std::mem::size_of_val(&task);
    assert!(size <= 2048, "the connection task's future is {size} bytes");
}
