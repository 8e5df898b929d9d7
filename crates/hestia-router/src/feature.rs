//! Features as data: each protocol area returns a [`Feature`] naming the clauses it implements,
//! the IQs it handles (keyed by type, element and namespace) and the disco features it adds.
//! [`Registry::new`] takes the list from one place (`hestia_features::all`) and refuses two
//! handlers for one key at startup. A feature may also host a [`Service`] at an address of its
//! own (the bytestream proxy at `proxy.D`); IQs to that address reach only its handlers.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use hestia_proto::{IqType, Jid, StanzaError};
use hestia_xml::Element;

use crate::Irsp;

/// A clause of a standard that a feature implements (feeds `docs/conformance.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Clause {
    pub standard: &'static str,
    pub clause: &'static str,
    pub title: &'static str,
}

impl Clause {
    pub const fn new(standard: &'static str, clause: &'static str, title: &'static str) -> Clause {
        Clause {
            standard,
            clause,
            title,
        }
    }
}

/// The key an IQ request is dispatched on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IqKey {
    pub iq_type: IqType,
    pub name: &'static str,
    pub ns: &'static str,
}

impl IqKey {
    pub const fn get(name: &'static str, ns: &'static str) -> IqKey {
        IqKey {
            iq_type: IqType::Get,
            name,
            ns,
        }
    }

    pub const fn set(name: &'static str, ns: &'static str) -> IqKey {
        IqKey {
            iq_type: IqType::Set,
            name,
            ns,
        }
    }
}

/// Who sent an IQ the server itself answers, and what it asked.
#[derive(Debug, Clone)]
pub struct IqRequest {
    /// The sender's full JID, stamped by the server; None before authentication
    /// (in-band registration).
    pub from: Option<Jid>,
    /// The addressee: the domain, or the sender's own bare JID (RFC 6120 §10.3.3), or another
    /// account's bare JID (answered on its behalf).
    pub to: Jid,
    pub iq: Element,
    /// Source address of the connection, for throttling.
    pub remote_ip: Option<std::net::IpAddr>,
}

impl IqRequest {
    /// The single payload child (the dispatcher guarantees it exists).
    pub fn payload(&self) -> &Element {
        hestia_proto::stanza::iq_payload(&self.iq).unwrap_or(&self.iq)
    }
}

/// A handler's answer: the result payload (or none), or an error.
pub type IqResult = Result<Option<Element>, StanzaError>;

pub type IqFuture = Pin<Box<dyn Future<Output = IqResult> + Send>>;

/// An IQ handler; `is_pre_auth` marks the few that may run before authentication.
#[derive(Clone)]
pub struct IqHandler {
    pub key: IqKey,
    pub is_pre_auth: bool,
    /// Handles requests addressed to an account's bare JID too (not only to the domain).
    pub is_for_accounts: bool,
    /// Handles requests addressed to any hosted service too (disco answers for every address).
    pub is_for_services: bool,
    /// Handles only requests addressed to the service of this name (never the domain's).
    pub service: Option<&'static str>,
    pub run: Arc<dyn Fn(Arc<Irsp>, IqRequest) -> IqFuture + Send + Sync>,
}

impl std::fmt::Debug for IqHandler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IqHandler").field("key", &self.key).finish()
    }
}

impl IqHandler {
    pub fn new<F, Fut>(key: IqKey, run: F) -> IqHandler
    where
        F: Fn(Arc<Irsp>, IqRequest) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = IqResult> + Send + 'static,
    {
        IqHandler {
            key,
            is_pre_auth: false,
            is_for_accounts: false,
            is_for_services: false,
            service: None,
            run: Arc::new(move |irsp, req| Box::pin(run(irsp, req))),
        }
    }

    pub fn pre_auth(mut self) -> IqHandler {
        self.is_pre_auth = true;
        self
    }

    pub fn for_accounts(mut self) -> IqHandler {
        self.is_for_accounts = true;
        self
    }

    pub fn for_services(mut self) -> IqHandler {
        self.is_for_services = true;
        self
    }

    /// Restricts the handler to IQs addressed to the service named `name`.
    pub fn of_service(mut self, name: &'static str) -> IqHandler {
        self.service = Some(name);
        self
    }

    /// Whether this handler answers an IQ addressed to `service` (None: the domain or an
    /// account, which `is_for_accounts` and the router decide between).
    pub fn answers_for(&self, service: Option<&Service>) -> bool {
        match (service, self.service) {
            (None, None) => true,
            (None, Some(_)) => false,
            (Some(s), own) => own == Some(s.name) || (own.is_none() && self.is_for_services),
        }
    }
}

