//! The application-server interface, in process (ISO/IEC 14543-5-9 §7.3, §8.3): an
//! application server — the HES gateway, a vendor service — sends and receives stanzas *on
//! behalf of* an account that granted it that, and the IRSP applies that account's
//! relationships and rights to every stanza, never the server's own. It also pushes
//! ([`AppServer::push`]), to its grantors and the devices they hold rights on only.
//!
//! Acting for an account binds an observer session `account@D/app-<name>-<id>`: stanzas it
//! sends are routed as the account's; answers, messages to that JID, and the presence and
//! device events the account hears reach it; it never counts as the account being online, so
//! what waits for the account's own login is still stored for it.

use std::collections::VecDeque;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use hestia_proto::stanza::new_id;
use hestia_proto::{IqType, Jid, StanzaError, StreamError};
use hestia_store::StoreError;
use hestia_xml::Element;
use tokio::sync::mpsc;

use crate::push::{self, PushReport, Retention};
use crate::{Irsp, Outbound, SessionHandle, SessionInfo};

/// Why the interface refused.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("application server names are 1-32 of a-z, 0-9 and -")]
    BadName,
    #[error("{0} has not granted this application server to act for it")]
    NotGranted(String),
    #[error("not a valid resource")]
    BadResource,
    #[error("no such account")]
    NoSuchAccount,
    #[error("the session ended: {0}")]
    Ended(String),
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    #[error("answered with an error: {0}")]
    Stanza(Box<StanzaError>),
    #[error("store: {0}")]
    Store(#[from] StoreError),
}

/// What an application server's session hears besides the answers to its requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Hears {
    /// The presence broadcasts and event notifications the account hears.
    Broadcasts,
    AnswersOnly,
}

/// A session's queue: as deep as a connection's, so a slow application server is treated
/// like a slow client (stanzas beyond it bounce `resource-constraint`).
const QUEUE: usize = 1024;

static SERIAL: AtomicU64 = AtomicU64::new(1 << 62);

