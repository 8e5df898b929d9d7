//! `hestia user|device|session|invite`: the account-server operations, performed through the
//! admin HTTP API of a running server so that its sessions see the change at once (a deleted or
//! disabled account is logged out).

use std::io::BufRead as _;

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use serde_json::{Value, json};

use crate::ConfigArgs;

/// Where the admin API is and how to authenticate.
#[derive(Debug, Clone, Args)]
pub struct ApiArgs {
    /// Admin API base URL (default: from http.listen in the configuration).
    #[arg(long, global = true)]
    url: Option<String>,
    /// Admin token (default: <data_dir>/admin-token).
    #[arg(
        long,
        global = true,
        env = "HESTIA_ADMIN_TOKEN",
        hide_env_values = true
    )]
    token: Option<String>,
    #[command(flatten)]
    config: ConfigArgs,
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Register a user (password read from stdin unless --password is given).
    Add {
        name: String,
        #[arg(long)]
        password: Option<String>,
        #[arg(long)]
        display_name: Option<String>,
        #[arg(long)]
        email: Option<String>,
        #[command(flatten)]
        api: ApiArgs,
    },
    /// Change a user's password (read from stdin unless --password is given).
    Passwd {
        name: String,
        #[arg(long)]
        password: Option<String>,
        #[command(flatten)]
        api: ApiArgs,
    },
    /// Modify a user's information (display name, email).
    Modify {
        name: String,
        #[arg(long)]
        display_name: Option<String>,
        #[arg(long)]
        email: Option<String>,
        #[command(flatten)]
        api: ApiArgs,
    },
    /// Delete a user or device account and everything it owned.
    Delete {
        name: String,
        #[command(flatten)]
        api: ApiArgs,
    },
    /// Refuse logins of an account and end its sessions.
    Disable {
        name: String,
        #[command(flatten)]
        api: ApiArgs,
    },
    /// Allow logins again.
    Enable {
        name: String,
        #[command(flatten)]
        api: ApiArgs,
    },
    /// Show one account.
    Show {
        name: String,
        #[command(flatten)]
        api: ApiArgs,
    },
    /// Show an account's relationships: roster items with kind and right (and, for a device,
    /// its policy and grants).
    Relationships {
        name: String,
        #[command(flatten)]
        api: ApiArgs,
    },
    /// List accounts.
    List {
        /// Only "user" or "device" accounts.
        #[arg(long)]
        kind: Option<String>,
        #[command(flatten)]
        api: ApiArgs,
    },
}

#[derive(Debug, Subcommand)]
pub enum DeviceCommand {
    /// Run simulated devices (lamp, thermostat, plug, camera-motion) against the server.
    Simulate(crate::simulate::SimulateArgs),
    /// Register a device with its IGRS information and initial verification code.
    Add {
        id: String,
        #[arg(long = "type")]
        device_type: String,
        #[arg(long, default_value = "")]
        model: String,
        #[arg(long, default_value = "")]
        manufacturer: String,
        #[arg(long, default_value = "")]
        serial: String,
        /// The verification code printed on the device.
        #[arg(long)]
        code: String,
        /// Device password (read from stdin unless given).
        #[arg(long)]
        password: Option<String>,
        #[command(flatten)]
        api: ApiArgs,
    },
    /// Modify a device's IGRS information (all four fields are replaced).
    Modify {
        id: String,
        #[arg(long = "type")]
        device_type: String,
        #[arg(long, default_value = "")]
        model: String,
        #[arg(long, default_value = "")]
        manufacturer: String,
        #[arg(long, default_value = "")]
        serial: String,
        #[command(flatten)]
        api: ApiArgs,
    },
    /// Reset a device's verification code.
    ResetCode {
        id: String,
        #[arg(long)]
        code: String,
        #[command(flatten)]
        api: ApiArgs,
    },
    /// Issue an X.509 client certificate for SASL EXTERNAL; writes ID.pem and ID-key.pem.
    Cert {
        id: String,
        #[arg(long, default_value = ".")]
        out_dir: std::path::PathBuf,
        #[command(flatten)]
        api: ApiArgs,
    },
    /// Delete a device account.
    Delete {
        id: String,
        #[command(flatten)]
        api: ApiArgs,
    },
}

