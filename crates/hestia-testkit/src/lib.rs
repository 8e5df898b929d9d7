//! Test support: an in-process Hestia on `127.0.0.1:0` with a temporary SQLite store and its
//! own CA, plus helpers to create accounts, log clients in and run a lamp on the device SDK.
//! Each test gets a fresh server.

pub mod e2e;
pub mod raw;

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{Context, Result};
use hestia_client::device::{Device, DeviceIdentity, Request, Value};
use hestia_client::simulator::Kind;
use hestia_client::{Bound, ConnectOptions, Connected, Transport};
use hestia_features::registration::{NewRegistration, Origin};
use hestia_server::{Config, Server};
use hestia_store::{
    AccessRight, AccountKind, DeviceInfo, RelationKind, RelationshipChange, RosterItem,
    Subscription, UserInfo,
};
use tokio::task::JoinSet;

/// Password every helper-made account uses.
pub const PASSWORD: &str = "correct horse";

/// A running test server and its temporary directory.
pub struct TestServer {
    pub server: Server,
    pub ca_pem: Vec<u8>,
    _dir: tempfile::TempDir,
}

impl TestServer {
    /// A server with the default configuration (TLS required), ports chosen by the OS.
    pub async fn start() -> Result<TestServer> {
        TestServer::start_with(|_| {}).await
    }

    /// A server whose default test configuration `tweak` may change first.
    pub async fn start_with(tweak: impl FnOnce(&mut Config)) -> Result<TestServer> {
        let dir = tempfile::tempdir()?;
        let mut config = Config::default();
        config.server.data_dir = dir.path().to_path_buf();
        config.c2s.listen = "127.0.0.1:0".into();
        config.c2s.direct_tls_listen = "127.0.0.1:0".into();
        config.http.listen = "127.0.0.1:0".into();
        config.proxy.listen = "127.0.0.1:0".into();
        config.component.listen = "127.0.0.1:0".into();
        config.server.shutdown_grace = hestia_config::Duration::secs(2);
        config.log.level = "warn".into();
        tweak(&mut config);
        let server = Server::start(config).await?;
        let ca_pem = match &server.ca_file {
            Some(p) => std::fs::read(p)?,
            None => Vec::new(),
        };
        Ok(TestServer {
            server,
            ca_pem,
            _dir: dir,
        })
    }

    pub fn domain(&self) -> String {
        self.server.irsp.domain.to_string()
    }

