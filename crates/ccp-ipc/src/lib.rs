//! Transports that carry CCP messages between an agent and its datapaths (spec §5).
//!
//! Every transport carries the raw CCP messages of `ccp-wire`, one message per datagram;
//! only netlink adds its own 16-byte header, which [`netlink`] adds and strips.
//!
//! | transport | agent address | datapath address | [`Ipc::Addr`] |
//! |---|---|---|---|
//! | [`unix::UnixSocket`] | `/tmp/ccp/<name>` (default name `portus`) | any path the datapath binds | `PathBuf` |
//! | [`chan::ChanSocket`] | in-process | in-process | `()` |
//! | [`netlink::NetlinkSocket`] | pid of the agent, multicast group 22 | the kernel (pid 0) | `()` |
//!
//! All transports exist in a blocking flavour (receive waits up to a poll interval, so a run
//! loop can check its stop flag) and a non-blocking one (receive returns at once).
#![forbid(unsafe_code)]

use std::fmt::Debug;
use std::hash::Hash;
use std::path::PathBuf;
use std::time::Duration;

use thiserror::Error;

pub mod chan;
pub mod netlink;
pub mod unix;

/// The receive buffer size the agent side should use. portus uses 1024 bytes (spec §2.12);
/// we use a buffer large enough for any libccp message (MEASURE with 110 fields is 896 bytes)
/// and any INSTALL (≤ 32678 bytes), so nothing is ever truncated.
pub const RECV_BUF_LEN: usize = 32_768;

/// Default poll interval of blocking receives: how often a run loop gets to check its stop
/// flag while idle.
pub const DEFAULT_POLL_INTERVAL: Duration = Duration::from_millis(100);

/// Whether receives wait for a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// `recv_from` waits up to the given interval, then reports "nothing yet".
    Blocking(Duration),
    /// `recv_from` returns at once when no message is queued.
    Nonblocking,
}

impl Default for Mode {
    fn default() -> Self {
        Mode::Blocking(DEFAULT_POLL_INTERVAL)
    }
}

/// Errors of the transports.
#[derive(Debug, Error)]
pub enum IpcError {
    /// The socket could not be created or bound.
    #[error("cannot bind {what}: {source}")]
    Bind {
        /// What was being bound (a path, "netlink", …).
        what: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A message could not be sent.
    #[error("cannot send {len} bytes to {to}: {source}")]
    Send {
        /// Message length.
        len: usize,
        /// Destination, for logs.
        to: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// Receiving failed for a reason other than "no message yet".
    #[error("receive failed: {0}")]
    Recv(#[source] std::io::Error),
    /// A datagram arrived from a sender without a filesystem address, so no reply is possible.
    #[error("datagram from an unnamed or abstract unix address (the peer must bind a path)")]
    UnnamedPeer,
    /// The other end of an in-process channel is gone.
    #[error("the peer of the in-process channel has disconnected")]
    Disconnected,
    /// A netlink frame was malformed.
    #[error("malformed netlink frame: {0}")]
    Netlink(#[from] netlink::FrameError),
}

impl IpcError {
    /// An OS error wrapped as a bind error for `what`.
    pub(crate) fn bind(what: impl Into<String>, source: std::io::Error) -> IpcError {
        IpcError::Bind {
            what: what.into(),
            source,
        }
    }
}

/// A message transport, as seen from one end.
///
/// `recv_from` returns `Ok(None)` when no message arrived (poll interval elapsed, or would
/// block in non-blocking mode), so callers can poll a stop flag between receives.
pub trait Ipc: Send + 'static {
    /// How the peer is addressed (and how the agent tells datapaths apart).
    type Addr: Clone + Eq + Hash + Debug + Send + Sync + 'static;

    /// Short name of the transport (`unix`, `netlink`, `chan`).
    fn name(&self) -> &'static str;

    /// Send one message to `to`.
    fn send_to(&self, msg: &[u8], to: &Self::Addr) -> Result<(), IpcError>;

    /// Receive one message into `buf`: its length and the sender's address, or `None` if
    /// nothing arrived in time. A datagram longer than `buf` is truncated to `buf.len()`.
    fn recv_from(&self, buf: &mut [u8]) -> Result<Option<(usize, Self::Addr)>, IpcError>;
}

/// The directory portus and our agent put their unix sockets in.
pub fn default_socket_dir() -> PathBuf {
    PathBuf::from("/tmp/ccp")
}

/// The agent's unix socket path for a given agent name (`/tmp/ccp/<name>`; the default name
/// is `portus`).
pub fn agent_socket_path(name: &str) -> PathBuf {
    default_socket_dir().join(name)
}

pub(crate) fn is_timeout(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
    )
}
