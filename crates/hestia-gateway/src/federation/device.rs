//! Linking with the device authorization grant (RFC 8628), this gateway as the client: for a
//! side without a browser that could follow the peer's redirect (a hub's screen, a CLI, a
//! console open on a wall panel). The gateway asks the peer for a user code, shows it with the
//! peer's verification page, and polls the peer's token endpoint while the person enters the
//! code there on any device; once they allow it, the link is made as after the code grant.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use serde::Serialize;
use serde_json::Value;

use super::{Federation, LINK_SCOPE, MAX_PENDING, Peer};
use crate::HesGateway;
use crate::events::rfc3339;
use crate::model::{CuiError, ErrorCode};

/// RFC 8628 §3.4: the grant type of a device-code poll.
const DEVICE_CODE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";
/// The poll interval when the peer names none (RFC 8628 §3.2), and the step `slow_down` adds.
const DEFAULT_INTERVAL: Duration = Duration::from_secs(5);
const SLOW_DOWN_STEP: Duration = Duration::from_secs(5);
/// The longest a device link waits, whatever the peer says, and the longest interval it takes.
const MAX_WAIT: Duration = Duration::from_secs(1800);
const MAX_INTERVAL: Duration = Duration::from_secs(60);
/// How long a finished device link's outcome stays visible.
const KEEP_OUTCOME: Duration = Duration::from_secs(600);

/// Where a device link stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DeviceLinkStatus {
    /// The person has not entered the code yet.
    Waiting,
    Linked,
    Denied,
    Expired,
    Failed,
}

/// A device link as its user sees it: the code to enter, and where.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeviceLinkView {
    pub peer: String,
    pub status: DeviceLinkStatus,
    pub user_code: String,
    pub verification_uri: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verification_uri_complete: Option<String>,
    pub expires_at: String,
    /// Why it failed, for `failed`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

#[derive(Debug)]
struct DeviceLink {
    user: String,
    view: DeviceLinkView,
    /// When it finished, for forgetting it.
    finished_at: Option<SystemTime>,
}

/// The device links waiting or recently finished, by user and peer.
#[derive(Debug, Default)]
pub struct DeviceLinks(Mutex<HashMap<(String, String), DeviceLink>>);

impl DeviceLinks {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(String, String), DeviceLink>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The user's device links, oldest peer name first.
    pub fn of_user(&self, user: &str) -> Vec<DeviceLinkView> {
        let now = SystemTime::now();
        let mut links = self.lock();
        links.retain(|_, l| l.finished_at.is_none_or(|t| t + KEEP_OUTCOME > now));
        let mut mine: Vec<_> = links
            .values()
            .filter(|l| l.user == user)
            .map(|l| l.view.clone())
            .collect();
        mine.sort_by(|a, b| a.peer.cmp(&b.peer));
        mine
    }

    fn is_waiting(&self, user: &str, peer: &str) -> bool {
        self.lock()
            .get(&(user.to_owned(), peer.to_owned()))
            .is_some_and(|l| l.view.status == DeviceLinkStatus::Waiting)
    }

    fn finish(&self, user: &str, peer: &str, status: DeviceLinkStatus, message: Option<String>) {
        if let Some(link) = self.lock().get_mut(&(user.to_owned(), peer.to_owned())) {
            link.view.status = status;
            link.view.message = message;
            link.finished_at = Some(SystemTime::now());
        }
    }
}

/// What the peer's device authorization endpoint gave, with what the poller needs.
struct Started {
    view: DeviceLinkView,
    device_code: String,
    interval: Duration,
    until: SystemTime,
}

impl Federation {
    /// Asks `peer` for a user code for `user` (RFC 8628 §3.1).
    async fn start_device_link(&self, user: &str, peer: &Arc<Peer>) -> Result<Started, CuiError> {
        self.check_can_link(user, peer)?;
        if self.device_links.is_waiting(user, &peer.name) {
            return Err(CuiError::new(
                ErrorCode::Conflict,
                format!(
                    "{user} is already waiting for a code to be entered at {}",
                    peer.name
                ),
            ));
        }
        if self.device_links.lock().len() >= MAX_PENDING {
            return Err(CuiError::new(
                ErrorCode::Conflict,
                "too many links are waiting for consent; try again later",
            ));
        }
        let (status, answer) = self
            .post_form(
                peer,
                "/oauth/device_authorization",
                &[("scope", LINK_SCOPE)],
            )
            .await?;
        if !status.is_success() {
            return Err(super::tokens::oauth_refusal(
                "the peer refused a device authorization",
                &answer,
            ));
        }
        let field = |name: &str| answer[name].as_str().map(str::to_owned);
        let missing = |name: &str| {
            CuiError::new(
                ErrorCode::ClusterUnreachable,
                format!("the peer's device authorization has no {name}"),
            )
        };
        let device_code = field("device_code").ok_or_else(|| missing("device_code"))?;
        let user_code = field("user_code").ok_or_else(|| missing("user_code"))?;
        let verification_uri =
            field("verification_uri").ok_or_else(|| missing("verification_uri"))?;
        let seconds = |name: &str, default: Duration, max: Duration| {
            answer[name]
                .as_u64()
                .map_or(default, Duration::from_secs)
                .min(max)
        };
        let until = SystemTime::now() + seconds("expires_in", MAX_WAIT, MAX_WAIT);
        let view = DeviceLinkView {
            peer: peer.name.clone(),
            status: DeviceLinkStatus::Waiting,
            user_code,
            verification_uri,
            verification_uri_complete: field("verification_uri_complete"),
            expires_at: rfc3339(until),
            message: None,
        };
        self.device_links.lock().insert(
            (user.to_owned(), peer.name.clone()),
            DeviceLink {
                user: user.to_owned(),
                view: view.clone(),
                finished_at: None,
            },
        );
        Ok(Started {
            view,
            device_code,
            interval: seconds("interval", DEFAULT_INTERVAL, MAX_INTERVAL),
            until,
        })
    }

