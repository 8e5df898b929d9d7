//! `hestia shell`: a terminal client for a person. Logs in as a user and reads commands line
//! by line — list related devices with their online status, read and set properties, bind a
//! device by its verification code, watch its events, send messages — while printing what
//! arrives (messages, events, presence changes) as it comes. At the end of piped input it goes
//! on printing arrivals until interrupted, so `printf 'watch …' | hestia shell` is a watch.

use std::collections::BTreeMap;
use std::io::Write;

use anyhow::{Context, Result, bail};
use hestia_client::{Bound, ClientError, ConnectOptions, Connected};
use hestia_proto::device::{self, event_node, event_of_node};
use hestia_proto::igrs::{NS_DEVICE, NS_RELATION};
use hestia_proto::ns;
use hestia_proto::stanza::new_id;
use hestia_xml::Element;
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::ConfigArgs;

#[derive(Debug, clap::Args)]
pub struct ShellArgs {
    /// The user to log in as.
    #[arg(long, short = 'u')]
    user: String,
    /// Password (else the first line of stdin).
    #[arg(long, env = "HESTIA_PASSWORD", hide_env_values = true)]
    password: Option<String>,
    /// Server address (default: c2s.listen of the configuration, on loopback).
    #[arg(long)]
    server: Option<String>,
    #[command(flatten)]
    config: ConfigArgs,
}

const HELP: &str = "\
commands:
  devices                          related devices, their kind, your right, online status
  describe <device>                the device's properties and events
  get <device> [property…]         read properties (all readable ones without names)
  set <device> <name>=<value>…     set properties
  bind <device> <code>             relate to a device with its verification code
  watch <device> <event>           subscribe to an event of a device
  say <jid> <text…>                send a chat message
  help | quit";

pub fn run(args: ShellArgs) -> Result<()> {
    let opts = crate::simulate::connect_options(&args.config, args.server.as_deref())?;
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(shell(args, opts))
}

async fn shell(args: ShellArgs, opts: ConnectOptions) -> Result<()> {
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    let password = match args.password {
        Some(p) => p,
        None => lines.next_line().await?.context("no password on stdin")?,
    };
    let mut session = Connected::connect(&opts)
        .await?
        .authenticate(&args.user, &password)
        .await
        .context("login")?
        .bind(None)
        .await?;
    let mut state = Shell::default();
    state.load_roster(&mut session).await?;
    session.send_presence().await?;
    say(&format!("logged in as {}; type help", session.jid()));
    // At the end of piped input the shell keeps printing what arrives (a watch) until Ctrl-C.
    let mut reading = true;
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => break,
            line = lines.next_line(), if reading => {
                let Some(line) = line? else {
                    reading = false;
                    continue;
                };
                match state.command(&mut session, line.trim()).await {
                    Ok(Flow::Quit) => break,
                    Ok(Flow::Go) => {}
                    Err(e) => say(&format!("error: {e:#}")),
                }
            }
            stanza = session.recv_timeout(std::time::Duration::from_secs(3600)) => {
                if let Some(stanza) = stanza? {
                    state.show(&mut session, &stanza).await?;
                }
            }
        }
    }
    session.close().await.ok();
    Ok(())
}

fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

enum Flow {
    Go,
    Quit,
}

/// What the shell knows of the user's relationships: contact → (kind, right), and who is online.
#[derive(Default)]
struct Shell {
    contacts: BTreeMap<String, (String, String)>,
    online: BTreeMap<String, bool>,
    domain: String,
}

impl Shell {
    async fn load_roster(&mut self, session: &mut Bound) -> Result<()> {
        self.domain = session.jid().domain().to_owned();
        let roster = session
            .iq(iq("get", None, Element::new("query", ns::ROSTER)))
            .await?;
        for item in roster
            .get_child("query", ns::ROSTER)
            .into_iter()
            .flat_map(|q| q.children())
        {
            self.note_item(item);
        }
        Ok(())
    }

