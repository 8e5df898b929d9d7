//! A link's life on both sides: completing it when the user returns from the peer's consent
//! screen (and giving the peer its callback grant), accepting the peer's half, hearing the
//! peer's webhooks, and unlinking (cancel the subscriptions made through it, revoke both
//! grants, forget it here and there).

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::SystemTime;

use reqwest::Method;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Direction, Link, LinkView, RemoteTokens, inbound_body};
use crate::cluster::{Cluster, Observed};
use crate::events::{DeviceEvent, ONLINE, PROPERTY};
use crate::model::{CuiError, DeviceId, ErrorCode, value_from_json};
use crate::oauth::{Scope, Scopes};
use crate::{HesGateway, Principal};

/// How far a notification's signed time may be from this gateway's clock.
const NOTIFICATION_SKEW: std::time::Duration = std::time::Duration::from_secs(300);

/// What a peer sends to create its half of a link (`POST /federation/links`). No `Debug`: it
/// holds tokens.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct InboundLink {
    pub link_id: String,
    /// The person's user at the peer.
    pub user: String,
    pub access_token: String,
    pub refresh_token: Option<String>,
    pub expires_in: Option<u64>,
    pub callback_secret: String,
}

impl HesGateway {
    /// The redirect URI a link's consent returns to: this gateway's own callback.
    pub fn federation_redirect_uri(&self) -> String {
        format!(
            "{}/cui/v1/federation/callback",
            self.oauth().settings().issuer
        )
    }

    /// Completes a link the user consented to at the peer: redeems the code, learns the
    /// person's user there, issues the peer a callback grant and gives it the peer, so
    /// federation is mutual.
    pub async fn complete_link(
        &self,
        state: &str,
        binding: Option<&str>,
        code: &str,
    ) -> Result<LinkView, CuiError> {
        let federation = self.federation();
        let pending = federation.take_pending(state, binding)?;
        let answer = federation
            .redeem(
                &pending.peer,
                code,
                &pending.verifier,
                &pending.redirect_uri,
            )
            .await?;
        self.establish_link(pending.user, pending.peer, &answer)
            .await
    }

    /// Makes the link from the peer's token answer, however the user consented (code or
    /// device grant): learns the person's user there, issues the peer a callback grant and
    /// gives it the peer, so federation is mutual.
    pub(super) async fn establish_link(
        &self,
        user: String,
        peer: Arc<super::Peer>,
        answer: &serde_json::Value,
    ) -> Result<LinkView, CuiError> {
        let federation = self.federation();
        let tokens = RemoteTokens::from_answer(answer)?;
        let access = tokens.access_token().await;
        let remote_user = federation.subject_of(&peer, &access).await?;
        let link = Arc::new(Link {
            id: crate::oauth::random_token(),
            user,
            peer: peer.clone(),
            remote_user,
            remote_id: RwLock::new(None),
            direction: Direction::Outbound,
            tokens,
            local_grant: RwLock::new(None),
            callback_secret: crate::oauth::random_token(),
            remote_subscriptions: tokio::sync::Mutex::new(HashMap::new()),
            linked_at: SystemTime::now(),
        });
        let (granted, grant_id) = self
            .oauth()
            .grant_for_peer(
                &peer.peer_client_id,
                &link.user,
                Scopes::of(&[Scope::Events]),
            )
            .await
            .map_err(|e| CuiError::internal(format!("issuing the peer's callback grant: {e:?}")))?;
        *super::write(&link.local_grant) = Some(grant_id.clone());
        let told = federation
            .call(
                &link,
                Method::POST,
                "/cui/v1/federation/links",
                Some(&inbound_body(&link, &granted)),
                None,
            )
            .await;
        match told {
            Ok((_, made)) => {
                *super::write(&link.remote_id) = made["linkId"].as_str().map(str::to_owned);
            }
            Err(e) => {
                // Half a link is no link: take back what was given on both sides.
                let _ = self.oauth().revoke_grant(&grant_id).await;
                federation.revoke_at_peer(&link).await;
                return Err(e);
            }
        }
        if let Err(e) = federation.save_link(link.clone()).await {
            // A link the next start would not know is none: undo it on both sides.
            self.tear_down_unsaved(&link).await;
            return Err(e);
        }
        metrics::counter!("hestia_gateway_federation_links_total", "direction" => "outbound")
            .increment(1);
        tracing::info!(user = %link.user, peer = %peer.name, "identity federation linked");
        Ok(link.view())
    }