    /// One poll of the peer's token endpoint (RFC 8628 §3.4).
    async fn poll_device_code(
        &self,
        peer: &Peer,
        device_code: &str,
    ) -> Result<(bool, Value), CuiError> {
        let (status, answer) = self
            .post_form(
                peer,
                "/oauth/token",
                &[
                    ("grant_type", DEVICE_CODE_GRANT),
                    ("device_code", device_code),
                ],
            )
            .await?;
        Ok((status.is_success(), answer))
    }

    /// The user's device links, waiting or recently finished.
    pub fn device_links_of(&self, user: &str) -> Vec<DeviceLinkView> {
        self.device_links.of_user(user)
    }
}

/// What one poll said.
enum Poll {
    Allowed(Value),
    Pending,
    SlowDown,
    Over(DeviceLinkStatus, Option<String>),
}

fn read_poll(answered: Result<(bool, Value), CuiError>) -> Poll {
    match answered {
        Ok((true, answer)) => Poll::Allowed(answer),
        Ok((false, answer)) => match answer["error"].as_str() {
            Some("authorization_pending") => Poll::Pending,
            Some("slow_down") => Poll::SlowDown,
            Some("access_denied") => Poll::Over(DeviceLinkStatus::Denied, None),
            Some("expired_token") => Poll::Over(DeviceLinkStatus::Expired, None),
            _ => Poll::Over(
                DeviceLinkStatus::Failed,
                Some(
                    super::tokens::oauth_refusal("the peer refused the device code", &answer)
                        .message,
                ),
            ),
        },
        // A peer briefly unreachable is asked again at the next interval.
        Err(e) if e.code == ErrorCode::ClusterUnreachable => Poll::Pending,
        Err(e) => Poll::Over(DeviceLinkStatus::Failed, Some(e.message)),
    }
}

impl HesGateway {
    /// Starts linking `user` at `peer` with a user code; the gateway polls the peer on its own
    /// task until the person allows or denies it there, or the code expires.
    pub async fn start_device_link(
        &self,
        user: &str,
        peer: &str,
    ) -> Result<DeviceLinkView, CuiError> {
        let me = self
            .me
            .upgrade()
            .ok_or_else(|| CuiError::internal("the gateway is stopping"))?;
        let federation = self.federation();
        let peer = federation.peer(peer)?;
        let started = federation.start_device_link(user, &peer).await?;
        let view = started.view.clone();
        let user = user.to_owned();
        self.tasks.spawn(async move {
            me.await_device_consent(user, peer, started).await;
        });
        Ok(view)
    }

    async fn await_device_consent(&self, user: String, peer: Arc<Peer>, started: Started) {
        let federation = self.federation();
        let mut interval = started.interval;
        let (status, message) = loop {
            tokio::time::sleep(interval).await;
            if SystemTime::now() >= started.until {
                break (DeviceLinkStatus::Expired, None);
            }
            match read_poll(
                federation
                    .poll_device_code(&peer, &started.device_code)
                    .await,
            ) {
                Poll::Pending => {}
                Poll::SlowDown => interval = (interval + SLOW_DOWN_STEP).min(MAX_INTERVAL),
                Poll::Over(status, message) => break (status, message),
                Poll::Allowed(answer) => {
                    break match self
                        .establish_link(user.clone(), peer.clone(), &answer)
                        .await
                    {
                        Ok(_) => (DeviceLinkStatus::Linked, None),
                        Err(e) => (DeviceLinkStatus::Failed, Some(e.message)),
                    };
                }
            }
        };
        tracing::info!(user = %user, peer = %peer.name, status = ?status, "device link finished");
        federation
            .device_links
            .finish(&user, &peer.name, status, message);
    }
}
