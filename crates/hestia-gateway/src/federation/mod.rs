//! User identity federation between gateways (ISO/IEC 10192-4-3 §8, §9): this gateway as the
//! OAuth 2.0 *client* of a peer gateway. A user links their identity at the peer with the
//! authorization-code grant and PKCE; the peer's devices then appear as a cluster named after
//! the peer ([`peer::PeerCluster`]), reached over the peer's `/cui/v1` with the user's tokens,
//! refreshed as they expire. Federation is mutual: once linked, this gateway issues the peer a
//! grant of its own, which the peer uses to deliver the webhooks of the subscriptions made
//! through the link. Unlinking cancels those subscriptions, revokes both grants and forgets
//! the link on both sides. See `docs/cui.md` (federation).

mod config;
mod device;
pub mod http;
mod link;
pub mod peer;
mod persist;
mod tokens;

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use serde::Serialize;
use serde_json::{Value, json};

use crate::events::rfc3339;
use crate::model::{CuiError, ErrorCode};

pub use config::{FederationConfig, PeerConfig};
pub use device::{DeviceLinkStatus, DeviceLinkView};
pub use tokens::RemoteTokens;

/// How long a started link waits for the user to come back from the peer's consent screen.
const PENDING_FOR: Duration = Duration::from_secs(600);
/// How long one call to a peer may take.
const PEER_TIMEOUT: Duration = Duration::from_secs(15);
/// The scopes a link asks the peer for: everything the CUI does with a device.
pub const LINK_SCOPE: &str = "devices:read devices:write events";
/// The most links one user holds, and pending authorizations the gateway keeps.
const MAX_LINKS_PER_USER: usize = 16;
const MAX_PENDING: usize = 1024;

/// A peer gateway this one federates with, as its administrator registered it: each side
/// registers the other as an OAuth client beforehand, as cloud-to-cloud account linking does.
#[derive(Clone)]
pub struct Peer {
    /// The cluster name its devices take here (`<name>:<the peer's device id>`).
    pub name: String,
    /// The peer's OAuth issuer, also the base URL of its `/cui/v1`.
    pub issuer: String,
    /// This gateway's client at the peer.
    pub client_id: String,
    pub client_secret: String,
    /// The peer's client at this gateway: who the callback grant is issued to.
    pub peer_client_id: String,
}

impl std::fmt::Debug for Peer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Peer")
            .field("name", &self.name)
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .field("peer_client_id", &self.peer_client_id)
            .finish_non_exhaustive()
    }
}

impl Peer {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.issuer.trim_end_matches('/'))
    }
}

/// Which way a link was made: by a user here (this side asked the peer for a grant), or by the
/// peer (it gave this side a callback grant).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    Outbound,
    Inbound,
}

/// One user's federation with one peer.
#[derive(Debug)]
pub struct Link {
    pub id: String,
    /// The user here.
    pub user: String,
    pub peer: Arc<Peer>,
    /// The same person's user at the peer.
    pub remote_user: String,
    /// The link's id at the peer, where it has one.
    pub remote_id: RwLock<Option<String>>,
    pub direction: Direction,
    /// Tokens for calling the peer.
    pub tokens: RemoteTokens,
    /// Outbound: the grant this side issued the peer for callbacks. Inbound: the grant of the
    /// peer's tokens this side acts with at itself (the peer's subscriptions).
    pub local_grant: RwLock<Option<String>>,
    /// Outbound: the secret the peer signs this link's webhooks with.
    pub callback_secret: String,
    /// Outbound: the subscriptions made at the peer through this link, by `(device at the
    /// peer, event)`.
    pub remote_subscriptions: tokio::sync::Mutex<HashMap<(String, String), RemoteWatch>>,
    pub linked_at: SystemTime,
}

/// A subscription at the peer that a link keeps alive while someone here wants its event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteWatch {
    /// Its id at the peer.
    pub id: String,
    pub expires_at: SystemTime,
}

/// A link as the CUI shows it. No tokens.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LinkView {
    pub link_id: String,
    pub peer: String,
    pub issuer: String,
    pub remote_user: String,
    pub direction: Direction,
    pub linked_at: String,
}

impl Link {
    pub fn view(&self) -> LinkView {
        LinkView {
            link_id: self.id.clone(),
            peer: self.peer.name.clone(),
            issuer: self.peer.issuer.clone(),
            remote_user: self.remote_user.clone(),
            direction: self.direction,
            linked_at: rfc3339(self.linked_at),
        }
    }
}