    /// The peer's half of a link: its tokens for calling back, under the grant the caller's
    /// token belongs to.
    pub async fn accept_inbound_link(
        &self,
        who: &Principal,
        body: InboundLink,
    ) -> Result<LinkView, CuiError> {
        let (Some(client_id), Some(grant)) = (&who.client_id, &who.grant) else {
            return Err(CuiError::forbidden(
                "a link is made with a peer gateway's OAuth token",
            ));
        };
        let federation = self.federation();
        let peer = federation.peer_by_client(client_id).ok_or_else(|| {
            CuiError::forbidden("the token's client is no peer gateway of this one")
        })?;
        // One half per grant: a peer cannot pile up links by posting again.
        if self.inbound_link_of_grant(grant).is_some() {
            return Err(CuiError::new(
                ErrorCode::Conflict,
                "this grant already has its half of a link",
            ));
        }
        if !(16..=256).contains(&body.callback_secret.len()) {
            return Err(CuiError::bad_request(
                "callbackSecret is 16 to 256 characters",
            ));
        }
        let tokens = RemoteTokens::from_answer(&json!({
            "access_token": body.access_token,
            "refresh_token": body.refresh_token,
            "expires_in": body.expires_in,
        }))?;
        let link = Arc::new(Link {
            id: crate::oauth::random_token(),
            user: who.user.clone(),
            peer,
            remote_user: body.user,
            remote_id: RwLock::new(Some(body.link_id)),
            direction: Direction::Inbound,
            tokens,
            local_grant: RwLock::new(Some(grant.clone())),
            callback_secret: body.callback_secret,
            remote_subscriptions: tokio::sync::Mutex::new(HashMap::new()),
            linked_at: SystemTime::now(),
        });
        federation.save_link(link.clone()).await?;
        metrics::counter!("hestia_gateway_federation_links_total", "direction" => "inbound")
            .increment(1);
        Ok(link.view())
    }

    /// The inbound link whose grant a webhook-making subscription acts under, if any: its
    /// tokens authenticate the webhook to the peer.
    pub fn inbound_link_of_grant(&self, grant: &str) -> Option<Arc<Link>> {
        self.federation().links.all().into_iter().find(|l| {
            l.direction == Direction::Inbound
                && super::read(&l.local_grant).as_deref() == Some(grant)
        })
    }

    /// Unlinks at the user's request, on whichever side it was made.
    pub async fn unlink(&self, user: &str, link_id: &str) -> Result<(), CuiError> {
        let link = self
            .federation()
            .links
            .get(link_id)
            .filter(|l| l.user == user)
            .ok_or_else(|| CuiError::not_found(format!("no link {link_id}")))?;
        self.tear_down(&link, true).await;
        Ok(())
    }

    /// The peer ended its half (`DELETE /federation/links/{id}` with its token).
    pub async fn peer_unlinked(&self, who: &Principal, link_id: &str) -> Result<(), CuiError> {
        let link = self
            .federation()
            .links
            .get(link_id)
            .filter(|l| who.grant.is_some() && *super::read(&l.local_grant) == who.grant)
            .ok_or_else(|| CuiError::not_found(format!("no link {link_id}")))?;
        self.tear_down(&link, false).await;
        Ok(())
    }

    /// A grant this gateway issued was revoked: a link resting on it is over, and every
    /// subscription made with it ends.
    pub async fn grant_revoked(&self, grant: &str) {
        self.events().cancel_grant(grant);
        let resting: Vec<_> = self
            .federation()
            .links
            .all()
            .into_iter()
            .filter(|l| super::read(&l.local_grant).as_deref() == Some(grant))
            .collect();
        for link in resting {
            self.tear_down(&link, false).await;
        }
    }

    /// Ends a link: the subscriptions made through it at the peer and here, both grants, and
    /// (when this side ends it) the peer's half.
    async fn tear_down(&self, link: &Link, tell_peer: bool) {
        if self.federation().forget_link(&link.id).await.is_none() {
            return;
        }
        self.release_link(link, tell_peer).await;
    }

    /// Undoes a link that was made at the peer but could not be kept here.
    async fn tear_down_unsaved(&self, link: &Link) {
        self.release_link(link, true).await;
    }

    async fn release_link(&self, link: &Link, tell_peer: bool) {
        let federation = self.federation();
        let remote: Vec<String> = link
            .remote_subscriptions
            .lock()
            .await
            .drain()
            .map(|(_, watch)| watch.id)
            .collect();
        for id in remote {
            let path = format!(
                "/cui/v1/users/{}/subscriptions/{id}",
                super::peer::enc(&link.remote_user)
            );
            let _ = federation
                .call(link, Method::DELETE, &path, None, None)
                .await;
        }
        let remote_id = super::read(&link.remote_id).clone();
        if tell_peer && let Some(remote_id) = remote_id {
            let path = format!("/cui/v1/federation/links/{remote_id}");
            if let Err(e) = federation
                .call(link, Method::DELETE, &path, None, None)
                .await
            {
                tracing::warn!(peer = %link.peer.name, error = %e, "the peer did not end its half of the link");
            }
        }
        if link.direction == Direction::Outbound {
            self.events()
                .cancel_where(|s| s.user == link.user && s.device.cluster() == link.peer.name);
        }
        let grant = super::read(&link.local_grant).clone();
        if let Some(grant) = grant {
            self.events().cancel_grant(&grant);
            if let Err(e) = self.oauth().revoke_grant(&grant).await {
                tracing::warn!(error = %e, "revoking a link's grant failed");
            }
        }
        federation.revoke_at_peer(link).await;
        tracing::info!(user = %link.user, peer = %link.peer.name, "identity federation unlinked");
    }

