//! The server side of SCRAM (RFC 5802 §5, §6, §9; RFC 7677) as a sans-IO state machine: client-first →
//! server-first → client-final → server-final. Channel binding (`-PLUS`) uses the caller's `tls-exporter` data
//! (RFC 9266); a client that claims it could bind while we offer `-PLUS` (flag `y`) is a downgrade and fails.

use std::fmt;

use rand::RngCore;
use subtle::ConstantTimeEq;

use super::message::{self, CbindFlag};
use super::{auth_message, scram_hash, xor};
use crate::keys::{hash, hmac};
use crate::{ChannelBinding, HashAlg, Mechanism, SaslError, ScramKeys};

/// Length of the random salt offered for unknown users, in bytes (the same as [`ScramKeys::generate`]).
const FAKE_SALT_LEN: usize = 16;

/// What the client asked for in its first message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientFirst {
    /// The authentication identity: SCRAM-unescaped (`=2C`, `=3D`) and SASLprepped.
    pub username: String,
    /// The authorization identity (`a=`), unescaped, if the client sent one.
    pub authzid: Option<String>,
}

/// Where the exchange is; each state carries only what the next step needs.
enum State {
    AwaitingClientFirst,
    ClientFirstReceived {
        /// `c=` must decode to exactly this: gs2-header, plus the binding data when `p=` was used.
        cbind_input: Vec<u8>,
        client_first_bare: String,
        client_nonce: String,
    },
    ServerFirstSent {
        cbind_input: Vec<u8>,
        client_first_bare: String,
        server_first: String,
        nonce: String,
        /// `None` for an unknown user: the exchange runs on and fails at client-final.
        keys: Option<ScramKeys>,
    },
    Done,
    Failed,
}

impl State {
    fn name(&self) -> &'static str {
        match self {
            State::AwaitingClientFirst => "awaiting-client-first",
            State::ClientFirstReceived { .. } => "client-first-received",
            State::ServerFirstSent { .. } => "server-first-sent",
            State::Done => "done",
            State::Failed => "failed",
        }
    }
}

/// Server side of one SCRAM exchange. Any error, or a call out of order, leaves it failed.
pub struct ScramServer {
    mechanism: Mechanism,
    alg: HashAlg,
    binding: Option<ChannelBinding>,
    is_offering_plus: bool,
    state: State,
}

impl fmt::Debug for ScramServer {
    // Hand-written so keys and binding data stay out of logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScramServer")
            .field("mechanism", &self.mechanism)
            .field("state", &self.state.name())
            .finish_non_exhaustive()
    }
}

impl ScramServer {
    /// Starts an exchange for a SCRAM `mechanism`. `binding` is the connection's channel-binding data (`Some` on
    /// TLS); `server_offers_plus` says whether `-PLUS` mechanisms were advertised. A non-SCRAM mechanism, or a
    /// `-PLUS` one without binding data, is [`SaslError::InvalidMechanism`].
    pub fn new(
        mechanism: Mechanism,
        binding: Option<ChannelBinding>,
        server_offers_plus: bool,
    ) -> Result<ScramServer, SaslError> {
        let alg = scram_hash(mechanism)?;
        if mechanism.is_plus() && binding.is_none() {
            return Err(SaslError::InvalidMechanism);
        }
        Ok(ScramServer {
            mechanism,
            alg,
            binding,
            is_offering_plus: server_offers_plus,
            state: State::AwaitingClientFirst,
        })
    }

    /// Parses the client-first-message and checks its channel-binding flag (RFC 5802 §6, §7): a `-PLUS` mechanism
    /// needs `p=<our binding type>` (another type is [`SaslError::NotAuthorized`], `n`/`y` is
    /// [`SaslError::MalformedRequest`]); a plain mechanism needs `n` or `y`, and `y` while we offer `-PLUS` is a
    /// downgrade ([`SaslError::NotAuthorized`]). An unknown mandatory extension (`m=`) is malformed.
    pub fn client_first(&mut self, msg: &[u8]) -> Result<ClientFirst, SaslError> {
        let State::AwaitingClientFirst = std::mem::replace(&mut self.state, State::Failed) else {
            return Err(SaslError::MalformedRequest);
        };
        let parsed = message::parse_client_first(msg)?;
        let mut cbind_input = parsed.gs2_header.into_bytes();
        match (&parsed.flag, self.mechanism.is_plus()) {
            (CbindFlag::Used(kind), true) => match &self.binding {
                Some(binding) if binding.kind == *kind => {
                    cbind_input.extend_from_slice(&binding.data)
                }
                _ => return Err(SaslError::NotAuthorized),
            },
            (CbindFlag::Used(_), false) | (_, true) => return Err(SaslError::MalformedRequest),
            (CbindFlag::NotOffered, false) if self.is_offering_plus => {
                return Err(SaslError::NotAuthorized);
            }
            (CbindFlag::NotOffered | CbindFlag::NotSupported, false) => {}
        }
        self.state = State::ClientFirstReceived {
            cbind_input,
            client_first_bare: parsed.bare,
            client_nonce: parsed.nonce,
        };
        Ok(ClientFirst {
            username: parsed.username,
            authzid: parsed.authzid,
        })
    }