/// Whether `name` can name an application server: 1-32 of a-z, 0-9 and `-` (it becomes the
/// DNS label of its component address `<name>.<domain>` and a resource prefix).
pub fn is_valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 32
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// Whom an application server's push goes to: never beyond the accounts that granted it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushTo<'a> {
    /// An account that granted the server.
    Account(&'a str),
    /// The devices on which a granting user holds a right.
    DevicesOf(&'a str),
    /// The devices of this IGRS type on which some granting user holds a right.
    DeviceType(&'a str),
}

/// One application server known by name.
#[derive(Debug, Clone)]
pub struct AppServer {
    irsp: Arc<Irsp>,
    name: String,
}

impl AppServer {
    pub fn new(irsp: Arc<Irsp>, name: &str) -> Result<AppServer, AppError> {
        if !is_valid_name(name) {
            return Err(AppError::BadName);
        }
        Ok(AppServer {
            irsp,
            name: name.to_owned(),
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The IRSP this application server talks to.
    pub fn irsp(&self) -> &Arc<Irsp> {
        &self.irsp
    }

    /// Records that `account` lets this application server act for it.
    pub async fn grant(&self, account: &str) -> Result<(), AppError> {
        match self
            .irsp
            .store
            .put_app_grant(&self.name, account, crate::push::unix_now())
            .await
        {
            Ok(_) => Ok(()),
            Err(StoreError::NotFound | StoreError::Conflict) => Err(AppError::NoSuchAccount),
            Err(e) => Err(e.into()),
        }
    }

    /// Withdraws the grant and ends every session this server holds for the account.
    pub async fn revoke(&self, account: &str) -> Result<(), AppError> {
        match self.irsp.store.delete_app_grant(&self.name, account).await {
            Ok(()) | Err(StoreError::NotFound) => {}
            Err(e) => return Err(e.into()),
        }
        let prefix = self.resource_prefix();
        if let Ok(bare) = Jid::bare(account, self.irsp.domain.domain()) {
            for session in self.irsp.directory.sessions_of(&bare) {
                let is_ours = session
                    .info
                    .jid
                    .resource()
                    .is_some_and(|r| r.starts_with(&prefix));
                if is_ours
                    && self
                        .irsp
                        .directory
                        .unbind(&session.info.jid, session.serial)
                {
                    metrics::gauge!("hestia_app_sessions", "app" => self.name.clone())
                        .decrement(1.0);
                    session.close(StreamError::NotAuthorized, Some("grant revoked".into()));
                }
            }
        }
        Ok(())
    }

    /// A server push (14543-5-8 §11.5) on this server's behalf: `payload` goes out from the
    /// domain inside `<push/>`, marked `by='<name>'` so no application server passes for the
    /// operator, and is stored for offline recipients unless transient.
    pub async fn push(
        &self,
        to: PushTo<'_>,
        mut payload: Element,
        retention: Retention,
    ) -> Result<PushReport, AppError> {
        let recipients = self.push_recipients(to).await?;
        payload.set_attr("by", self.name.clone());
        Ok(push::push_to_all(&self.irsp, &recipients, &payload, retention).await)
    }

    async fn push_recipients(&self, to: PushTo<'_>) -> Result<Vec<String>, AppError> {
        match to {
            PushTo::Account(account) => {
                self.require_grant(account).await?;
                Ok(vec![account.to_owned()])
            }
            PushTo::DevicesOf(user) => {
                self.require_grant(user).await?;
                Ok(push::devices_of(&self.irsp, user).await?)
            }
            PushTo::DeviceType(device_type) => {
                let mut reachable = std::collections::BTreeSet::new();
                for grantor in self.irsp.store.app_grantors(&self.name).await? {
                    reachable.extend(push::devices_of(&self.irsp, &grantor).await?);
                }
                let of_type = self.irsp.store.devices_of_type(device_type).await?;
                Ok(of_type
                    .into_iter()
                    .filter(|d| reachable.contains(d))
                    .collect())
            }
        }
    }

    async fn require_grant(&self, account: &str) -> Result<(), AppError> {
        if self.irsp.store.has_app_grant(&self.name, account).await? {
            Ok(())
        } else {
            Err(AppError::NotGranted(account.to_owned()))
        }
    }

    /// Opens a session acting for `account`, which must have granted this server, under a
    /// fresh resource `app-<name>-<id>`.
    pub async fn act_for(&self, account: &str) -> Result<AppSession, AppError> {
        self.act_for_as(account, &new_id()).await
    }

    /// As [`Self::act_for`], under the resource `app-<name>-<suffix>` the caller chose (the
    /// component port names it after the resource the component wrote in `from`). A session
    /// already bound under that JID is replaced: its next `send` fails.
    pub async fn act_for_as(&self, account: &str, suffix: &str) -> Result<AppSession, AppError> {
        self.open(account, suffix, Hears::Broadcasts).await
    }

    /// As [`Self::act_for`], for a session that only sends requests and awaits their answers:
    /// it hears none of the account's presence or events, so it can be kept idle between
    /// requests at no cost to the router.
    pub async fn act_for_requests(&self, account: &str) -> Result<AppSession, AppError> {
        self.open(account, &new_id(), Hears::AnswersOnly).await
    }

    async fn open(
        &self,
        account: &str,
        suffix: &str,
        hears: Hears,
    ) -> Result<AppSession, AppError> {
        self.require_grant(account).await?;
        let kind = self
            .irsp
            .store
            .account(account)
            .await?
            .map(|a| a.kind)
            .ok_or(AppError::NoSuchAccount)?;
        let resource = format!("{}{suffix}", self.resource_prefix());
        let jid = Jid::bare(account, self.irsp.domain.domain())
            .map_err(|_| AppError::NoSuchAccount)?
            .with_resource(&resource)
            .map_err(|_| AppError::BadResource)?;
        let (tx, rx) = mpsc::channel(QUEUE);
        let info = SessionInfo {
            jid: jid.clone(),
            kind,
            remote_addr: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            is_tls: true,
            mechanism: "app-grant",
            bound_at: SystemTime::now(),
        };
        let handle = SessionHandle::new(info, SERIAL.fetch_add(1, Ordering::Relaxed), tx);
        handle.set_observer();
        if hears == Hears::AnswersOnly {
            handle.set_request_only();
        }
        // Observers do not count against the account's connection limit, and a device's
        // observer must not replace the device's own connection: bind beside it.
        self.irsp.directory.bind_beside(handle.clone());
        metrics::gauge!("hestia_app_sessions", "app" => self.name.clone()).increment(1.0);
        Ok(AppSession {
            sender: AppSender {
                irsp: self.irsp.clone(),
                handle,
            },
            app: self.name.clone(),
            rx,
            pending: VecDeque::new(),
            timeout: Duration::from_secs(10),
        })
    }

    /// Every resource this server's sessions bind under starts with this: `app-<name>-`.
    pub fn resource_prefix(&self) -> String {
        format!("app-{}-", self.name)
    }
}

/// The sending half of an [`AppSession`]: routes stanzas as the account's, from the
/// session's JID. Shared by the in-process session and the XEP-0114 component port, which
/// sends through it while a task drains the session's queue.
#[derive(Debug, Clone)]
pub struct AppSender {
    irsp: Arc<Irsp>,
    handle: SessionHandle,
}

impl AppSender {
    /// The full JID the session acts under.
    pub fn jid(&self) -> &Jid {
        &self.handle.info.jid
    }

    /// Routes `stanza` as the account's, from this session's JID; an immediate refusal
    /// (bounce) arrives through the session's queue like any other answer. Refused once the
    /// session is no longer bound (grant revoked, account deleted, session dropped).
    pub async fn send(&self, mut stanza: Element) -> Result<(), AppError> {
        let is_bound = self
            .irsp
            .directory
            .get(self.jid())
            .is_some_and(|h| h.serial == self.handle.serial);
        if !is_bound {
            return Err(AppError::Ended("no longer bound".into()));
        }
        stanza.set_attr("from", self.jid().to_string());
        let from = self.jid().clone();
        if let Some(reply) = crate::route::route(&self.irsp, &from, stanza).await {
            self.handle.deliver(reply);
        }
        Ok(())
    }
}

/// A session of an application server acting for one account.
#[derive(Debug)]
pub struct AppSession {
    sender: AppSender,
    app: String,
    rx: mpsc::Receiver<Outbound>,
    pending: VecDeque<Element>,
    timeout: Duration,
}

impl AppSession {
    /// The full JID the session acts under.
    pub fn jid(&self) -> &Jid {
        self.sender.jid()
    }

    /// A sending handle that stays usable while [`Self::recv`] is awaited elsewhere.
    pub fn sender(&self) -> AppSender {
        self.sender.clone()
    }

    /// The account acted for.
    pub fn account(&self) -> &str {
        self.jid().local().unwrap_or_default()
    }

    pub fn with_timeout(mut self, timeout: Duration) -> AppSession {
        self.timeout = timeout;
        self
    }

    /// Routes `stanza` as the account's (see [`AppSender::send`]); a refusal arrives through
    /// [`Self::recv`] like any other answer.
    pub async fn send(&self, stanza: Element) -> Result<(), AppError> {
        self.sender.send(stanza).await
    }

    /// Sends an IQ request (given an id if it has none) and waits for its answer; other
    /// stanzas arriving meanwhile are kept for [`Self::recv`].
    pub async fn iq(&mut self, mut iq: Element) -> Result<Element, AppError> {
        let id = match iq.attr("id") {
            Some(id) => id.to_owned(),
            None => {
                let id = new_id();
                iq.set_attr("id", id.clone());
                id
            }
        };
        self.send(iq).await?;
        let deadline = tokio::time::Instant::now() + self.timeout;
        loop {
            let next = tokio::time::timeout_at(deadline, self.next_inbound())
                .await
                .map_err(|_| AppError::Timeout(self.timeout))??;
            let is_answer = next.name() == "iq" && next.attr("id") == Some(id.as_str());
            match (is_answer, IqType::of(&next)) {
                (true, Some(IqType::Result)) => return Ok(next),
                (true, Some(IqType::Error)) => {
                    let error = StanzaError::from_stanza(&next).unwrap_or_else(|| {
                        StanzaError::new(hestia_proto::StanzaErrorCondition::UndefinedCondition)
                    });
                    return Err(AppError::Stanza(Box::new(error)));
                }
                _ => self.pending.push_back(next),
            }
        }
    }

    /// The next stanza for the session: answers, messages, presence and event notifications.
    /// Ends when the grant is revoked or the account deleted.
    pub async fn recv(&mut self) -> Result<Element, AppError> {
        match self.pending.pop_front() {
            Some(stanza) => Ok(stanza),
            None => self.next_inbound().await,
        }
    }

    /// Drops what arrived while nobody waited (a session kept idle between requests), so the
    /// next answer is not looked for behind it; false when the session was closed meanwhile.
    pub async fn discard_unread(&mut self) -> bool {
        self.pending.clear();
        let mut handed = Vec::new();
        let is_open = loop {
            match self.rx.try_recv() {
                Ok(Outbound::Stanza(_)) => {}
                // Handed to the application server, as in `next_inbound`: delivered.
                Ok(Outbound::Journaled(_, id)) => handed.push(id),
                Ok(Outbound::Close(..)) | Err(mpsc::error::TryRecvError::Disconnected) => {
                    break false;
                }
                Err(mpsc::error::TryRecvError::Empty) => break true,
            }
        };
        if !handed.is_empty()
            && let Some(journal) = self.sender.irsp.journal()
        {
            journal.release(handed).await;
        }
        is_open
    }

    async fn next_inbound(&mut self) -> Result<Element, AppError> {
        match self.rx.recv().await {
            Some(Outbound::Stanza(stanza)) => Ok(*stanza),
            Some(Outbound::Journaled(stanza, id)) => {
                // Handed to the application server: delivered.
                if let Some(journal) = self.sender.irsp.journal() {
                    journal.release(vec![id]).await;
                }
                Ok(*stanza)
            }
            Some(Outbound::Close(error, text)) => Err(AppError::Ended(
                text.unwrap_or_else(|| error.condition().to_owned()),
            )),
            None => Err(AppError::Ended("closed".into())),
        }
    }
}

impl Drop for AppSession {
    fn drop(&mut self) {
        let sender = &self.sender;
        if sender
            .irsp
            .directory
            .unbind(sender.jid(), sender.handle.serial)
        {
            metrics::gauge!("hestia_app_sessions", "app" => self.app.clone()).decrement(1.0);
        }
    }
}