    fn note_item(&mut self, item: &Element) {
        let Some(jid) = item.attr("jid") else { return };
        if item.attr("subscription") == Some("remove") {
            self.contacts.remove(jid);
            return;
        }
        let relation = item.get_child("relation", NS_RELATION);
        let kind = relation.and_then(|r| r.attr("kind")).unwrap_or("contact");
        let right = relation.and_then(|r| r.attr("right")).unwrap_or("-");
        self.contacts
            .insert(jid.to_owned(), (kind.to_owned(), right.to_owned()));
    }

    /// A device name as typed: `lamp-1` means `lamp-1@<domain>`.
    fn jid(&self, name: &str) -> String {
        if name.contains('@') {
            name.to_owned()
        } else {
            format!("{name}@{}", self.domain)
        }
    }

    async fn command(&mut self, session: &mut Bound, line: &str) -> Result<Flow> {
        let mut words = line.split_whitespace();
        let Some(verb) = words.next() else {
            return Ok(Flow::Go);
        };
        let rest: Vec<&str> = words.collect();
        match (verb, rest.as_slice()) {
            ("quit" | "exit", _) => return Ok(Flow::Quit),
            ("help", _) => say(HELP),
            ("devices", _) => self.list(),
            ("describe", [d]) => self.describe(session, d).await?,
            ("get", [d, names @ ..]) => self.get(session, d, names).await?,
            ("set", [d, pairs @ ..]) if !pairs.is_empty() => self.set(session, d, pairs).await?,
            ("bind", [d, code]) => self.bind(session, d, code).await?,
            ("watch", [d, event]) => self.watch(session, d, event).await?,
            ("say", [to, text @ ..]) if !text.is_empty() => {
                let msg = Element::new("message", ns::CLIENT)
                    .with_attr("to", self.jid(to))
                    .with_attr("type", "chat")
                    .with_child(Element::new("body", ns::CLIENT).with_text(text.join(" ")));
                session.send(&msg).await?;
            }
            _ => bail!("unknown or incomplete command {line:?}; type help"),
        }
        Ok(Flow::Go)
    }

    fn list(&self) {
        if self.contacts.is_empty() {
            say("no relationships yet (bind <device> <code>)");
        }
        for (jid, (kind, right)) in &self.contacts {
            let status = if self.online.get(jid).copied().unwrap_or(false) {
                "online"
            } else {
                "offline"
            };
            say(&format!("{jid}  {kind}  right={right}  {status}"));
        }
    }

    async fn describe(&self, session: &mut Bound, d: &str) -> Result<()> {
        let answer = request(
            session,
            "get",
            &self.jid(d),
            Element::new("describe", NS_DEVICE),
        )
        .await?;
        let described = answer
            .get_child("describe", NS_DEVICE)
            .map(device::Description::parse)
            .transpose()
            .map_err(|r| anyhow::anyhow!("{}", r.meaning()))?
            .unwrap_or_default();
        for p in &described.properties {
            let unit = p.unit.as_deref().unwrap_or("");
            say(&format!(
                "{}  {} {unit}  {}",
                p.name,
                p.kind.name(),
                p.access.as_str()
            ));
        }
        for e in &described.events {
            say(&format!("event {}", e.name));
        }
        Ok(())
    }

    async fn get(&self, session: &mut Bound, d: &str, names: &[&str]) -> Result<()> {
        let payload = device::get_request(names.iter().copied());
        let answer = request(session, "get", &self.jid(d), payload).await?;
        let values = answer
            .get_child("get", NS_DEVICE)
            .map(device::assignments)
            .transpose()
            .map_err(|r| anyhow::anyhow!("{}", r.meaning()))?
            .unwrap_or_default();
        for (name, value) in values {
            say(&format!("{name}={value}"));
        }
        Ok(())
    }

    async fn set(&self, session: &mut Bound, d: &str, pairs: &[&str]) -> Result<()> {
        let mut values = Vec::new();
        for pair in pairs {
            let (name, value) = pair
                .split_once('=')
                .with_context(|| format!("{pair:?} is not name=value"))?;
            values.push((name, value.to_owned()));
        }
        request(
            session,
            "set",
            &self.jid(d),
            device::with_values(device::SET, values),
        )
        .await?;
        say("ok");
        Ok(())
    }

