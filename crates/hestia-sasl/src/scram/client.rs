//! The client side of SCRAM (RFC 5802 §5, §6; RFC 7677) as a sans-IO state machine, used by the Hestia SDK and
//! the load generator. It sends `p=tls-exporter` (RFC 9266) for `-PLUS`, `y` when it could bind but the mechanism
//! chosen does not, and `n` without TLS; it authenticates the server by checking the server signature.

use std::fmt;

use subtle::ConstantTimeEq;

use super::message::{self, ServerFinalMessage};
use super::{auth_message, scram_hash, xor};
use crate::keys::{hash, hi, hmac};
use crate::{ChannelBinding, HashAlg, Mechanism, SaslError, saslprep};

enum State {
    Initial,
    FirstSent { client_first_bare: String },
    FinalSent { server_signature: Vec<u8> },
    Done,
    Failed,
}

impl State {
    fn name(&self) -> &'static str {
        match self {
            State::Initial => "initial",
            State::FirstSent { .. } => "first-sent",
            State::FinalSent { .. } => "final-sent",
            State::Done => "done",
            State::Failed => "failed",
        }
    }
}

/// Client side of one SCRAM exchange. Any error, or a call out of order, leaves it failed.
pub struct ScramClient {
    mechanism: Mechanism,
    alg: HashAlg,
    /// SASLprepped and `saslname`-escaped.
    username: String,
    /// SASLprepped.
    password: String,
    gs2_header: String,
    /// gs2-header plus binding data for `-PLUS`; sent base64-encoded as `c=`.
    cbind_input: Vec<u8>,
    nonce: String,
    state: State,
}

impl fmt::Debug for ScramClient {
    // Hand-written so the password stays out of logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScramClient")
            .field("mechanism", &self.mechanism)
            .field("username", &self.username)
            .field("state", &self.state.name())
            .finish_non_exhaustive()
    }
}

impl ScramClient {
    /// Prepares an exchange. `binding` is the connection's channel-binding data (`Some` on TLS): with a `-PLUS`
    /// mechanism the gs2 flag is `p=<kind>`, with a plain one `y`, and without binding `n`. A non-SCRAM mechanism,
    /// or `-PLUS` without binding, is [`SaslError::InvalidMechanism`]; a name or password SASLprep rejects is
    /// [`SaslError::MalformedRequest`].
    pub fn new(
        mechanism: Mechanism,
        username: &str,
        password: &str,
        binding: Option<ChannelBinding>,
    ) -> Result<ScramClient, SaslError> {
        let alg = scram_hash(mechanism)?;
        let (flag, binding_data) = match (binding, mechanism.is_plus()) {
            (Some(binding), true) => (format!("p={}", binding.kind), binding.data),
            (None, true) => return Err(SaslError::InvalidMechanism),
            (Some(_), false) => ("y".to_owned(), Vec::new()),
            (None, false) => ("n".to_owned(), Vec::new()),
        };
        let gs2_header = format!("{flag},,");
        let mut cbind_input = gs2_header.clone().into_bytes();
        cbind_input.extend_from_slice(&binding_data);
        Ok(ScramClient {
            mechanism,
            alg,
            username: message::escape_saslname(&saslprep(username)?),
            password: saslprep(password)?,
            gs2_header,
            cbind_input,
            nonce: message::random_nonce(),
            state: State::Initial,
        })
    }

    /// Replaces the random client nonce, for test vectors.
    pub fn with_nonce(mut self, nonce: &str) -> ScramClient {
        nonce.clone_into(&mut self.nonce);
        self
    }

    /// The client-first-message: `gs2-header n=<user>,r=<nonce>`.
    pub fn client_first(&mut self) -> Vec<u8> {
        let client_first_bare = format!("n={},r={}", self.username, self.nonce);
        let msg = format!("{}{client_first_bare}", self.gs2_header).into_bytes();
        self.state = State::FirstSent { client_first_bare };
        msg
    }

    /// Answers the server-first-message with the client-final-message carrying the proof. A server nonce that does
    /// not extend ours is [`SaslError::NotAuthorized`]; a malformed message is [`SaslError::MalformedRequest`].
    pub fn client_final(&mut self, server_first: &[u8]) -> Result<Vec<u8>, SaslError> {
        let State::FirstSent { client_first_bare } =
            std::mem::replace(&mut self.state, State::Failed)
        else {
            return Err(SaslError::MalformedRequest);
        };
        let parsed = message::parse_server_first(server_first)?;
        if parsed.nonce.len() <= self.nonce.len() || !parsed.nonce.starts_with(&self.nonce) {
            return Err(SaslError::NotAuthorized);
        }
        let salted = hi(
            self.alg,
            self.password.as_bytes(),
            &parsed.salt,
            parsed.iterations,
        )?;
        let client_key = hmac(self.alg, &salted, b"Client Key")?;
        let stored_key = hash(self.alg, &client_key);
        let server_key = hmac(self.alg, &salted, b"Server Key")?;

        let without_proof = format!("c={},r={}", message::b64(&self.cbind_input), parsed.nonce);
        // The parsed message was valid UTF-8, so this reproduces it exactly.
        let server_first = String::from_utf8_lossy(server_first);
        let auth = auth_message(&client_first_bare, &server_first, &without_proof);
        let client_signature = hmac(self.alg, &stored_key, auth.as_bytes())?;
        let proof = xor(&client_key, &client_signature);
        self.state = State::FinalSent {
            server_signature: hmac(self.alg, &server_key, auth.as_bytes())?,
        };
        Ok(format!("{without_proof},p={}", message::b64(&proof)).into_bytes())
    }

    /// Checks the server-final-message: `v=` must carry the expected server signature (compared in constant time).
    /// A server error (`e=`) or a wrong signature is [`SaslError::NotAuthorized`].
    pub fn verify_server_final(&mut self, server_final: &[u8]) -> Result<(), SaslError> {
        let State::FinalSent { server_signature } =
            std::mem::replace(&mut self.state, State::Failed)
        else {
            return Err(SaslError::MalformedRequest);
        };
        match message::parse_server_final(server_final)? {
            ServerFinalMessage::Verifier(v) if bool::from(v.ct_eq(&server_signature)) => {
                self.state = State::Done;
                Ok(())
            }
            ServerFinalMessage::Verifier(_) | ServerFinalMessage::Error(_) => {
                Err(SaslError::NotAuthorized)
            }
        }
    }
}