/// A link started and waiting for the user's return from the peer's consent screen.
#[derive(Debug)]
struct Pending {
    user: String,
    binding: String,
    peer: Arc<Peer>,
    verifier: String,
    redirect_uri: String,
    until: SystemTime,
}

/// What a started link hands the user: where to consent.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Begun {
    pub authorization_url: String,
    pub peer: String,
    /// What ties the return to the browser that started it: set as the
    /// [`BINDING_COOKIE`], never shown in the body.
    #[serde(skip)]
    pub binding: String,
}

/// The cookie that binds a link's return to the browser that started it, so a consent URL
/// sent to someone else cannot link the sender's account to theirs.
pub const BINDING_COOKIE: &str = "hestia_link";

/// Every peer and every link of this gateway.
#[derive(Debug)]
pub struct Federation {
    peers: RwLock<HashMap<String, Arc<Peer>>>,
    links: Arc<Links>,
    pending: std::sync::Mutex<HashMap<String, Pending>>,
    /// Links waiting for a user code to be entered at the peer (RFC 8628).
    device_links: device::DeviceLinks,
    http: reqwest::Client,
    /// Where links and their tokens outlive a restart.
    store: hestia_store::Store,
}

/// The links, shared with the peer clusters that act through them.
#[derive(Debug, Default)]
pub struct Links(RwLock<HashMap<String, Arc<Link>>>);

impl Links {
    pub fn get(&self, id: &str) -> Option<Arc<Link>> {
        read(&self.0).get(id).cloned()
    }

    /// The user's outbound link to a peer, which their calls to the peer go through.
    pub fn outbound(&self, user: &str, peer: &str) -> Option<Arc<Link>> {
        read(&self.0)
            .values()
            .find(|l| l.user == user && l.peer.name == peer && l.direction == Direction::Outbound)
            .cloned()
    }

    pub fn of_user(&self, user: &str) -> Vec<Arc<Link>> {
        let mut links: Vec<_> = read(&self.0)
            .values()
            .filter(|l| l.user == user)
            .cloned()
            .collect();
        links.sort_by_key(|l| l.linked_at);
        links
    }

    pub fn all(&self) -> Vec<Arc<Link>> {
        read(&self.0).values().cloned().collect()
    }

    fn insert(&self, link: Arc<Link>) {
        write(&self.0).insert(link.id.clone(), link);
    }

    fn remove(&self, id: &str) -> Option<Arc<Link>> {
        write(&self.0).remove(id)
    }
}

fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(|e| e.into_inner())
}

fn write<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(|e| e.into_inner())
}

impl Federation {
    pub fn new(store: hestia_store::Store) -> Federation {
        Federation {
            peers: RwLock::default(),
            links: Arc::default(),
            pending: std::sync::Mutex::default(),
            device_links: device::DeviceLinks::default(),
            http: reqwest::Client::builder()
                .timeout(PEER_TIMEOUT)
                // A peer answers; it never sends this side elsewhere with the user's token.
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap_or_default(),
            store,
        }
    }

    pub fn links(&self) -> &Arc<Links> {
        &self.links
    }

    /// Registers a peer; the caller adds its cluster.
    pub fn add_peer(&self, peer: Peer) -> Result<Arc<Peer>, CuiError> {
        if !(peer.issuer.starts_with("https://") || peer.issuer.starts_with("http://")) {
            return Err(CuiError::bad_request("a peer's issuer is an http(s) URL"));
        }
        crate::model::DeviceId::new(&peer.name, "x")
            .map_err(|_| CuiError::bad_request("a peer's name is a cluster name (a-z, 0-9, -)"))?;
        let peer = Arc::new(peer);
        let mut peers = write(&self.peers);
        if peers.contains_key(&peer.name) {
            return Err(CuiError::new(
                ErrorCode::Conflict,
                format!("a peer named {} exists", peer.name),
            ));
        }
        peers.insert(peer.name.clone(), peer.clone());
        Ok(peer)
    }

    pub fn peers(&self) -> Vec<Arc<Peer>> {
        let mut peers: Vec<_> = read(&self.peers).values().cloned().collect();
        peers.sort_by(|a, b| a.name.cmp(&b.name));
        peers
    }