    /// The server-first-message for the user's `keys` (looked up by the caller after
    /// [`ScramServer::client_first`]). For an unknown user pass `None`: the challenge then carries a random salt
    /// and `fake_iterations`, and [`ScramServer::client_final`] fails with [`SaslError::NotAuthorized`], so the
    /// answer does not reveal whether the account exists. Called out of order it returns an empty message and the
    /// exchange fails.
    pub fn server_first(&mut self, keys: Option<&ScramKeys>, fake_iterations: u32) -> Vec<u8> {
        self.server_first_with_nonce(keys, fake_iterations, &message::random_nonce())
    }

    /// [`ScramServer::server_first`] with a fixed server nonce part, for test vectors.
    pub fn server_first_with_nonce(
        &mut self,
        keys: Option<&ScramKeys>,
        fake_iterations: u32,
        server_nonce: &str,
    ) -> Vec<u8> {
        let State::ClientFirstReceived {
            cbind_input,
            client_first_bare,
            client_nonce,
        } = std::mem::replace(&mut self.state, State::Failed)
        else {
            return Vec::new();
        };
        let (salt, iterations) = match keys {
            Some(keys) => (keys.salt.clone(), keys.iterations),
            None => {
                let mut salt = vec![0u8; FAKE_SALT_LEN];
                rand::thread_rng().fill_bytes(&mut salt);
                (salt, fake_iterations.max(1))
            }
        };
        let nonce = format!("{client_nonce}{server_nonce}");
        let server_first = format!("r={nonce},s={},i={iterations}", message::b64(&salt));
        let bytes = server_first.clone().into_bytes();
        self.state = State::ServerFirstSent {
            cbind_input,
            client_first_bare,
            server_first,
            nonce,
            keys: keys.cloned(),
        };
        bytes
    }

    /// Verifies the client-final-message: `c=` must be base64(gs2-header + binding data), the nonce must be ours,
    /// and the proof must check out (compared in constant time). Returns the server-final-message (`v=...`).
    /// Any mismatch, and an unknown user, is [`SaslError::NotAuthorized`].
    pub fn client_final(&mut self, msg: &[u8]) -> Result<Vec<u8>, SaslError> {
        let State::ServerFirstSent {
            cbind_input,
            client_first_bare,
            server_first,
            nonce,
            keys,
        } = std::mem::replace(&mut self.state, State::Failed)
        else {
            return Err(SaslError::MalformedRequest);
        };
        let parsed = message::parse_client_final(msg)?;
        if !bool::from(parsed.cbind_input.ct_eq(&cbind_input)) || parsed.nonce != nonce {
            return Err(SaslError::NotAuthorized);
        }
        // An unknown user goes through the same work against all-zero keys, so timing does not tell either.
        let is_known = keys.is_some();
        let keys = keys.unwrap_or_else(|| dummy_keys(self.alg));
        let auth = auth_message(&client_first_bare, &server_first, &parsed.without_proof);
        let client_signature = hmac(self.alg, &keys.stored_key, auth.as_bytes())?;
        if parsed.proof.len() != client_signature.len() {
            return Err(SaslError::NotAuthorized);
        }
        let client_key = xor(&parsed.proof, &client_signature);
        let is_proven = bool::from(hash(self.alg, &client_key).ct_eq(&keys.stored_key));
        if !(is_known && is_proven) {
            return Err(SaslError::NotAuthorized);
        }
        let server_signature = hmac(self.alg, &keys.server_key, auth.as_bytes())?;
        self.state = State::Done;
        Ok(format!("v={}", message::b64(&server_signature)).into_bytes())
    }
}

/// Stand-in keys for an unknown user; never accepted.
fn dummy_keys(alg: HashAlg) -> ScramKeys {
    ScramKeys {
        salt: Vec::new(),
        iterations: 0,
        stored_key: vec![0; alg.output_len()],
        server_key: vec![0; alg.output_len()],
    }
}
