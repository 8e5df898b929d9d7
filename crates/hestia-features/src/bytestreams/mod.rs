//! NAT traversal (ISO/IEC 14543-5-8 §11.6): every entity talks over its own outbound
//! connection, and bulk streams go through the SOCKS5 bytestream proxy the IRSP hosts at
//! `proxy.D` (XEP-0065 §4–§6). In-band bytestreams (XEP-0047) are the fallback; they are IQs
//! between related full JIDs that the router relays like any other, so nothing here handles
//! them (see docs/protocol.md).
//!
//! The proxy activates a stream only for its initiator (the stream name hashes the
//! requester's stamped JID), only when both ends are connected, and only towards a target the
//! initiator may reach under the relationship rule — the same rule, with the same refusal, as
//! the streamhost offer (an IQ `set`) that came before.

pub mod config;
pub mod proto;
pub mod proxy;
pub mod socks5;

use std::sync::Arc;

use hestia_proto::{Jid, StanzaError, StanzaErrorCondition as Cond, ns};
use hestia_router::relations::Need;
use hestia_router::{
    Clause, Feature, Identity, IqHandler, IqKey, IqRequest, IqResult, Irsp, Service,
};

pub use config::ProxyConfig;
pub use proto::{Activation, DstAddr};
pub use proxy::{ActivationError, Proxy, StreamHost};

/// Names the proxy's handlers for the router (`IqHandler::of_service`).
pub const SERVICE: &str = "bytestreams-proxy";

fn clauses() -> Vec<Clause> {
    let c = |standard, clause, title| Clause {
        standard,
        clause,
        title,
    };
    vec![
        c(
            "ISO/IEC 14543-5-8",
            "§11.6",
            "NAT traversal: relayed over each entity's own connection; bytestream proxy",
        ),
        c(
            "XEP-0065",
            "§4",
            "Discovering the proxy and its network address",
        ),
        c(
            "XEP-0065",
            "§5.3.2",
            "SOCKS5 CONNECT with the stream hash as DST.ADDR, port 0",
        ),
        c(
            "XEP-0065",
            "§5.3.3",
            "Activation by the initiator once both ends are connected",
        ),
        c(
            "XEP-0065",
            "§6",
            "Activation errors: item-not-found, not-allowed",
        ),
        c(
            "RFC 1928",
            "§3–§6",
            "SOCKS5: no-authentication method, CONNECT, reply codes",
        ),
        c(
            "XEP-0047",
            "§2–§4",
            "In-band bytestreams relayed between related entities (end to end)",
        ),
    ]
}

/// The feature; without a running proxy it only declares its clauses.
pub fn feature(proxy: Option<Arc<Proxy>>) -> Feature {
    let Some(proxy) = proxy else {
        return Feature {
            name: "bytestreams",
            clauses: clauses(),
            ..Default::default()
        };
    };
    let (get, set) = (proxy.clone(), proxy.clone());
    Feature {
        name: "bytestreams",
        clauses: clauses(),
        iq_handlers: vec![
            IqHandler::new(IqKey::get("query", ns::BYTESTREAMS), move |_, _| {
                let s = get.streamhost.clone();
                async move { Ok(Some(proto::streamhost(&s.jid, &s.host, s.port))) }
            })
            .of_service(SERVICE),
            IqHandler::new(IqKey::set("query", ns::BYTESTREAMS), move |irsp, req| {
                activation(irsp, req, set.clone())
            })
            .of_service(SERVICE),
        ],
        services: vec![Service {
            name: SERVICE,
            jid: proxy.streamhost.jid.clone(),
            identity: Identity {
                category: "proxy",
                kind: "bytestreams",
                name: "SOCKS5 bytestreams proxy",
            },
            disco_features: vec![ns::DISCO_INFO, ns::BYTESTREAMS],
        }],
        ..Default::default()
    }
}

async fn activation(irsp: Arc<Irsp>, req: IqRequest, proxy: Arc<Proxy>) -> IqResult {
    let Some(from) = req.from.as_ref() else {
        return Err(Cond::ServiceUnavailable.into());
    };
    let Activation { sid, target } = Activation::parse(req.payload())?;
    activate(&irsp, &proxy, from, &sid, &target).await?;
    Ok(None)
}

/// XEP-0065 §5.3.3 under the IRSP's rules. The relationship comes first, so the answer for an
/// unrelated or non-existent target never depends on who is connected to the proxy.
async fn activate(
    irsp: &Irsp,
    proxy: &Arc<Proxy>,
    requester: &Jid,
    sid: &str,
    target: &Jid,
) -> Result<(), StanzaError> {
    let is_account = target.local().is_some() && target.domain() == irsp.domain.domain();
    if !is_account
        || !hestia_router::route::is_reachable(irsp, requester, target, Need::Control).await
    {
        metrics::counter!("hestia_proxy_activations_total", "result" => "unrelated").increment(1);
        return Err(Cond::ServiceUnavailable.into());
    }
    let dst = DstAddr::of(sid, requester, target);
    let outcome = proxy.activate(&dst);
    let label = match outcome {
        Ok(()) => "activated",
        Err(ActivationError::Unknown) => "unknown",
        Err(ActivationError::OneSided) => "one-sided",
        Err(ActivationError::Busy) => "busy",
    };
    metrics::counter!("hestia_proxy_activations_total", "result" => label).increment(1);
    outcome.map_err(|e| {
        let condition = match e {
            // Also what a non-initiator gets: its JID does not hash to the stream's name.
            ActivationError::Unknown => Cond::ItemNotFound,
            ActivationError::OneSided => Cond::NotAllowed,
            ActivationError::Busy => Cond::ResourceConstraint,
        };
        StanzaError::new(condition).with_text(e.to_string())
    })
}