#[derive(Debug, Subcommand)]
pub enum SessionCommand {
    /// List bound sessions.
    List {
        #[command(flatten)]
        api: ApiArgs,
    },
    /// End one session (full JID) or every session of an account (bare JID).
    End {
        jid: String,
        #[command(flatten)]
        api: ApiArgs,
    },
}

#[derive(Debug, Args)]
pub struct InviteArgs {
    /// Lifetime of the invitation in seconds.
    #[arg(long, default_value_t = 604_800)]
    ttl: i64,
    #[command(flatten)]
    api: ApiArgs,
}

/// Exactly one of `--to`, `--devices-of`, `--device-type` names the recipients.
#[derive(Debug, Args)]
#[group(id = "recipients", required = true, multiple = false)]
pub struct PushTarget {
    /// One account, user or device.
    #[arg(long, group = "recipients")]
    to: Option<String>,
    /// Every device on which this user holds a right.
    #[arg(long, group = "recipients")]
    devices_of: Option<String>,
    /// Every device of this IGRS type.
    #[arg(long, group = "recipients")]
    device_type: Option<String>,
}

#[derive(Debug, Args)]
pub struct PushArgs {
    #[command(flatten)]
    target: PushTarget,
    /// The notice text.
    #[arg(long)]
    text: String,
    /// A short subject clients may show above the text.
    #[arg(long)]
    subject: Option<String>,
    /// A headline for online connections only, not stored for offline recipients.
    #[arg(long)]
    transient: bool,
    #[command(flatten)]
    api: ApiArgs,
}

struct Api {
    base: String,
    token: String,
}

impl Api {
    fn new(args: &ApiArgs) -> Result<Api> {
        let config = args.config.load()?;
        let base = match &args.url {
            Some(u) => u.trim_end_matches('/').to_owned(),
            None => format!(
                "http://{}",
                config.http.listen.replace("0.0.0.0", "127.0.0.1")
            ),
        };
        let token = match &args.token {
            Some(t) => t.clone(),
            None if !config.http.admin_token.is_empty() => config.http.admin_token.clone(),
            None => {
                let path = config.server.data_dir.join("admin-token");
                std::fs::read_to_string(&path)
                    .with_context(|| {
                        format!(
                            "reading {} (is the server running with this data dir?)",
                            path.display()
                        )
                    })?
                    .trim()
                    .to_owned()
            }
        };
        Ok(Api { base, token })
    }

    fn call(&self, method: &str, path: &str, body: Option<Value>) -> Result<Value> {
        let req = ureq::request(method, &format!("{}/admin/v1{path}", self.base))
            .set("Authorization", &format!("Bearer {}", self.token));
        let resp = match body {
            Some(b) => req.send_json(b),
            None => req.call(),
        };
        match resp {
            Ok(r) => Ok(r.into_json()?),
            Err(ureq::Error::Status(code, r)) => {
                let body: Value = r.into_json().unwrap_or_default();
                bail!(
                    "{} ({code}): {}",
                    body["code"].as_str().unwrap_or("error"),
                    body["message"].as_str().unwrap_or("")
                )
            }
            Err(e) => bail!("cannot reach the admin API at {}: {e}", self.base),
        }
    }
}

fn password(given: Option<String>) -> Result<String> {
    if let Some(p) = given {
        return Ok(p);
    }
    eprint!("password: ");
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
}

fn print(v: &Value) {
    println!("{}", serde_json::to_string_pretty(v).unwrap_or_default());
}

