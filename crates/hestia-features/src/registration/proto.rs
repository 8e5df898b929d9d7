//! Wire form of XEP-0077 registration with the IGRS device extension (14543-5-8 §7): parsing
//! requests into [`RegistrationRequest`] and building the form and status replies.

use hestia_proto::igrs::{self, RegistrationStatus, device_field};
use hestia_proto::ns;
use hestia_store::{AccountKind, DeviceInfo, UserInfo};
use hestia_xml::Element;

/// What a registration (or password change, or cancel) asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
// Short-lived (parsed, matched, dropped): boxing the common variant would buy nothing.
#[allow(clippy::large_enum_variant)]
pub enum RegistrationRequest {
    Register(NewRegistration),
    Remove,
}

/// A new account as submitted, not yet validated.
#[derive(Clone, PartialEq, Eq)]
pub struct NewRegistration {
    pub username: String,
    pub password: String,
    pub kind: AccountKind,
    pub user: UserInfo,
    pub device: Option<DeviceInfo>,
    pub verification_code: Option<String>,
    pub invitation: Option<String>,
}

impl std::fmt::Debug for NewRegistration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the password or the code.
        f.debug_struct("NewRegistration")
            .field("username", &self.username)
            .field("kind", &self.kind)
            .field("device", &self.device)
            .finish_non_exhaustive()
    }
}

fn child_text(el: &Element, name: &str, ns: &str) -> Option<String> {
    el.get_child(name, ns).map(|c| c.text().trim().to_owned())
}

/// Parses `<query xmlns='jabber:iq:register'>` of an IQ set.
pub fn parse(query: &Element) -> Result<RegistrationRequest, RegistrationStatus> {
    if query.get_child("remove", ns::REGISTER).is_some() {
        return Ok(RegistrationRequest::Remove);
    }
    let username = child_text(query, "username", ns::REGISTER).filter(|s| !s.is_empty());
    let password = query.get_child("password", ns::REGISTER).map(Element::text);
    let (Some(username), Some(password)) = (username, password) else {
        return Err(RegistrationStatus::MalformedField);
    };
    let device_el = query.get_child("device", igrs::NS_REGISTER);
    let (device, verification_code) = match device_el {
        Some(d) => {
            let (info, code) = parse_device(d)?;
            (Some(info), code)
        }
        None => (None, None),
    };
    Ok(RegistrationRequest::Register(NewRegistration {
        username,
        password,
        kind: if device.is_some() {
            AccountKind::Device
        } else {
            AccountKind::User
        },
        user: UserInfo {
            name: child_text(query, "name", ns::REGISTER),
            email: child_text(query, "email", ns::REGISTER),
        },
        device,
        verification_code,
        invitation: child_text(query, "invitation", igrs::NS_REGISTER),
    }))
}

fn parse_device(d: &Element) -> Result<(DeviceInfo, Option<String>), RegistrationStatus> {
    let field = |name| child_text(d, name, igrs::NS_REGISTER).unwrap_or_default();
    let info = DeviceInfo {
        device_type: field(device_field::TYPE),
        model: field(device_field::MODEL),
        manufacturer: field(device_field::MANUFACTURER),
        serial: field(device_field::SERIAL),
    };
    if info.device_type.is_empty() {
        return Err(RegistrationStatus::MalformedField);
    }
    let code = child_text(d, device_field::VERIFICATION_CODE, igrs::NS_REGISTER);
    Ok((info, code))
}

/// The `<device/>` extension element a client adds to a registration.
pub fn device_element(info: &DeviceInfo, verification_code: &str) -> Element {
    igrs::DeviceRegistration {
        device_type: info.device_type.clone(),
        model: info.model.clone(),
        manufacturer: info.manufacturer.clone(),
        serial: info.serial.clone(),
        verification_code: verification_code.to_owned(),
    }
    .to_element()
}

/// The registration form (XEP-0077 §3.1), with the IGRS device fields as an empty template.
pub fn form(instructions: &str) -> Element {
    let empty_device = device_field::ALL
        .iter()
        .fold(Element::new("device", igrs::NS_REGISTER), |d, f| {
            d.with_child(Element::new(*f, igrs::NS_REGISTER))
        });
    Element::new("query", ns::REGISTER)
        .with_child(Element::new("instructions", ns::REGISTER).with_text(instructions))
        .with_child(Element::new("username", ns::REGISTER))
        .with_child(Element::new("password", ns::REGISTER))
        .with_child(empty_device)
}

/// What an authenticated entity sees (XEP-0077 §3.3: already registered).
pub fn registered(username: &str) -> Element {
    Element::new("query", ns::REGISTER)
        .with_child(Element::new("registered", ns::REGISTER))
        .with_child(Element::new("username", ns::REGISTER).with_text(username))
}

/// A successful result carries status 0 in the query.
pub fn success() -> Element {
    Element::new("query", ns::REGISTER).with_child(RegistrationStatus::Success.to_element())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q() -> Element {
        Element::new("query", ns::REGISTER)
    }
    fn t(name: &str, v: &str) -> Element {
        Element::new(name, ns::REGISTER).with_text(v)
    }

    #[test]
    fn parses_user_device_remove_and_malformed() {
        let user = q()
            .with_child(t("username", "alice"))
            .with_child(t("password", "secret-pw"));
        let Ok(RegistrationRequest::Register(r)) = parse(&user) else {
            panic!("user")
        };
        assert_eq!((r.username.as_str(), r.kind), ("alice", AccountKind::User));

        let info = DeviceInfo {
            device_type: "lamp".into(),
            model: "L1".into(),
            manufacturer: "Acme".into(),
            serial: "SN-1".into(),
        };
        let dev = q()
            .with_child(t("username", "lamp-1"))
            .with_child(t("password", "secret-pw"))
            .with_child(device_element(&info, "123456"));
        let Ok(RegistrationRequest::Register(r)) = parse(&dev) else {
            panic!("device")
        };
        assert_eq!(r.kind, AccountKind::Device);
        assert_eq!(r.device, Some(info));
        assert_eq!(r.verification_code.as_deref(), Some("123456"));

        let remove = q().with_child(Element::new("remove", ns::REGISTER));
        assert_eq!(parse(&remove), Ok(RegistrationRequest::Remove));

        let cases = [
            q(),
            q().with_child(t("username", "bob")),
            q().with_child(t("password", "x")),
            q().with_child(t("username", ""))
                .with_child(t("password", "secret-pw")),
            q().with_child(t("username", "d"))
                .with_child(t("password", "secret-pw"))
                .with_child(Element::new("device", igrs::NS_REGISTER)),
        ];
        for c in cases {
            assert_eq!(parse(&c), Err(RegistrationStatus::MalformedField), "{c}");
        }
    }

    #[test]
    fn debug_never_shows_secrets() {
        let user = q()
            .with_child(t("username", "alice"))
            .with_child(t("password", "hunter22"));
        let Ok(RegistrationRequest::Register(r)) = parse(&user) else {
            panic!()
        };
        assert!(!format!("{r:?}").contains("hunter22"));
    }
}
