//! The accept loop every TCP listener of the server runs (c2s, direct TLS, the component port,
//! the bytestream proxy): one task on the server's tracker accepting until shutdown, each
//! connection handed to whoever owns the listener.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// The pause after a failed accept before the next one.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// Accepts on `listener` in a task on `tracker` until `shutdown` is cancelled, handing every
/// connection to `on_accept`, which must not block (it spawns the connection's own task).
/// `what` names the listener in the log.
pub(crate) fn accept_until_shutdown(
    what: &'static str,
    listener: TcpListener,
    shutdown: CancellationToken,
    tracker: &TaskTracker,
    on_accept: impl Fn(TcpStream, SocketAddr) + Send + 'static,
) {
    tracker.spawn(async move {
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                accepted = listener.accept() => match accepted {
                    Ok((tcp, peer)) => on_accept(tcp, peer),
                    Err(e) => {
                        // EMFILE and friends: back off briefly instead of spinning.
                        tracing::warn!(error = %e, "{what} accept failed");
                        tokio::time::sleep(ACCEPT_BACKOFF).await;
                    }
                },
            }
        }
    });
}
