//! The HES gateway (ISO/IEC 10192-4-3): one person reaches the devices of their home clusters
//! through the common user interface (CUI). This crate holds the one operation model
//! ([`model`], §6.2 HES-CLIP / §6.3 HES-CLDPE), the IGRS RA cluster adapter ([`igrs`]),
//! sign-in and tokens ([`auth`]) and the HTTP binding under `/cui/v1` ([`http`]).
//!
//! Dependency direction: proto/store/router ← gateway ← server. The gateway reaches the IRSP
//! only through the application-server interface and the router's domain functions.

pub mod auth;
pub mod console;
pub mod http;
pub mod igrs;
pub mod model;
pub mod sharing;

use std::sync::Arc;

use hestia_router::Irsp;
use hestia_router::appserver::AppError;

use crate::auth::{Issued, Tokens};
use crate::igrs::IgrsCluster;
use crate::model::{CuiError, Operation, Outcome};

/// The gateway: its clusters and its token table.
#[derive(Debug)]
pub struct HesGateway {
    igrs: IgrsCluster,
    tokens: Tokens,
    irsp: Arc<Irsp>,
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
            irsp,
        })
    }

    /// Signs a user in with their IGRS account; records their grant to the gateway (signing
    /// in is the consent to act for them) and issues a token.
    pub async fn sign_in(&self, username: &str, password: &str) -> Result<Issued, CuiError> {
        let user = self
            .tokens
            .verify(&self.irsp.store, username, password)
            .await?;
        self.igrs.grant(&user).await?;
        Ok(self.tokens.issue(&user))
    }

    /// The user a bearer token was issued to.
    pub fn user_of(&self, token: &str) -> Result<String, CuiError> {
        self.tokens.user_of(token)
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
            Operation::Sharing(op) => self.igrs.sharing(op).await.map(Outcome::Sharing),
        }
    }
}