    fn peer(&self, name: &str) -> Result<Arc<Peer>, CuiError> {
        read(&self.peers)
            .get(name)
            .cloned()
            .ok_or_else(|| CuiError::not_found(format!("no peer {name}")))
    }

    /// The peer whose client at this gateway is `client_id`.
    fn peer_by_client(&self, client_id: &str) -> Option<Arc<Peer>> {
        read(&self.peers)
            .values()
            .find(|p| p.peer_client_id == client_id)
            .cloned()
    }

    /// Starts linking `user` to a peer: the URL of the peer's consent screen, whose answer
    /// comes back to `redirect_uri` with the `state` kept here.
    pub fn begin(&self, user: &str, peer: &str, redirect_uri: &str) -> Result<Begun, CuiError> {
        let peer = self.peer(peer)?;
        self.check_can_link(user, &peer)?;
        let state = crate::oauth::random_token();
        let verifier = crate::oauth::random_token();
        let binding = crate::oauth::random_token();
        let now = SystemTime::now();
        let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        pending.retain(|_, p| p.until > now);
        if pending.len() >= MAX_PENDING {
            return Err(CuiError::new(
                ErrorCode::Conflict,
                "too many links are waiting for consent; try again later",
            ));
        }
        let query: String = form_urlencoded::Serializer::new(String::new())
            .append_pair("response_type", "code")
            .append_pair("client_id", &peer.client_id)
            .append_pair("redirect_uri", redirect_uri)
            .append_pair("scope", LINK_SCOPE)
            .append_pair("state", &state)
            .append_pair("code_challenge", &tokens::challenge(&verifier))
            .append_pair("code_challenge_method", "S256")
            .finish();
        pending.insert(
            state,
            Pending {
                user: user.to_owned(),
                binding: binding.clone(),
                peer: peer.clone(),
                verifier,
                redirect_uri: redirect_uri.to_owned(),
                until: now + PENDING_FOR,
            },
        );
        Ok(Begun {
            authorization_url: format!("{}?{query}", peer.url("/oauth/authorize")),
            peer: peer.name.clone(),
            binding,
        })
    }

    /// A user links once to each peer, and to at most [`MAX_LINKS_PER_USER`] peers.
    fn check_can_link(&self, user: &str, peer: &Peer) -> Result<(), CuiError> {
        if self.links.outbound(user, &peer.name).is_some() {
            return Err(CuiError::new(
                ErrorCode::Conflict,
                format!("{user} is already linked to {}", peer.name),
            ));
        }
        if self.links.of_user(user).len() >= MAX_LINKS_PER_USER {
            return Err(CuiError::new(
                ErrorCode::Conflict,
                format!("a user holds at most {MAX_LINKS_PER_USER} links"),
            ));
        }
        Ok(())
    }

    /// The pending link a returning `state` names, taken (a state is good once), if the
    /// browser returning is the one that started it.
    fn take_pending(&self, state: &str, binding: Option<&str>) -> Result<Pending, CuiError> {
        let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        let taken = match pending.remove(state) {
            Some(p) if p.until > SystemTime::now() => p,
            _ => {
                return Err(CuiError::bad_request(
                    "unknown or expired link state; start linking again",
                ));
            }
        };
        let is_same_browser = binding.is_some_and(|b| {
            use subtle::ConstantTimeEq as _;
            bool::from(b.as_bytes().ct_eq(taken.binding.as_bytes()))
        });
        if !is_same_browser {
            return Err(CuiError::forbidden(
                "this link was started in another browser; start linking again here",
            ));
        }
        Ok(taken)
    }

    /// Sends a request to a peer with a bearer token; the JSON answer, or the peer's error
    /// with its own code (a peer that cannot be reached is `cluster_unreachable`).
    async fn send(
        &self,
        method: reqwest::Method,
        url: &str,
        bearer: &str,
        body: Option<&Value>,
        prefer: Option<&str>,
    ) -> Result<(reqwest::StatusCode, Value), CuiError> {
        let mut req = self.http.request(method, url).bearer_auth(bearer);
        if let Some(body) = body {
            req = req
                .header("content-type", "application/json")
                .body(body.to_string());
        }
        if let Some(prefer) = prefer {
            req = req.header("prefer", prefer);
        }
        let answer = req.send().await.map_err(unreachable)?;
        let status = answer.status();
        let text = answer.text().await.map_err(unreachable)?;
        let json = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).map_err(|_| {
                CuiError::new(
                    ErrorCode::ClusterUnreachable,
                    format!("the peer answered {status} with a body that is not JSON"),
                )
            })?
        };
        if status.is_success() {
            return Ok((status, json));
        }
        Err(peer_error(status, &json))
    }

    /// A call to the peer as the link's user, refreshing the access token when it has
    /// expired or the peer refuses it.
    pub async fn call(
        &self,
        link: &Link,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
        prefer: Option<&str>,
    ) -> Result<(reqwest::StatusCode, Value), CuiError> {
        let url = link.peer.url(path);
        let token = self.fresh_token(link).await?;
        match self.send(method.clone(), &url, &token, body, prefer).await {
            // The peer refused a token this side thought fresh: it was revoked or the clocks
            // differ; a refresh tells which.
            Err(e) if e.code == ErrorCode::Unauthorized => {
                let token = self.refresh(link, Some(&token)).await?;
                self.send(method, &url, &token, body, prefer).await
            }
            answer => answer,
        }
    }
}