    pub fn c2s_addr(&self) -> SocketAddr {
        self.server
            .c2s_addr
            .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 0)))
    }

    /// The XEP-0114 component port.
    pub fn component_addr(&self) -> SocketAddr {
        self.server
            .component_addr
            .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 0)))
    }

    pub fn direct_tls_addr(&self) -> SocketAddr {
        self.server
            .direct_tls_addr
            .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 0)))
    }

    pub fn http_base(&self) -> String {
        format!(
            "http://{}",
            self.server
                .http_addr
                .map(|a| a.to_string())
                .unwrap_or_default()
        )
    }

    /// STARTTLS connection options trusting this server's CA.
    pub fn options(&self) -> ConnectOptions {
        ConnectOptions::new(self.c2s_addr(), self.domain())
            .with_ca_pem(self.ca_pem.clone())
            .with_transport(Transport::StartTls)
            .with_timeout(Duration::from_secs(10))
    }

    /// Creates a user account directly (as the admin API does).
    pub async fn add_user(&self, name: &str) -> Result<()> {
        self.register(name, AccountKind::User, None).await
    }

    /// Creates a device account with IGRS information and verification code "123456".
    pub async fn add_device(&self, id: &str, device_type: &str) -> Result<()> {
        let info = DeviceInfo {
            device_type: device_type.into(),
            model: "M1".into(),
            manufacturer: "Acme".into(),
            serial: format!("SN-{id}"),
        };
        self.register(id, AccountKind::Device, Some(info)).await
    }

    async fn register(
        &self,
        name: &str,
        kind: AccountKind,
        device: Option<DeviceInfo>,
    ) -> Result<()> {
        let reg = NewRegistration {
            username: name.into(),
            password: PASSWORD.into(),
            kind,
            user: UserInfo::default(),
            verification_code: device.as_ref().map(|_| "123456".to_owned()),
            device,
            invitation: None,
        };
        self.server
            .registrar
            .register(&self.server.irsp, reg, Origin::Admin)
            .await
            .map_err(|s| anyhow::anyhow!("registration failed: {}", s.meaning()))?;
        Ok(())
    }

    /// Relates two accounts directly in the store (as if a relationship flow had completed):
    /// both roster items `both` with `kind`, and `right` granted when one is a device.
    pub async fn relate(
        &self,
        a: &str,
        b: &str,
        kind: RelationKind,
        right: Option<AccessRight>,
    ) -> Result<()> {
        let item = |contact: &str| RosterItem {
            contact: contact.into(),
            subscription: Subscription::Both,
            relation: Some(kind),
            ..RosterItem::default()
        };
        let mut changes = vec![
            RelationshipChange::PutItem {
                owner: a.into(),
                item: item(b),
            },
            RelationshipChange::PutItem {
                owner: b.into(),
                item: item(a),
            },
        ];
        if let Some(right) = right {
            let irsp = &self.server.irsp;
            let a_kind = irsp.store.account(a).await?.map(|x| x.kind);
            let (device, user) = if a_kind == Some(AccountKind::Device) {
                (a, b)
            } else {
                (b, a)
            };
            changes.push(RelationshipChange::SetRight {
                device: device.into(),
                user: user.into(),
                right,
            });
        }
        hestia_router::relations::apply(&self.server.irsp, changes).await?;
        Ok(())
    }

    /// Makes two users friends (user ↔ user relationship).
    pub async fn befriend(&self, a: &str, b: &str) -> Result<()> {
        self.relate(a, b, RelationKind::Friend, None).await
    }

    /// Makes `user` the owner of `device`.
    pub async fn own(&self, user: &str, device: &str) -> Result<()> {
        self.relate(user, device, RelationKind::Owner, Some(AccessRight::Owner))
            .await
    }

    /// Shares `device` with `user` at `right` (kind `shared`).
    pub async fn share(&self, user: &str, device: &str, right: AccessRight) -> Result<()> {
        self.relate(user, device, RelationKind::Shared, Some(right))
            .await
    }

    /// Connects over STARTTLS (not yet authenticated).
    pub async fn connect(&self) -> Result<Connected> {
        Connected::connect(&self.options()).await.context("connect")
    }

    /// Connects, authenticates `name` with the helper password and binds.
    pub async fn login(&self, name: &str) -> Result<Bound> {
        let bound = self
            .connect()
            .await?
            .authenticate(name, PASSWORD)
            .await?
            .bind(None)
            .await?;
        Ok(bound)
    }

    /// Logs in and sends initial presence, so bare-JID messages reach the connection.
    pub async fn login_available(&self, name: &str) -> Result<Bound> {
        let mut b = self.login(name).await?;
        b.send_presence().await?;
        // Our own presence comes back (RFC 6121 §4.2.2).
        b.recv().await?;
        Ok(b)
    }

    /// Runs the device account `id` (added already) as a lamp on the device SDK, on `tasks`:
    /// it answers `on=true` to every get and accepts every set, so a test about who may reach
    /// a device gets a real device's answers without simulating one.
    pub async fn spawn_sdk_lamp(&self, id: &str, tasks: &mut JoinSet<()>) -> Result<()> {
        let identity = DeviceIdentity::new(id, PASSWORD);
        let mut lamp = Device::start(self.options(), identity, Kind::Lamp.description())
            .await
            .with_context(|| format!("starting the lamp {id}"))?;
        tasks.spawn(async move {
            while let Ok(request) = lamp.next().await {
                match request {
                    Request::Get(get) => get.reply(Ok(vec![("on".into(), Value::Boolean(true))])),
                    Request::Set(set) => set.reply(Ok(())),
                    Request::Stanza(_) => {}
                }
            }
        });
        Ok(())
    }

    pub async fn stop(self) {
        self.server.shutdown().await;
    }
}
