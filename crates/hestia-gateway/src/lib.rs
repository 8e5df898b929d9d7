//! The HES gateway (ISO/IEC 10192-4-3): one person reaches the devices of their home clusters
//! through the common user interface (CUI). This crate holds the one operation model
//! ([`model`], §6.2 HES-CLIP / §6.3 HES-CLDPE), the IGRS RA cluster adapter ([`igrs`]),
//! sign-in and tokens ([`auth`]), the HTTP binding under `/cui/v1` ([`http`]) and the OAuth 2.0
//! authorization server of C2C authorization ([`oauth`], §8), whose JWTs `/cui/v1` accepts too.
//!
//! Dependency direction: proto/store/router ← gateway ← server. The gateway reaches the IRSP
//! only through the application-server interface and the router's domain functions.

pub mod auth;
pub mod http;
pub mod igrs;
pub mod model;
pub mod oauth;

use std::sync::Arc;

use hestia_router::Irsp;
use hestia_router::appserver::AppError;

use crate::auth::{Issued, Tokens};
use crate::igrs::IgrsCluster;
use crate::model::{CuiError, Operation, Outcome};
use crate::oauth::{AuthServer, OAuthSettings, Scopes};

/// The gateway: its clusters, its token table and its authorization server.
#[derive(Debug)]
pub struct HesGateway {
    igrs: IgrsCluster,
    tokens: Tokens,
    oauth: AuthServer,
    irsp: Arc<Irsp>,
}

/// Who a bearer token acts for, and how far.
#[derive(Debug, Clone, PartialEq)]
pub struct Principal {
    pub user: String,
    /// None for the gateway's own sign-in tokens (full access); the token's scopes for an OAuth
    /// access token.
    pub scopes: Option<Scopes>,
}

impl HesGateway {
    /// A gateway over the in-process IRSP, with the default token lifetime.
    pub fn new(irsp: Arc<Irsp>) -> Result<HesGateway, AppError> {
        HesGateway::with_tokens(irsp, Tokens::default())
    }

    pub fn with_tokens(irsp: Arc<Irsp>, tokens: Tokens) -> Result<HesGateway, AppError> {
        Ok(HesGateway {
            igrs: IgrsCluster::new(irsp.clone())?,
            tokens,
            oauth: AuthServer::new(irsp.store.clone(), OAuthSettings::default()),
            irsp,
        })
    }

    /// The same gateway with its authorization server configured by `settings`.
    pub fn with_oauth(mut self, settings: OAuthSettings) -> HesGateway {
        self.oauth = AuthServer::new(self.irsp.store.clone(), settings);
        self
    }

    /// The authorization server (C2C authorization).
    pub fn oauth(&self) -> &AuthServer {
        &self.oauth
    }

    /// Signs a user in with their IGRS account; records their grant to the gateway (signing
    /// in is the consent to act for them) and issues a token.
    pub async fn sign_in(&self, username: &str, password: &str) -> Result<Issued, CuiError> {
        let user = self.consent(username, password).await?;
        Ok(self.tokens.issue(&user))
    }

    /// Checks a user's IGRS credentials (throttled as sign-in is) and records their grant to the
    /// gateway: what both sign-in and an OAuth consent screen do. The normalised user.
    pub async fn consent(&self, username: &str, password: &str) -> Result<String, CuiError> {
        let user = self
            .tokens
            .verify(&self.irsp.store, username, password)
            .await?;
        self.igrs.grant(&user).await?;
        Ok(user)
    }

    /// The user a console (sign-in) token was issued to.
    pub fn user_of(&self, token: &str) -> Result<String, CuiError> {
        self.tokens.user_of(token)
    }

    /// Who a bearer token acts for: a console token, or a JWT access token of this gateway's
    /// authorization server whose audience is this gateway's CUI.
    pub async fn principal(&self, token: &str) -> Result<Principal, CuiError> {
        if !oauth::jwt::is_jwt(token) {
            return self
                .tokens
                .user_of(token)
                .map(|user| Principal { user, scopes: None });
        }
        let claims = self
            .oauth
            .verify_access_token(token)
            .await
            .map_err(CuiError::unauthorized)?;
        if claims.aud != self.oauth.settings().audience {
            return Err(CuiError::unauthorized(
                "the access token is for another audience",
            ));
        }
        let scopes = Scopes::parse(&claims.scope).map_err(CuiError::unauthorized)?;
        Ok(Principal {
            user: claims.sub.clone(),
            scopes: Some(scopes),
        })
    }

    /// Carries out one operation on the cluster its device belongs to.
    pub async fn execute(&self, op: Operation) -> Result<Outcome, CuiError> {
        match op {
            Operation::ListDevices { user } => self.igrs.devices(&user).await.map(Outcome::Devices),
            Operation::GetProperty {
                user,
                device,
                property,
            } => self
                .igrs
                .get(&user, &device, &property)
                .await
                .map(Outcome::Property),
            Operation::SetProperty {
                user,
                device,
                property,
                value,
            } => self
                .igrs
                .set(&user, &device, &property, value)
                .await
                .map(Outcome::Property),
        }
    }
}