    async fn bind(&mut self, session: &mut Bound, d: &str, code: &str) -> Result<()> {
        let relate = Element::new("relate", NS_RELATION)
            .with_attr("device", self.jid(d))
            .with_child(Element::new("code", NS_RELATION).with_text(code));
        let answer = request(session, "set", &self.domain.clone(), relate).await?;
        let relate = answer.get_child("relate", NS_RELATION);
        let kind = relate.and_then(|r| r.attr("kind")).unwrap_or("related");
        let right = relate.and_then(|r| r.attr("right")).unwrap_or("-");
        self.contacts
            .insert(self.jid(d), (kind.to_owned(), right.to_owned()));
        say(&format!("bound {} as {kind} (right {right})", self.jid(d)));
        Ok(())
    }

    async fn watch(&self, session: &mut Bound, d: &str, event: &str) -> Result<()> {
        let me = session.jid().to_bare().to_string();
        let subscribe = Element::new("pubsub", ns::PUBSUB).with_child(
            Element::new("subscribe", ns::PUBSUB)
                .with_attr("node", event_node(event))
                .with_attr("jid", me),
        );
        request(session, "set", &self.jid(d), subscribe).await?;
        say(&format!("watching {event} of {}", self.jid(d)));
        Ok(())
    }

    /// Prints what arrives; roster pushes and presence update the device list.
    async fn show(&mut self, session: &mut Bound, stanza: &Element) -> Result<(), ClientError> {
        let from = stanza.attr("from").unwrap_or_default();
        let bare = from.split('/').next().unwrap_or_default().to_owned();
        match stanza.name() {
            "presence" if self.contacts.contains_key(&bare) => {
                let online = stanza.attr("type").is_none();
                if self.online.insert(bare.clone(), online) != Some(online) {
                    say(&format!(
                        "{bare} is {}",
                        if online { "online" } else { "offline" }
                    ));
                }
            }
            "message" => show_message(&bare, stanza),
            "iq" => {
                if let Some(items) = stanza.get_child("query", ns::ROSTER) {
                    for item in items.children() {
                        self.note_item(item);
                    }
                }
                // Answer requests so the server does not wait (roster pushes need a result).
                if matches!(stanza.attr("type"), Some("set" | "get")) {
                    let result = hestia_proto::stanza::iq_result(stanza, None);
                    session.send(&result).await?;
                }
            }
            _ => {}
        }
        Ok(())
    }
}

fn show_message(from: &str, stanza: &Element) {
    if let Some(items) = stanza
        .get_child("event", ns::PUBSUB_EVENT)
        .and_then(|e| e.get_child("items", ns::PUBSUB_EVENT))
    {
        let event = items.attr("node").and_then(event_of_node).unwrap_or("?");
        for item in items.children() {
            let payload = item
                .children()
                .next()
                .map(ToString::to_string)
                .unwrap_or_default();
            say(&format!("event {event} from {from}: {payload}"));
        }
        return;
    }
    if let Some(body) = stanza.get_child("body", ns::CLIENT) {
        say(&format!("{from}: {}", body.text()));
    } else if stanza
        .get_child("push", hestia_proto::igrs::NS_PUSH)
        .is_some()
    {
        say(&format!("push: {stanza}"));
    }
}

fn iq(kind: &str, to: Option<&str>, payload: Element) -> Element {
    let mut iq = Element::new("iq", ns::CLIENT)
        .with_attr("type", kind)
        .with_attr("id", new_id())
        .with_child(payload);
    if let Some(to) = to {
        iq.set_attr("to", to);
    }
    iq
}

/// An IQ round trip; a stanza error becomes its condition, text and IGRS code.
async fn request(session: &mut Bound, kind: &str, to: &str, payload: Element) -> Result<Element> {
    match session.iq(iq(kind, Some(to), payload)).await {
        Ok(answer) => Ok(answer),
        Err(ClientError::Stanza(e)) => {
            let code = hestia_proto::igrs::DeviceRefusal::of(&e)
                .map(|r| format!(" (code {})", r.code()))
                .or_else(|| {
                    hestia_proto::igrs::RelationRefusal::of(&e)
                        .map(|r| format!(" (code {})", r.code()))
                })
                .unwrap_or_default();
            let text = e.text.clone().unwrap_or_default();
            bail!("{}{code} {text}", e.condition.name())
        }
        Err(e) => Err(e.into()),
    }
}
