//! Connection-ID binding (ISO/IEC 14543-5-8 §8 login; RFC 6120 §7 resource binding): the
//! server generates the connection ID unless the client asks for one. A device holds one
//! connection (a new login replaces the old, which gets `conflict`); a user may hold several up
//! to the configured limit, and a reused ID replaces the connection holding it.

use hestia_proto::igrs::ForcedLogout;
use hestia_proto::stanza::{error_reply, iq_result, new_id};
use hestia_proto::{IqType, Jid, StanzaError, StanzaErrorCondition as Cond, StreamError, ns};
use hestia_router::directory::BindRefusal;
use hestia_router::{SessionHandle, SessionInfo};
use hestia_xml::Element;
use tokio::sync::mpsc;

use crate::connection::{Connection, Exit, Phase, Step};

/// The requested resource of a bind IQ: Some(None) = server-generated, None = not a bind.
pub fn bind_request(iq: &Element) -> Option<Option<String>> {
    if iq.name() != "iq" || IqType::of(iq) != Some(IqType::Set) {
        return None;
    }
    let bind = hestia_proto::stanza::iq_payload(iq)?;
    if !bind.is("bind", ns::BIND) {
        return None;
    }
    Some(
        bind.get_child("resource", ns::BIND)
            .map(|r| r.text().trim().to_owned()),
    )
}

/// RFC 3921 session establishment, kept as a no-op for old clients (RFC 6121 Appendix E).
pub fn legacy_session(iq: &Element) -> Option<Element> {
    let payload = hestia_proto::stanza::iq_payload(iq)?;
    (iq.name() == "iq" && IqType::of(iq) == Some(IqType::Set) && payload.is("session", ns::SESSION))
        .then(|| {
            let mut reply = iq_result(iq, None);
            reply.remove_attr("from");
            reply
        })
}

impl Connection {
    pub(crate) fn on_bind(
        &mut self,
        iq: &Element,
        requested: Option<String>,
    ) -> Result<Step, Exit> {
        let Phase::Authenticated { account } = &self.phase else {
            return Ok(Step::Continue);
        };
        let account = account.clone();
        let domain = self.c2s.irsp.domain.domain().to_owned();
        let bare = match Jid::bare(&account.localpart, &domain) {
            Ok(j) => j,
            Err(_) => return Err(Exit::Stream(StreamError::InternalServerError, None)),
        };
        let resource = requested.filter(|r| !r.is_empty()).unwrap_or_else(new_id);
        let Ok(full) = bare.with_resource(&resource) else {
            self.write_error(iq, Cond::BadRequest);
            return Ok(Step::Continue);
        };
        let (tx, rx) = mpsc::channel(self.c2s.options.outbound_queue);
        let info = SessionInfo {
            jid: full.clone(),
            kind: account.kind,
            remote_addr: self.peer,
            is_tls: self.tls.is_some(),
            mechanism: account.mechanism,
            bound_at: std::time::SystemTime::now(),
        };
        let handle = SessionHandle::new(info, self.c2s.next_serial(), tx);
        let max = self.c2s.irsp.options.max_user_sessions;
        match self.c2s.irsp.directory.bind(handle.clone(), max) {
            Ok(replaced) => {
                for old in replaced {
                    hestia_router::push::force_logout(&self.c2s.irsp, &old, ForcedLogout::Replaced);
                }
            }
            Err(BindRefusal::TooManySessions) => {
                self.write_error(iq, Cond::ResourceConstraint);
                return Ok(Step::Continue);
            }
        }
        let payload = Element::new("bind", ns::BIND)
            .with_child(Element::new("jid", ns::BIND).with_text(full.to_string()));
        let mut reply = iq_result(iq, Some(payload));
        reply.remove_attr("from");
        reply.write_to(&mut self.out, ns::CLIENT);
        metrics::counter!("hestia_logins_total").increment(1);
        tracing::debug!(jid = %full, "connection ID bound");
        self.set_bound(account, handle, rx);
        Ok(Step::Continue)
    }

    fn write_error(&mut self, iq: &Element, condition: Cond) {
        let mut reply = error_reply(iq, &StanzaError::new(condition));
        reply.remove_attr("from");
        reply.write_to(&mut self.out, ns::CLIENT);
    }
}
