//! The SOCKS5 handshake (RFC 1928) as XEP-0065 §5.3.2 profiles it: no authentication,
//! `CONNECT` to a `DOMAINNAME` that is the hex SHA-1 naming the stream, port 0. The checks are
//! pure functions over the bytes; [`negotiate`] drives them over a socket.

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::proto::DstAddr;

const VERSION: u8 = 5;
const NO_AUTH: u8 = 0;
const NO_ACCEPTABLE_METHOD: u8 = 0xff;
const CMD_CONNECT: u8 = 1;
const ATYP_DOMAINNAME: u8 = 3;

/// RFC 1928 §6 reply codes the proxy sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum ReplyCode {
    Succeeded = 0,
    /// X'02': the address or port is not a XEP-0065 stream, or the stream already has two ends.
    NotAllowed = 2,
    CommandNotSupported = 7,
    AddressTypeNotSupported = 8,
}

/// Why a handshake was refused; the connection is closed after the answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// Not SOCKS version 5: closed without an answer the peer would not understand.
    #[error("not SOCKS5")]
    NotSocks5,
    /// The greeting offers no method the proxy accepts (only "no authentication"): X'FF'.
    #[error("no acceptable authentication method")]
    NoAcceptableMethod,
    /// A request answered with this reply code.
    #[error("request refused ({0:?})")]
    Reply(ReplyCode),
}