/// A XEP-0030 identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub category: &'static str,
    pub kind: &'static str,
    pub name: &'static str,
}

/// A service the IRSP hosts at an address of its own (a disco#items entry of the domain),
/// reachable only at exactly that domain-only JID.
#[derive(Debug, Clone)]
pub struct Service {
    /// Names the service for [`IqHandler::of_service`].
    pub name: &'static str,
    pub jid: Jid,
    pub identity: Identity,
    /// `var`s of the service's own disco#info.
    pub disco_features: Vec<&'static str>,
}

pub type PresenceFuture = Pin<Box<dyn Future<Output = ()> + Send>>;

/// Handles subscription presence (`subscribe`, `subscribed`, `unsubscribe`, `unsubscribed`)
/// from a bound connection (full JID) to a local account (bare JID).
#[derive(Clone)]
pub struct SubscriptionHandler {
    pub run: Arc<dyn Fn(Arc<Irsp>, Jid, Jid, Element) -> PresenceFuture + Send + Sync>,
}

impl SubscriptionHandler {
    pub fn new<F, Fut>(run: F) -> SubscriptionHandler
    where
        F: Fn(Arc<Irsp>, Jid, Jid, Element) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        SubscriptionHandler {
            run: Arc::new(move |irsp, from, to, presence| Box::pin(run(irsp, from, to, presence))),
        }
    }
}

impl std::fmt::Debug for SubscriptionHandler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SubscriptionHandler")
    }
}

/// One protocol area's contribution.
#[derive(Debug, Clone, Default)]
pub struct Feature {
    pub name: &'static str,
    pub clauses: Vec<Clause>,
    pub iq_handlers: Vec<IqHandler>,
    /// `var`s this feature adds to the server's disco#info.
    pub disco_features: Vec<&'static str>,
    /// Elements this feature adds to `<stream:features/>` after authentication.
    pub stream_features: Vec<Element>,
    /// Elements added to `<stream:features/>` before authentication (e.g. XEP-0077's).
    pub pre_auth_stream_features: Vec<Element>,
    /// The handler of subscription presence (one feature at most provides it).
    pub subscription_handler: Option<SubscriptionHandler>,
    /// Services hosted at their own address.
    pub services: Vec<Service>,
}

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("two handlers for {0:?}: features {1} and {2}")]
    DuplicateHandler(IqKey, &'static str, &'static str),
    #[error("two subscription handlers: features {0} and {1}")]
    DuplicateSubscriptionHandler(&'static str, &'static str),
    #[error("two services at {0}")]
    DuplicateService(Jid),
}

/// All features, indexed for dispatch.
#[derive(Debug, Default)]
pub struct Registry {
    features: Vec<Feature>,
    handlers: HashMap<IqKey, (IqHandler, &'static str)>,
    /// namespace → handlers in it, so a received IQ is found without allocating.
    by_ns: HashMap<&'static str, Vec<IqHandler>>,
    /// Hosted services by their domain.
    services: HashMap<String, Service>,
}

impl Registry {
    pub fn new(features: Vec<Feature>) -> Result<Registry, RegistryError> {
        let mut handlers = HashMap::new();
        for f in &features {
            for h in &f.iq_handlers {
                if let Some((_, other)) = handlers.insert(h.key, (h.clone(), f.name)) {
                    return Err(RegistryError::DuplicateHandler(h.key, other, f.name));
                }
            }
        }
        let mut subscription: Option<&Feature> = None;
        for f in features.iter().filter(|f| f.subscription_handler.is_some()) {
            if let Some(other) = subscription {
                return Err(RegistryError::DuplicateSubscriptionHandler(
                    other.name, f.name,
                ));
            }
            subscription = Some(f);
        }
        let mut by_ns: HashMap<&'static str, Vec<IqHandler>> = HashMap::new();
        for (h, _) in handlers.values() {
            by_ns.entry(h.key.ns).or_default().push(h.clone());
        }
        let mut services = HashMap::new();
        for s in features.iter().flat_map(|f| &f.services) {
            if services
                .insert(s.jid.domain().to_owned(), s.clone())
                .is_some()
            {
                return Err(RegistryError::DuplicateService(s.jid.clone()));
            }
        }
        Ok(Registry {
            features,
            handlers,
            by_ns,
            services,
        })
    }

    pub fn handler(&self, key: &IqKey) -> Option<&IqHandler> {
        self.handlers.get(key).map(|(h, _)| h)
    }

