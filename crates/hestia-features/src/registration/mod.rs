//! Registration (ISO/IEC 14543-5-8 §7, ISO/IEC 14543-5-9 §8.2) over XEP-0077 In-Band
//! Registration, extended with the IGRS device fields and the registration status codes of
//! `hestia_proto::igrs`: register (before authentication), password change and cancel (after).

pub mod accounts;
pub mod config;
pub mod proto;

use std::sync::Arc;

use hestia_proto::igrs::RegistrationStatus;
use hestia_proto::{StanzaError, ns};
use hestia_router::{Clause, Feature, IqHandler, IqKey, IqRequest, IqResult, Irsp};
use hestia_xml::Element;

pub use accounts::{Origin, Registrar};
pub use config::{RegistrationConfig, RegistrationPolicy};
pub use proto::{NewRegistration, RegistrationRequest};

/// The stanza error carrying an IGRS status (its condition comes from the status table).
pub fn status_error(status: RegistrationStatus) -> StanzaError {
    let condition = status
        .condition()
        .unwrap_or(hestia_proto::StanzaErrorCondition::InternalServerError);
    StanzaError::new(condition)
        .with_text(status.meaning())
        .with_app(status.to_element())
}

pub fn feature(cfg: &RegistrationConfig) -> Feature {
    let registrar = Arc::new(Registrar::new(cfg.clone()));
    let is_open = cfg.policy != RegistrationPolicy::Closed;
    let get = IqHandler::new(IqKey::get("query", ns::REGISTER), form).pre_auth();
    let set = IqHandler::new(IqKey::set("query", ns::REGISTER), move |irsp, req| {
        let registrar = registrar.clone();
        async move { set(&registrar, irsp, req).await }
    })
    .pre_auth();
    Feature {
        name: "registration",
        clauses: vec![
            Clause {
                standard: "ISO/IEC 14543-5-8",
                clause: "§7",
                title: "Registration of users and devices",
            },
            Clause {
                standard: "ISO/IEC 14543-5-9",
                clause: "§8.2",
                title: "Account server functions",
            },
            Clause {
                standard: "XEP-0077",
                clause: "§3",
                title: "In-band registration, password change, cancel",
            },
        ],
        iq_handlers: vec![get, set],
        disco_features: vec![ns::REGISTER],
        pre_auth_stream_features: if is_open {
            vec![Element::new("register", ns::REGISTER_FEATURE)]
        } else {
            Vec::new()
        },
        ..Default::default()
    }
}

async fn form(_irsp: Arc<Irsp>, req: IqRequest) -> IqResult {
    Ok(Some(match &req.from {
        Some(from) => proto::registered(from.local().unwrap_or_default()),
        None => proto::form(
            "Choose a username and password. Devices add the IGRS device element with their type, model, manufacturer, serial and verification code.",
        ),
    }))
}

async fn set(registrar: &Registrar, irsp: Arc<Irsp>, req: IqRequest) -> IqResult {
    let request = proto::parse(req.payload()).map_err(status_error)?;
    match (&req.from, request) {
        (None, RegistrationRequest::Register(reg)) => {
            let origin = Origin::InBand { ip: req.remote_ip };
            registrar
                .register(&irsp, reg, origin)
                .await
                .map_err(status_error)?;
            Ok(Some(proto::success()))
        }
        // Cancel before authentication cannot name an account.
        (None, RegistrationRequest::Remove) => Err(status_error(RegistrationStatus::NotAllowed)),
        (Some(from), RegistrationRequest::Register(reg)) => {
            // XEP-0077 §3.3: an authenticated entity may only change its own password.
            let own = from.local().unwrap_or_default();
            if hestia_proto::jid::normalize_localpart(&reg.username)
                .ok()
                .as_deref()
                != Some(own)
            {
                return Err(status_error(RegistrationStatus::NotAllowed));
            }
            registrar
                .change_password(&irsp, own, &reg.password)
                .await
                .map_err(status_error)?;
            Ok(Some(proto::success()))
        }
        (Some(from), RegistrationRequest::Remove) => {
            let own = from.local().unwrap_or_default();
            accounts::delete_account(&irsp, own)
                .await
                .map_err(status_error)?;
            Ok(None)
        }
    }
}