    /// A webhook the peer sent through a link: authenticated by the callback grant's token and
    /// signed with the link's secret, then told as the peer cluster's observation.
    pub async fn peer_notified(
        &self,
        link_id: &str,
        bearer: Option<&str>,
        timestamp: Option<&str>,
        signature: Option<&str>,
        body: &str,
    ) -> Result<(), CuiError> {
        let token = bearer.ok_or_else(|| CuiError::unauthorized("a bearer token is required"))?;
        let claims = self
            .oauth()
            .verify_access_token(token)
            .await
            .map_err(CuiError::unauthorized)?;
        let link = self
            .federation()
            .links
            .get(link_id)
            .filter(|l| l.direction == Direction::Outbound)
            .ok_or_else(|| CuiError::not_found(format!("no link {link_id}")))?;
        let grant = super::read(&link.local_grant).clone();
        if grant.as_deref() != Some(claims.gid.as_str()) {
            return Err(CuiError::unauthorized("the token is not this link's"));
        }
        let timestamp = timestamp
            .and_then(|t| t.parse::<u64>().ok())
            .ok_or_else(|| CuiError::bad_request("hestia-timestamp is missing"))?;
        // A signed notification replayed later is refused: the signature covers the time.
        let now = crate::webhook::unix_now();
        if now.abs_diff(timestamp) > NOTIFICATION_SKEW.as_secs() {
            return Err(CuiError::unauthorized(
                "the notification's hestia-timestamp is not within 5 minutes of now",
            ));
        }
        let expected = crate::webhook::sign(&link.callback_secret, timestamp, body);
        let is_signed = signature.is_some_and(|s| {
            use subtle::ConstantTimeEq as _;
            bool::from(s.as_bytes().ct_eq(expected.as_bytes()))
        });
        if !is_signed {
            return Err(CuiError::unauthorized("the signature does not match"));
        }
        let envelope: Value = serde_json::from_str(body)
            .map_err(|e| CuiError::bad_request(format!("the notification is not JSON: {e}")))?;
        self.observe_from_peer(&link, &envelope["body"]).await
    }

    async fn observe_from_peer(&self, link: &Link, body: &Value) -> Result<(), CuiError> {
        let remote_device = body["deviceId"]
            .as_str()
            .ok_or_else(|| CuiError::bad_request("the notification names no device"))?;
        let device = DeviceId::new(&link.peer.name, remote_device)?;
        let event = body["event"]
            .as_str()
            .filter(|e| hestia_proto::device::is_valid_name(e))
            .ok_or_else(|| CuiError::bad_request("the notification names no event"))?;
        let payload = body["payload"].clone();
        let at = SystemTime::now();
        if event == PROPERTY {
            let (Some(property), Ok(value)) = (
                payload["property"].as_str(),
                value_from_json(&payload["value"]),
            ) else {
                return Err(CuiError::bad_request(
                    "a property event names a property and value",
                ));
            };
            self.property_changed(&device, property, &value, at).await;
            return Ok(());
        }
        if event == ONLINE
            && let Some(Cluster::Peer(peer)) = self.clusters().named(&link.peer.name).as_deref()
        {
            peer.heard_online(remote_device, payload["online"] == true);
        }
        let event_id = body["eventId"]
            .as_str()
            .map_or_else(hestia_proto::stanza::new_id, str::to_owned);
        self.observe(Observed {
            event: DeviceEvent {
                device,
                event: event.to_owned(),
                event_id,
                at,
                payload,
            },
            values: Vec::new(),
        })
        .await;
        Ok(())
    }

    /// The user's links, both directions.
    pub fn links_of(&self, user: &str) -> Vec<LinkView> {
        self.federation()
            .links
            .of_user(user)
            .iter()
            .map(|l| l.view())
            .collect()
    }

    /// Registers a peer gateway, adds its cluster and brings back the links stored with it.
    pub async fn add_peer(&self, peer: super::Peer) -> Result<(), CuiError> {
        let federation = self.federation();
        let peer = federation.add_peer(peer)?;
        let restored = federation.restore_links(&peer).await?;
        if restored > 0 {
            tracing::info!(peer = %peer.name, links = restored, "federation links restored");
        }
        let cluster = super::peer::PeerCluster::new(
            &peer.name,
            federation.clone(),
            &self.oauth().settings().issuer,
        );
        self.add_cluster(Cluster::Peer(cluster))
            .map(|_| ())
            .map_err(|e| CuiError::new(ErrorCode::Conflict, e.message))
    }
}