/// How often the subscriptions links hold at their peers are renewed and released: also how
/// long a restarted peer may go without sending a link's events.
const MAINTAIN_EVERY: Duration = Duration::from_secs(600);

/// Keeps the links' subscriptions at their peers in step with the subscriptions here, until
/// the gateway is dropped.
pub(crate) async fn keep_links(gateway: std::sync::Weak<crate::HesGateway>) {
    let mut tick = tokio::time::interval(MAINTAIN_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let Some(gateway) = gateway.upgrade() else {
            return;
        };
        gateway.maintain_federation().await;
    }
}

impl crate::HesGateway {
    /// Renews the subscriptions links hold at peers that someone here still wants, and
    /// releases the others (a subscription cancelled or expired here).
    pub async fn maintain_federation(&self) {
        for cluster in self.clusters().all() {
            if let crate::cluster::Cluster::Peer(peer) = cluster.as_ref() {
                peer.maintain(|user, device, event| self.events().is_wanted(user, device, event))
                    .await;
            }
        }
    }
}

/// A webhook's bearer token from an inbound link: the peer's callback grant, refreshed at the
/// peer as it expires.
struct LinkBearer {
    federation: Arc<Federation>,
    link: Arc<Link>,
}

impl crate::webhook::BearerSource for LinkBearer {
    fn bearer(&self) -> futures_util::future::BoxFuture<'_, Option<String>> {
        Box::pin(async move {
            match self.federation.fresh_token(&self.link).await {
                Ok(token) => Some(token),
                Err(e) => {
                    tracing::warn!(peer = %self.link.peer.name, error = %e, "no callback token");
                    None
                }
            }
        })
    }
}

impl crate::HesGateway {
    /// A webhook made with a peer gateway's token carries that peer's callback grant, so the
    /// peer can tell it came from this side of the link.
    pub fn authenticate_callback(
        &self,
        callback: crate::webhook::Callback,
        grant: Option<&str>,
    ) -> crate::webhook::Callback {
        match grant.and_then(|g| self.inbound_link_of_grant(g)) {
            Some(link) => callback.with_bearer(Arc::new(LinkBearer {
                federation: self.federation().clone(),
                link,
            })),
            None => callback,
        }
    }
}

/// A peer that could not be reached or did not answer in time.
fn unreachable(e: reqwest::Error) -> CuiError {
    let code = if e.is_timeout() {
        ErrorCode::Timeout
    } else {
        ErrorCode::ClusterUnreachable
    };
    CuiError::new(code, format!("the peer gateway: {e}"))
}

/// The peer's `{code, message}` as this gateway's error, the code kept where it is one of ours.
fn peer_error(status: reqwest::StatusCode, body: &Value) -> CuiError {
    let code = body["code"]
        .as_str()
        .and_then(ErrorCode::parse)
        .unwrap_or(ErrorCode::ClusterUnreachable);
    let message = body["message"]
        .as_str()
        .or_else(|| body["error_description"].as_str())
        .unwrap_or("the peer refused");
    CuiError::new(code, format!("the peer gateway ({status}): {message}"))
}

/// The body a link's peer is told when this side creates its half.
fn inbound_body(link: &Link, tokens: &Value) -> Value {
    json!({
        "linkId": link.id,
        "user": link.user,
        "accessToken": tokens["access_token"],
        "refreshToken": tokens["refresh_token"],
        "expiresIn": tokens["expires_in"],
        "callbackSecret": link.callback_secret,
    })
}
