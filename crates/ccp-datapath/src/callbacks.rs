//! What the datapath author implements: the [`Callbacks`] trait.

use thiserror::Error;

/// A connection's socket id: 1-based, as on the wire (`u32`).
pub type Sid = u32;

/// Why a message could not be handed to the agent. Any error starts the fallback timer
/// when the message was a CREATE or a MEASURE (libccp: a non-zero `send_msg` return).
#[derive(Debug, Error)]
pub enum SendError {
    /// The agent is not there (unix: `ECONNREFUSED`/`ENOENT`; channel: disconnected).
    #[error("agent unreachable: {0}")]
    Unreachable(String),
    /// The transport is (temporarily) full.
    #[error("transport full")]
    WouldBlock,
    /// Any other transport error.
    #[error("send failed: {0}")]
    Other(String),
}

/// The datapath's side of the contract: how to apply congestion-control decisions, how to
/// reach the agent, and what time it is. Mirrors libccp's `struct ccp_datapath` callbacks.
///
/// The library calls these synchronously from within [`Datapath`](crate::Datapath)
/// methods; they must not call back into the same `Datapath`.
///
/// # Time
///
/// `now()` is in datapath-chosen units (libccp's kernel datapath uses ns); the library
/// only ever converts through `since_usecs`. The default `since_usecs` / `after_usecs`
/// assume `now()` counts **microseconds**: override both if it does not. Time may be
/// virtual (a simulator clock); the library never reads a clock of its own.
pub trait Callbacks {
    /// Per-connection datapath state handed back in every per-connection callback (libccp's
    /// `conn->impl`). Use `()` if the [`Sid`] is enough.
    type Conn;

    /// Apply a congestion window, in bytes.
    fn set_cwnd(&mut self, sid: Sid, conn: &mut Self::Conn, cwnd_bytes: u64);

    /// Apply an absolute pacing rate, in bytes per second.
    fn set_rate_abs(&mut self, sid: Sid, conn: &mut Self::Conn, rate_bytes_per_s: u64);

    /// Scale the pacing rate by `factor`. Kept for API completeness with old libccp
    /// datapaths: **this library never calls it** (datapath programs cannot express a
    /// relative rate since libccp removed it in 2019, and the fallback controllers only set
    /// the window).
    fn set_rate_rel(&mut self, sid: Sid, conn: &mut Self::Conn, factor: f64) {
        let _ = (sid, conn, factor);
    }

    /// Send one message to the agent. Return `Ok(())` only if it was handed to the
    /// transport.
    fn send_msg(&mut self, msg: &[u8]) -> Result<(), SendError>;

    /// Current time in datapath units.
    fn now(&self) -> u64;

    /// Microseconds elapsed since `then` (a value returned by [`now`](Self::now)).
    fn since_usecs(&self, then: u64) -> u64 {
        self.now().saturating_sub(then)
    }

    /// The [`now`](Self::now) value `us` microseconds from now (libccp never calls it;
    /// neither does this library, it exists for API parity).
    fn after_usecs(&self, us: u64) -> u64 {
        self.now().saturating_add(us)
    }
}

/// Connection constants announced in CREATE (libccp `struct ccp_datapath_info`, without
/// the algorithm name, which [`Datapath::connection_start`](crate::Datapath::connection_start)
/// takes separately).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct DatapathInfo {
    /// Initial congestion window, bytes.
    pub init_cwnd: u32,
    /// Maximum segment size, bytes (the fallback controllers use 1460 when this is 0).
    pub mss: u32,
    /// Opaque source address.
    pub src_ip: u32,
    /// Opaque source port.
    pub src_port: u32,
    /// Opaque destination address.
    pub dst_ip: u32,
    /// Opaque destination port.
    pub dst_port: u32,
}