#[derive(Debug, thiserror::Error)]
pub enum HandshakeError {
    #[error(transparent)]
    Refused(#[from] Refusal),
    #[error("connection: {0}")]
    Io(#[from] std::io::Error),
}

/// The method-selection greeting: `VER NMETHODS METHODS…`.
pub fn check_greeting(version: u8, methods: &[u8]) -> Result<(), Refusal> {
    if version != VERSION {
        return Err(Refusal::NotSocks5);
    }
    if !methods.contains(&NO_AUTH) {
        return Err(Refusal::NoAcceptableMethod);
    }
    Ok(())
}

/// The fixed head of a request: `VER CMD RSV ATYP` (RSV is not checked, as RFC 1928 reserves it).
pub fn check_request_head(head: [u8; 4]) -> Result<(), Refusal> {
    let [version, command, _, address_type] = head;
    if version != VERSION {
        return Err(Refusal::NotSocks5);
    }
    if command != CMD_CONNECT {
        return Err(Refusal::Reply(ReplyCode::CommandNotSupported));
    }
    if address_type != ATYP_DOMAINNAME {
        return Err(Refusal::Reply(ReplyCode::AddressTypeNotSupported));
    }
    Ok(())
}

/// DST.ADDR and DST.PORT: a XEP-0065 stream name and port 0.
pub fn check_destination(address: &[u8], port: u16) -> Result<DstAddr, Refusal> {
    let refused = Refusal::Reply(ReplyCode::NotAllowed);
    if port != 0 {
        return Err(refused);
    }
    std::str::from_utf8(address)
        .ok()
        .and_then(DstAddr::parse)
        .ok_or(refused)
}

/// A reply; success echoes the stream name as BND.ADDR (XEP-0065 §5.3.2), a refusal carries
/// the all-zero IPv4 address.
pub fn reply(code: ReplyCode, dst: Option<&DstAddr>) -> Vec<u8> {
    let mut out = vec![VERSION, code as u8, 0];
    match dst {
        Some(dst) => {
            out.push(ATYP_DOMAINNAME);
            // A DstAddr is 40 hex digits, so its length fits the one length byte.
            out.push(dst.as_str().len() as u8);
            out.extend_from_slice(dst.as_str().as_bytes());
        }
        None => out.extend_from_slice(&[1, 0, 0, 0, 0]),
    }
    out.extend_from_slice(&[0, 0]);
    out
}

/// Runs the handshake up to (not including) the final reply, which the caller sends once it
/// knows whether the stream takes this connection. Refusals are answered here.
pub async fn negotiate<S: AsyncRead + AsyncWrite + Unpin>(
    s: &mut S,
) -> Result<DstAddr, HandshakeError> {
    let mut greeting = [0u8; 2];
    s.read_exact(&mut greeting).await?;
    let mut methods = vec![0u8; usize::from(greeting[1])];
    s.read_exact(&mut methods).await?;
    if let Err(r) = check_greeting(greeting[0], &methods) {
        return Err(refuse(s, r).await);
    }
    s.write_all(&[VERSION, NO_AUTH]).await?;
    let mut head = [0u8; 4];
    s.read_exact(&mut head).await?;
    if let Err(r) = check_request_head(head) {
        return Err(refuse(s, r).await);
    }
    let len = s.read_u8().await?;
    let mut address = vec![0u8; usize::from(len)];
    s.read_exact(&mut address).await?;
    let port = s.read_u16().await?;
    match check_destination(&address, port) {
        Ok(dst) => Ok(dst),
        Err(r) => Err(refuse(s, r).await),
    }
}

/// Answers a refusal as RFC 1928 asks; the caller closes the connection.
async fn refuse<S: AsyncWrite + Unpin>(s: &mut S, refusal: Refusal) -> HandshakeError {
    let answer = match refusal {
        Refusal::NotSocks5 => None,
        Refusal::NoAcceptableMethod => Some(vec![VERSION, NO_ACCEPTABLE_METHOD]),
        Refusal::Reply(code) => Some(reply(code, None)),
    };
    if let Some(bytes) = answer {
        // The peer is being turned away; whether it reads the answer changes nothing.
        let _ = s.write_all(&bytes).await;
        let _ = s.flush().await;
    }
    HandshakeError::Refused(refusal)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HASH: &str = "2e45ce941bf465393585e33be9ccff347e00b430";

    fn connect(cmd: u8, atyp: u8, addr: &[u8], port: u16) -> Vec<u8> {
        let mut v = vec![5, cmd, 0, atyp, addr.len() as u8];
        v.extend_from_slice(addr);
        v.extend_from_slice(&port.to_be_bytes());
        v
    }

    /// Feeds `input` and returns what the proxy wrote back and the outcome.
    async fn run(input: Vec<u8>) -> (Vec<u8>, Result<DstAddr, HandshakeError>) {
        let (mut proxy, mut peer) = tokio::io::duplex(1024);
        peer.write_all(&input).await.expect("write");
        peer.shutdown().await.expect("shutdown");
        let result = negotiate(&mut proxy).await;
        drop(proxy);
        let mut written = Vec::new();
        peer.read_to_end(&mut written).await.expect("read");
        (written, result)
    }

    #[tokio::test]
    async fn handshakes_are_answered_per_rfc_1928() {
        let ok_greeting = vec![5, 1, 0];
        let selected = vec![5, 0];
        let refusal = |code: u8| [selected.clone(), vec![5, code, 0, 1, 0, 0, 0, 0, 0, 0]].concat();
        // (what, input, bytes the proxy writes, refusal or None for success)
        type Case = (&'static str, Vec<u8>, Vec<u8>, Option<Refusal>);
        let cases: Vec<Case> = vec![
            (
                "a XEP-0065 CONNECT",
                [ok_greeting.clone(), connect(1, 3, HASH.as_bytes(), 0)].concat(),
                selected.clone(),
                None,
            ),
            (
                "no-auth among other methods",
                [vec![5, 3, 2, 1, 0], connect(1, 3, HASH.as_bytes(), 0)].concat(),
                selected.clone(),
                None,
            ),
            ("SOCKS4", vec![4, 1, 0, 0], vec![], Some(Refusal::NotSocks5)),
            (
                "username/password only",
                vec![5, 1, 2],
                vec![5, 0xff],
                Some(Refusal::NoAcceptableMethod),
            ),
            (
                "no methods",
                vec![5, 0],
                vec![5, 0xff],
                Some(Refusal::NoAcceptableMethod),
            ),
            (
                "BIND",
                [ok_greeting.clone(), connect(2, 3, HASH.as_bytes(), 0)].concat(),
                refusal(7),
                Some(Refusal::Reply(ReplyCode::CommandNotSupported)),
            ),
            (
                "UDP ASSOCIATE",
                [ok_greeting.clone(), connect(3, 3, HASH.as_bytes(), 0)].concat(),
                refusal(7),
                Some(Refusal::Reply(ReplyCode::CommandNotSupported)),
            ),
            (
                "IPv4 address",
                [ok_greeting.clone(), vec![5, 1, 0, 1, 127, 0, 0, 1, 0, 80]].concat(),
                refusal(8),
                Some(Refusal::Reply(ReplyCode::AddressTypeNotSupported)),
            ),
            (
                "a port",
                [ok_greeting.clone(), connect(1, 3, HASH.as_bytes(), 80)].concat(),
                refusal(2),
                Some(Refusal::Reply(ReplyCode::NotAllowed)),
            ),
            (
                "a host name, not a stream hash",
                [ok_greeting.clone(), connect(1, 3, b"example.com", 0)].concat(),
                refusal(2),
                Some(Refusal::Reply(ReplyCode::NotAllowed)),
            ),
            (
                "upper-case hex",
                [
                    ok_greeting.clone(),
                    connect(1, 3, HASH.to_uppercase().as_bytes(), 0),
                ]
                .concat(),
                refusal(2),
                Some(Refusal::Reply(ReplyCode::NotAllowed)),
            ),
            (
                "request in SOCKS4",
                [ok_greeting.clone(), connect(1, 3, HASH.as_bytes(), 0)]
                    .concat()
                    .into_iter()
                    .enumerate()
                    .map(|(i, b)| if i == 3 { 4 } else { b })
                    .collect(),
                selected.clone(),
                Some(Refusal::NotSocks5),
            ),
        ];
        for (name, input, expected_out, expected) in cases {
            let (out, result) = run(input).await;
            assert_eq!(out, expected_out, "{name}: bytes written");
            match (result, expected) {
                (Ok(dst), None) => assert_eq!(dst.as_str(), HASH, "{name}"),
                (Err(HandshakeError::Refused(r)), Some(e)) => assert_eq!(r, e, "{name}"),
                (other, e) => panic!("{name}: expected {e:?}, got {other:?}"),
            }
        }
    }

    #[tokio::test]
    async fn a_truncated_handshake_is_a_connection_error() {
        for input in [
            vec![],
            vec![5],
            vec![5, 2, 0],
            vec![5, 1, 0, 5, 1, 0, 3, 40, b'a'],
        ] {
            let (_, result) = run(input.clone()).await;
            assert!(
                matches!(result, Err(HandshakeError::Io(_))),
                "{input:?}: {result:?}"
            );
        }
    }

    #[test]
    fn success_reply_echoes_the_stream_name() {
        let dst = DstAddr::parse(HASH).expect("hash");
        let bytes = reply(ReplyCode::Succeeded, Some(&dst));
        assert_eq!(&bytes[..5], &[5, 0, 0, 3, 40]);
        assert_eq!(&bytes[5..45], HASH.as_bytes());
        assert_eq!(&bytes[45..], &[0, 0]);
    }
}
