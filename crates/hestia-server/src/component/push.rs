//! Server push over the component port: the component asks the IRSP to push on its behalf
//! with an IQ set from its own address to the domain ([`AppServer::push`] decides who may get
//! it — its grantors and their devices only):
//!
//! ```xml
//! <iq type='set' from='gateway.D' to='D' id='p1'>
//!   <push xmlns='urn:igrs:ra:0:push' devices-of='alice@D' transient='true'>
//!     <notice>the lamp was left on</notice>
//!   </push>
//! </iq>
//! <iq type='result' from='D' to='gateway.D' id='p1'>
//!   <push xmlns='urn:igrs:ra:0:push' recipients='2' delivered='1' stored='1' dropped='0'/>
//! </iq>
//! ```

use hestia_proto::igrs::NS_PUSH;
use hestia_proto::stanza::{error_reply, iq_result};
use hestia_proto::{Jid, StanzaError, StanzaErrorCondition as Cond};
use hestia_router::appserver::{AppError, AppServer, PushTo};
use hestia_router::push::Retention;
use hestia_xml::Element;

/// The `<push/>` request of `iq`, if it is one.
pub(super) fn request(iq: &Element) -> Option<&Element> {
    iq.get_child("push", NS_PUSH)
}

/// Carries out the push `iq` asks for and answers it.
pub(super) async fn answer(app: &AppServer, iq: &Element, request: &Element) -> Element {
    match push(app, request).await {
        Ok(report) => {
            let counts = Element::new("push", NS_PUSH)
                .with_attr("recipients", report.recipients.to_string())
                .with_attr("delivered", report.delivered.to_string())
                .with_attr("stored", report.stored.to_string())
                .with_attr("dropped", report.dropped.to_string());
            iq_result(iq, Some(counts))
        }
        Err((condition, text)) => error_reply(iq, &StanzaError::new(condition).with_text(text)),
    }
}

/// Why a push request was refused: the stanza error's condition and text.
type Refusal = (Cond, String);

async fn push(
    app: &AppServer,
    request: &Element,
) -> Result<hestia_router::push::PushReport, Refusal> {
    let domain = app.irsp().domain.domain().to_owned();
    let account = |attr: &str| -> Result<Option<String>, Refusal> {
        let Some(jid) = request.attr(attr) else {
            return Ok(None);
        };
        let local = Jid::parse(jid)
            .ok()
            .filter(|j| j.domain() == domain && j.resource().is_none())
            .and_then(|j| j.local().map(str::to_owned));
        local
            .map(Some)
            .ok_or_else(|| bad_request(format!("{attr} must be a bare JID at {domain}")))
    };
    let (to, devices_of) = (account("to")?, account("devices-of")?);
    let target = match (&to, &devices_of, request.attr("device-type")) {
        (Some(to), None, None) => PushTo::Account(to),
        (None, Some(user), None) => PushTo::DevicesOf(user),
        (None, None, Some(device_type)) => PushTo::DeviceType(device_type),
        _ => {
            return Err(bad_request(
                "name exactly one of to, devices-of, device-type",
            ));
        }
    };
    let mut payloads = request.children();
    let (Some(payload), None) = (payloads.next(), payloads.next()) else {
        return Err(bad_request("a push carries exactly one payload element"));
    };
    let retention = match request.attr("transient") {
        Some("true" | "1") => Retention::Transient,
        None | Some("false" | "0") => Retention::Stored,
        Some(_) => return Err(bad_request("transient is a boolean")),
    };
    app.push(target, payload.clone(), retention)
        .await
        .map_err(|e| match e {
            AppError::NotGranted(account) => (
                Cond::Forbidden,
                format!("{account} has not granted this application server"),
            ),
            other => {
                tracing::warn!(error = %other, "component push failed");
                (Cond::InternalServerError, "the push failed".to_owned())
            }
        })
}

fn bad_request(text: impl Into<String>) -> Refusal {
    (Cond::BadRequest, text.into())
}