    /// Looks up by the runtime strings of a received IQ.
    pub fn find(&self, iq_type: IqType, name: &str, ns: &str) -> Option<&IqHandler> {
        self.by_ns
            .get(ns)?
            .iter()
            .find(|h| h.key.iq_type == iq_type && h.key.name == name)
    }

    /// The feature-provided handler of subscription presence, if any.
    pub fn subscription_handler(&self) -> Option<&SubscriptionHandler> {
        self.features
            .iter()
            .find_map(|f| f.subscription_handler.as_ref())
    }

    /// The service hosted at exactly `jid` (a domain-only address), if any.
    pub fn service(&self, jid: &Jid) -> Option<&Service> {
        if jid.local().is_some() || jid.resource().is_some() {
            return None;
        }
        self.services.get(jid.domain())
    }

    /// Every hosted service, sorted by address (the domain's disco#items).
    pub fn services(&self) -> Vec<&Service> {
        let mut v: Vec<&Service> = self.services.values().collect();
        v.sort_by(|a, b| a.jid.cmp(&b.jid));
        v
    }

    pub fn features(&self) -> &[Feature] {
        &self.features
    }

    /// The server's disco#info feature list: every feature's vars, sorted and unique.
    pub fn disco_features(&self) -> Vec<&'static str> {
        let mut vars: Vec<_> = self
            .features
            .iter()
            .flat_map(|f| f.disco_features.iter().copied())
            .collect();
        vars.sort_unstable();
        vars.dedup();
        vars
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn noop(key: IqKey) -> IqHandler {
        IqHandler::new(key, |_, _| async { Ok(None) })
    }

    #[test]
    fn duplicate_handlers_are_a_startup_error() {
        let key = IqKey::get("ping", "urn:xmpp:ping");
        let a = Feature {
            name: "a",
            iq_handlers: vec![noop(key)],
            ..Default::default()
        };
        let b = Feature {
            name: "b",
            iq_handlers: vec![noop(key)],
            ..Default::default()
        };
        assert!(matches!(
            Registry::new(vec![a, b]),
            Err(RegistryError::DuplicateHandler(_, "a", "b"))
        ));
    }

    fn service(name: &'static str, jid: &str) -> Service {
        Service {
            name,
            jid: Jid::parse(jid).expect("jid"),
            identity: Identity {
                category: "proxy",
                kind: "bytestreams",
                name: "test",
            },
            disco_features: vec![],
        }
    }

    #[test]
    fn two_services_at_one_address_are_a_startup_error() {
        let f = |name| Feature {
            name,
            services: vec![service(name, "proxy.example")],
            ..Default::default()
        };
        assert!(matches!(
            Registry::new(vec![f("a"), f("b")]),
            Err(RegistryError::DuplicateService(_))
        ));
    }

    #[test]
    fn a_service_is_exactly_its_domain_only_address() {
        let f = Feature {
            name: "a",
            services: vec![service("proxy", "proxy.example")],
            ..Default::default()
        };
        let reg = Registry::new(vec![f]).expect("registry");
        for (jid, is_service) in [
            ("proxy.example", true),
            ("PROXY.example", true),
            ("u@proxy.example", false),
            ("proxy.example/r", false),
            ("example", false),
        ] {
            let jid = Jid::parse(jid).expect("jid");
            assert_eq!(reg.service(&jid).is_some(), is_service, "{jid}");
        }
    }

    #[test]
    fn handlers_answer_only_for_their_addresses() {
        let proxy = service("proxy", "proxy.example");
        let other = service("other", "other.example");
        let plain = noop(IqKey::get("a", "urn:a"));
        let everywhere = noop(IqKey::get("b", "urn:a")).for_services();
        let own = noop(IqKey::get("c", "urn:a")).of_service("proxy");
        for (handler, domain, at_proxy, at_other) in [
            (&plain, true, false, false),
            (&everywhere, true, true, true),
            (&own, false, true, false),
        ] {
            assert_eq!(handler.answers_for(None), domain, "{:?}", handler.key);
            assert_eq!(
                handler.answers_for(Some(&proxy)),
                at_proxy,
                "{:?}",
                handler.key
            );
            assert_eq!(
                handler.answers_for(Some(&other)),
                at_other,
                "{:?}",
                handler.key
            );
        }
    }

    #[test]
    fn disco_features_are_sorted_and_unique() {
        let a = Feature {
            name: "a",
            disco_features: vec!["z", "b"],
            ..Default::default()
        };
        let b = Feature {
            name: "b",
            disco_features: vec!["b", "a"],
            ..Default::default()
        };
        let reg = Registry::new(vec![a, b]).expect("no duplicates");
        assert_eq!(reg.disco_features(), vec!["a", "b", "z"]);
    }
}