pub fn user(c: UserCommand) -> Result<()> {
    let out = match c {
        UserCommand::Add {
            name,
            password: p,
            display_name,
            email,
            api,
        } => {
            let body = json!({ "username": name, "password": password(p)?, "name": display_name, "email": email });
            Api::new(&api)?.call("POST", "/users", Some(body))?
        }
        UserCommand::Passwd {
            name,
            password: p,
            api,
        } => Api::new(&api)?.call(
            "PATCH",
            &format!("/accounts/{name}"),
            Some(json!({ "password": password(p)? })),
        )?,
        UserCommand::Modify {
            name,
            display_name,
            email,
            api,
        } => Api::new(&api)?.call(
            "PATCH",
            &format!("/accounts/{name}"),
            Some(json!({ "name": display_name, "email": email })),
        )?,
        UserCommand::Delete { name, api } => {
            Api::new(&api)?.call("DELETE", &format!("/accounts/{name}"), None)?
        }
        UserCommand::Disable { name, api } => {
            Api::new(&api)?.call("POST", &format!("/accounts/{name}/disable"), None)?
        }
        UserCommand::Enable { name, api } => {
            Api::new(&api)?.call("POST", &format!("/accounts/{name}/enable"), None)?
        }
        UserCommand::Show { name, api } => {
            Api::new(&api)?.call("GET", &format!("/accounts/{name}"), None)?
        }
        UserCommand::Relationships { name, api } => {
            Api::new(&api)?.call("GET", &format!("/accounts/{name}/relationships"), None)?
        }
        UserCommand::List { kind, api } => {
            let q = kind.map(|k| format!("?kind={k}")).unwrap_or_default();
            Api::new(&api)?.call("GET", &format!("/accounts{q}"), None)?
        }
    };
    print(&out);
    Ok(())
}

pub fn device(c: DeviceCommand) -> Result<()> {
    let out = match c {
        DeviceCommand::Simulate(args) => return crate::simulate::run(args),
        DeviceCommand::Add {
            id,
            device_type,
            model,
            manufacturer,
            serial,
            code,
            password: p,
            api,
        } => {
            let body = json!({ "id": id, "password": password(p)?, "type": device_type, "model": model, "manufacturer": manufacturer, "serial": serial, "verification_code": code });
            Api::new(&api)?.call("POST", "/devices", Some(body))?
        }
        DeviceCommand::Modify {
            id,
            device_type,
            model,
            manufacturer,
            serial,
            api,
        } => {
            let device = json!({ "device_type": device_type, "model": model, "manufacturer": manufacturer, "serial": serial });
            Api::new(&api)?.call(
                "PATCH",
                &format!("/accounts/{id}"),
                Some(json!({ "device": device })),
            )?
        }
        DeviceCommand::ResetCode { id, code, api } => Api::new(&api)?.call(
            "POST",
            &format!("/devices/{id}/verification-code"),
            Some(json!({ "code": code })),
        )?,
        DeviceCommand::Cert { id, out_dir, api } => {
            let v = Api::new(&api)?.call("POST", &format!("/devices/{id}/certificate"), None)?;
            let cert = out_dir.join(format!("{id}.pem"));
            let key = out_dir.join(format!("{id}-key.pem"));
            std::fs::write(&cert, v["certificate_pem"].as_str().unwrap_or_default())?;
            std::fs::write(&key, v["key_pem"].as_str().unwrap_or_default())?;
            json!({ "jid": v["jid"], "certificate": cert, "key": key })
        }
        DeviceCommand::Delete { id, api } => {
            Api::new(&api)?.call("DELETE", &format!("/accounts/{id}"), None)?
        }
    };
    print(&out);
    Ok(())
}

pub fn session(c: SessionCommand) -> Result<()> {
    let out = match c {
        SessionCommand::List { api } => Api::new(&api)?.call("GET", "/sessions", None)?,
        SessionCommand::End { jid, api } => {
            Api::new(&api)?.call("DELETE", &format!("/sessions/{jid}"), None)?
        }
    };
    print(&out);
    Ok(())
}

pub fn invite(a: InviteArgs) -> Result<()> {
    print(&Api::new(&a.api)?.call(
        "POST",
        "/invitations",
        Some(json!({ "ttl_seconds": a.ttl })),
    )?);
    Ok(())
}

pub fn push(a: PushArgs) -> Result<()> {
    let body = json!({
        "to": a.target.to, "devices_of": a.target.devices_of, "device_type": a.target.device_type,
        "text": a.text, "subject": a.subject, "transient": a.transient,
    });
    print(&Api::new(&a.api)?.call("POST", "/push", Some(body))?);
    Ok(())
}
