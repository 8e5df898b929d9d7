//! The options of one MQTT cluster (`[[mqtt]]`), each with its default, their checks, and the
//! settings resolved from them at startup.

use std::collections::BTreeMap;

use hestia_config::{Duration, Secret};

use super::MemberRight;

/// A CUI user's right on the whole MQTT cluster: the relationship (§7) between the user's
/// IGRS account and this cluster.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Member {
    /// The IGRS account (the localpart a person signs in with).
    pub user: String,
    /// `view` (see and read), `control` (also set) or `owner` (as control).
    pub right: MemberRight,
}

hestia_config::section! {
    /// One home on an MQTT broker whose devices follow the Homie convention v5: its devices
    /// appear as `<name>:<homie device id>` beside the IGRS ones, to the users listed in
    /// `members`.
    pub struct MqttConfig {
        /// The cluster's name, the first part of its device ids (1-32 of a-z, 0-9, -; not "igrs").
        pub name: String = "home".into(),
        /// The broker, host:port or mqtt://host:port (plain TCP).
        pub broker: String = "127.0.0.1:1883".into(),
        /// User name at the broker; empty = anonymous.
        pub username: String = String::new(),
        /// Password at the broker (never logged); set it with HESTIA_MQTT_<i>_PASSWORD.
        pub password: Secret = Secret::new(""),
        /// The Homie root topic: devices publish under <root>/5/<device>/...
        pub root: String = "homie".into(),
        /// How long a set waits for the device to publish the new value before it fails with
        /// `timeout`.
        pub set_timeout: Duration = Duration::secs(5),
        /// The MQTT client id; empty = "hestia-<name>-" and a random suffix.
        pub client_id: String = String::new(),
        /// Who sees the cluster's devices, e.g. [{ user = "alice", right = "control" },
        /// { user = "carol", right = "view" }]; a user not listed sees none of them.
        pub members: Vec<Member> = Vec::new(),
    }
}

/// What the MQTT cluster runs with, resolved and checked.
#[derive(Debug, Clone)]
pub struct MqttSettings {
    pub name: String,
    pub host: String,
    pub port: u16,
    /// User name and password at the broker.
    pub credentials: Option<(String, Secret)>,
    pub root: String,
    pub set_timeout: std::time::Duration,
    pub client_id: String,
    pub members: BTreeMap<String, MemberRight>,
}

/// The longest set timeout: the CUI's longest wait is 8 s, and a device that has not answered
/// within a minute will not.
const MAX_SET_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

impl MqttSettings {
    /// Every problem of the configured clusters, prefixed with their place in the file.
    pub fn problems(configs: &[MqttConfig]) -> Vec<String> {
        let mut p = Vec::new();
        let mut names = Vec::new();
        for (i, c) in configs.iter().enumerate() {
            let at = format!("mqtt[{i}]");
            if let Err(e) = MqttSettings::new(c) {
                p.extend(e.into_iter().map(|e| format!("{at}.{e}")));
            }
            if names.contains(&c.name) {
                p.push(format!("{at}.name {:?} is used twice", c.name));
            }
            names.push(c.name.clone());
        }
        p
    }

    /// The settings of one `[[mqtt]]` entry, or every problem it has.
    pub fn new(c: &MqttConfig) -> Result<MqttSettings, Vec<String>> {
        let mut p = Vec::new();
        let is_name_ok =
            crate::model::DeviceId::new(&c.name, "x").is_ok() && c.name != crate::igrs::CLUSTER;
        if !is_name_ok {
            p.push(format!(
                "name {:?} must be 1-32 of a-z, 0-9 and - (and not \"igrs\")",
                c.name
            ));
        }
        let address = c.broker.strip_prefix("mqtt://").unwrap_or(&c.broker);
        let parsed = address
            .rsplit_once(':')
            .and_then(|(h, port)| Some((h.trim_matches(['[', ']']), port.parse::<u16>().ok()?)))
            .filter(|(h, port)| !h.is_empty() && *port > 0);
        if parsed.is_none() {
            p.push(format!("broker {:?} is not host:port", c.broker));
        }
        let is_root_ok = !c.root.is_empty()
            && !c.root.starts_with('$')
            && !c.root.contains(['/', '+', '#', '\0']);
        if !is_root_ok {
            p.push(format!("root {:?} must be one topic level", c.root));
        }
        let timeout = c.set_timeout.get();
        if timeout.is_zero() || timeout > MAX_SET_TIMEOUT {
            p.push("set_timeout must be between 1ms and 60s".into());
        }
        if c.username.is_empty() && !c.password.is_empty() {
            p.push("password needs a username".into());
        }
        let mut members = BTreeMap::new();
        for m in &c.members {
            if m.user.is_empty() || members.insert(m.user.clone(), m.right).is_some() {
                p.push(format!("members: {:?} is empty or listed twice", m.user));
            }
        }
        let (Some((host, port)), true) = (parsed, p.is_empty()) else {
            return Err(p);
        };
        let client_id = if c.client_id.is_empty() {
            format!("hestia-{}-{:08x}", c.name, rand::random::<u32>())
        } else {
            c.client_id.clone()
        };
        Ok(MqttSettings {
            name: c.name.clone(),
            host: host.to_owned(),
            port,
            credentials: (!c.username.is_empty()).then(|| (c.username.clone(), c.password.clone())),
            root: c.root.clone(),
            set_timeout: timeout,
            client_id,
            members,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_good_entry_resolves_and_every_problem_is_named() {
        let good = MqttConfig {
            broker: "mqtt://broker.local:1884".into(),
            members: vec![Member {
                user: "alice".into(),
                right: MemberRight::Control,
            }],
            ..MqttConfig::default()
        };
        let s = MqttSettings::new(&good).expect("valid");
        assert_eq!((s.host.as_str(), s.port), ("broker.local", 1884));
        assert!(s.client_id.starts_with("hestia-home-"));
        assert_eq!(s.members.get("alice"), Some(&MemberRight::Control));
        assert!(s.credentials.is_none());
        let bad = MqttConfig {
            name: "IGRS".into(),
            broker: "nowhere".into(),
            root: "a/b".into(),
            set_timeout: Duration::secs(0),
            password: Secret::new("p"),
            members: vec![
                Member {
                    user: "bob".into(),
                    right: MemberRight::View,
                },
                Member {
                    user: "bob".into(),
                    right: MemberRight::Owner,
                },
            ],
            ..MqttConfig::default()
        };
        assert_eq!(MqttSettings::new(&bad).expect_err("invalid").len(), 6);
        let twice = MqttSettings::problems(&[MqttConfig::default(), MqttConfig::default()]);
        assert_eq!(twice, ["mqtt[1].name \"home\" is used twice"]);
    }
}
