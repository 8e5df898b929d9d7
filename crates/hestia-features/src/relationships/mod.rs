//! Relationships, device access rights, verification codes and device search (ISO/IEC
//! 14543-5-8 §9, §10, §13) on RFC 6121 rosters and presence subscriptions.
//!
//! - `roster`: `jabber:iq:roster` get/set/remove with versioning (XEP-0237);
//! - `subscription`: subscription presence — RFC 6121 §3 between users, requests for a device
//!   routed to its owner and admins (Fig. 4);
//! - `relate`: the IQs to the IRSP that bind by verification code (Fig. 5), approve or reject a
//!   request, release (Fig. 7), transfer ownership and pair devices;
//! - `rights`: get and set a device's access rights and policy (§9);
//! - `vcode`: verification code reset by the owner or the device (§10.5);
//! - `search`: device search by exact ID (§13).
//!
//! Every change ends in `ops`, which writes through the router's relationship cache.

pub mod config;
mod lockout;
mod ops;
mod relate;
mod rights;
mod roster;
mod search;
mod subscription;
mod vcode;

use std::sync::Arc;

use hestia_proto::igrs::{NS_DEVICE, NS_RELATION, NS_RIGHTS, NS_VCODE, RelationRefusal};
use hestia_proto::{StanzaError, ns};
use hestia_router::relations::Snapshot;
use hestia_router::throttle::Throttle;
use hestia_router::{
    Clause, Feature, IqHandler, IqKey, IqRequest, IqResult, Irsp, SubscriptionHandler,
};
use hestia_store::StoreError;
use hestia_xml::Element;

pub use config::RelationshipsConfig;
use lockout::{Backoff, Lockout};

/// State shared by the handlers: options and the per-requester counters.
#[derive(Debug)]
pub struct Relationships {
    cfg: RelationshipsConfig,
    min_code_length: usize,
    code_failures: Lockout,
    searches: Throttle<String>,
}

impl Relationships {
    fn backoff(&self) -> Backoff {
        Backoff {
            failures_before: self.cfg.code_failures_before_lockout,
            base_secs: secs(self.cfg.code_lockout.get()),
            max_secs: secs(self.cfg.code_lockout_max.get()),
        }
    }
}

fn secs(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
}

pub(crate) fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, secs)
}

/// A store failure as the stanza error the requester sees.
pub(crate) fn internal(e: StoreError) -> StanzaError {
    tracing::error!(error = %e, "store failure in a relationship operation");
    StanzaError::new(hestia_proto::StanzaErrorCondition::InternalServerError)
}

/// The snapshot of a local account.
pub(crate) async fn snapshot(irsp: &Irsp, localpart: &str) -> Result<Arc<Snapshot>, StanzaError> {
    irsp.relations
        .snapshot(&irsp.store, localpart)
        .await
        .map_err(internal)
}

/// The requester's localpart (handlers only run for authenticated senders here).
pub(crate) fn requester(req: &IqRequest) -> Result<String, RelationRefusal> {
    req.from
        .as_ref()
        .and_then(|f| f.local())
        .map(str::to_owned)
        .ok_or(RelationRefusal::BadRequest)
}

type Handler = fn(Arc<Relationships>, Arc<Irsp>, IqRequest) -> futures_like::BoxedIq;

mod futures_like {
    pub type BoxedIq = std::pin::Pin<Box<dyn std::future::Future<Output = super::IqResult> + Send>>;
}

fn handler(service: &Arc<Relationships>, key: IqKey, run: Handler) -> IqHandler {
    let service = service.clone();
    IqHandler::new(key, move |irsp, req| run(service.clone(), irsp, req))
}

pub fn feature(cfg: &RelationshipsConfig, min_code_length: usize) -> Feature {
    let service = Arc::new(Relationships {
        cfg: cfg.clone(),
        min_code_length,
        code_failures: Lockout::default(),
        searches: Throttle::new(cfg.searches_per_minute, std::time::Duration::from_secs(60)),
    });
    let subscriptions = {
        let service = service.clone();
        SubscriptionHandler::new(move |irsp, from, to, presence| {
            let service = service.clone();
            async move { subscription::handle(&service, &irsp, &from, &to, presence).await }
        })
    };
    let s = &service;
    Feature {
        name: "relationships",
        clauses: clauses(),
        iq_handlers: vec![
            handler(s, IqKey::get("query", ns::ROSTER), |_, i, r| {
                Box::pin(roster::get(i, r))
            }),
            handler(s, IqKey::set("query", ns::ROSTER), |s, i, r| {
                Box::pin(roster::set(s, i, r))
            }),
            handler(s, IqKey::set("relate", NS_RELATION), |s, i, r| {
                Box::pin(relate::by_code(s, i, r))
            }),
            handler(s, IqKey::set("approve", NS_RELATION), |s, i, r| {
                Box::pin(relate::approve(s, i, r))
            }),
            handler(s, IqKey::set("reject", NS_RELATION), |s, i, r| {
                Box::pin(relate::reject(s, i, r))
            }),
            handler(s, IqKey::set("release", NS_RELATION), |_, i, r| {
                Box::pin(relate::release(i, r))
            }),
            handler(s, IqKey::set("transfer", NS_RELATION), |_, i, r| {
                Box::pin(relate::transfer(i, r))
            }),
            handler(s, IqKey::set("peer", NS_RELATION), |_, i, r| {
                Box::pin(relate::peer(i, r))
            }),
            handler(s, IqKey::get("rights", NS_RIGHTS), |_, i, r| {
                Box::pin(rights::get(i, r))
            }),
            handler(s, IqKey::set("rights", NS_RIGHTS), |_, i, r| {
                Box::pin(rights::set(i, r))
            }),
            handler(s, IqKey::set("reset", NS_VCODE), |s, i, r| {
                Box::pin(vcode::reset(s, i, r))
            }),
            handler(s, IqKey::get("search", NS_DEVICE), |s, i, r| {
                Box::pin(search::search(s, i, r))
            }),
        ],
        disco_features: vec![ns::ROSTER, NS_RELATION, NS_RIGHTS, NS_VCODE, NS_DEVICE],
        stream_features: vec![
            Element::new("ver", ns::ROSTER_VER),
            Element::new("sub", ns::PRE_APPROVAL),
        ],
        subscription_handler: Some(subscriptions),
        ..Default::default()
    }
}

fn clauses() -> Vec<Clause> {
    let c = Clause::new;
    vec![
        c(
            "ISO/IEC 14543-5-8",
            "§9",
            "Device access rights configuration",
        ),
        c(
            "ISO/IEC 14543-5-8",
            "§10",
            "Relationships (establishment with and without approval, release)",
        ),
        c("ISO/IEC 14543-5-8", "§10.5", "Verification code management"),
        c(
            "ISO/IEC 14543-5-8",
            "§13",
            "Online status and device search",
        ),
        c("RFC 6121", "§2", "Roster management"),
        c(
            "RFC 6121",
            "§3",
            "Managing presence subscriptions (incl. pre-approval)",
        ),
        c("RFC 6121", "§4", "Exchanging presence information"),
        c("XEP-0237", "§2", "Roster versioning"),
    ]
}
