//! The simulator's end of a unix-socket link to an external agent process.
//!
//! The simulated datapath binds its own socket (default `/tmp/ccp/sim-<pid>-<n>`) and sends
//! to the agent's (default `/tmp/ccp/portus`). Virtual time does not wait for anything by
//! itself, so the link paces the simulation against the agent:
//!
//! * **lock-step** (always): when the library sent a message that may be answered (READY,
//!   CREATE, a report), virtual time stops one IPC delay later until the agent's replies
//!   arrive — up to [`UnixOptions::reply_timeout`] of wall time for the first reply, then
//!   until the socket stays quiet for [`UnixOptions::quiet`]. The replies are delivered
//!   one IPC delay after that, so an agent that answers within the timeout sees the same
//!   message sequence at the same virtual times as the in-process agent. A reply that
//!   comes later is picked up by a periodic poll (every simulated millisecond) and
//!   delivered then.
//! * **real time** (optional, [`UnixOptions::realtime`]): in addition, virtual time never
//!   runs ahead of the wall clock, for agents whose algorithms read their own clock
//!   (e.g. timers or rate estimates based on `Instant::now`). A 60 s run then takes 60 s.

use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use ccp_datapath::SendError;
use ccp_ipc::unix::UnixSocket;
use ccp_ipc::{Ipc, IpcError, Mode, RECV_BUF_LEN};
use serde::Serialize;
use tracing::{debug, warn};

use crate::time::SimTime;

/// How the simulator reaches an external agent over unix sockets.
#[derive(Clone, Debug, PartialEq)]
pub struct UnixOptions {
    /// The agent's socket (`ccp agent` and portus bind `/tmp/ccp/<name>`, default
    /// `/tmp/ccp/portus`).
    pub agent: PathBuf,
    /// The simulator's own socket; `None`: `/tmp/ccp/sim-<pid>-<n>`.
    pub bind: Option<PathBuf>,
    /// Longest wall-clock wait for the first reply to a message.
    pub reply_timeout: Duration,
    /// After a reply, wait until no further message arrived for this long.
    pub quiet: Duration,
    /// Also keep virtual time from running ahead of the wall clock.
    pub realtime: bool,
}

impl Default for UnixOptions {
    fn default() -> Self {
        UnixOptions {
            agent: ccp_ipc::agent_socket_path("portus"),
            bind: None,
            reply_timeout: Duration::from_millis(50),
            quiet: Duration::from_millis(1),
            realtime: false,
        }
    }
}

impl UnixOptions {
    /// Options for the agent at `path`, defaults otherwise.
    pub fn agent_at(path: impl Into<PathBuf>) -> UnixOptions {
        UnixOptions {
            agent: path.into(),
            ..UnixOptions::default()
        }
    }
}

/// Counters of a unix-mode run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct UnixStats {
    /// Messages sent to the agent.
    pub sent: u64,
    /// Sends that failed (the agent is gone): the datapath library falls back after its
    /// timeout.
    pub send_errors: u64,
    /// Messages received from the agent.
    pub received: u64,
    /// Datagrams from other senders, dropped.
    pub foreign: u64,
    /// Lock-step waits.
    pub waits: u64,
    /// Waits that ended without any reply (reply timeout).
    pub unanswered: u64,
    /// Messages that arrived outside a wait (late replies or unsolicited), delivered by the
    /// periodic poll.
    pub polled: u64,
    /// Wall-clock time spent waiting, µs.
    pub waited_us: u64,
}

#[derive(Debug, Default)]
struct State {
    /// Sent messages that may be answered, since the last wait.
    pending: u32,
    /// Someone should schedule a collect (a reply-bearing message went out).
    collect: bool,
    wall_start: Option<Instant>,
    /// Messages received while pacing, not yet delivered.
    early: Vec<Vec<u8>>,
    stats: UnixStats,
}

/// A bound socket plus the lock-step state.
pub(crate) struct UnixLink {
    sock: UnixSocket,
    opts: UnixOptions,
    state: RefCell<State>,
    buf: RefCell<Vec<u8>>,
}

static NEXT_SOCKET: AtomicU32 = AtomicU32::new(0);

/// How long a send to an agent whose queue is full is retried.
pub const SEND_RETRY: Duration = Duration::from_millis(200);

/// Whether a datapath→agent message may be answered (READY: INSTALLs; CREATE:
/// CHANGE_PROG; a report: updates). Close messages and HELLO are not waited for.
fn expects_reply(msg: &[u8]) -> bool {
    let ty = msg.get(..2).map(|b| u16::from_le_bytes([b[0], b[1]]));
    match ty {
        Some(5) | Some(0) => true,
        Some(1) => msg
            .get(12..16)
            .is_some_and(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) > 0),
        _ => false,
    }
}

impl UnixLink {
    /// Bind the simulator's socket.
    pub(crate) fn bind(opts: UnixOptions) -> Result<UnixLink, IpcError> {
        let path = opts.bind.clone().unwrap_or_else(|| {
            let n = NEXT_SOCKET.fetch_add(1, Ordering::Relaxed);
            ccp_ipc::default_socket_dir().join(format!("sim-{}-{n}", std::process::id()))
        });
        let sock = UnixSocket::bind(path, Mode::Nonblocking)?;
        Ok(UnixLink {
            sock,
            opts,
            state: RefCell::new(State::default()),
            buf: RefCell::new(vec![0; RECV_BUF_LEN]),
        })
    }

    /// The simulator's socket path.
    pub(crate) fn path(&self) -> &Path {
        self.sock.path()
    }

    /// Send one message to the agent now. If the agent's queue is full (it has not read
    /// yet), keep trying for up to [`SEND_RETRY`], meanwhile taking what it sent us (so that
    /// an agent blocked on sending to us can go on).
    pub(crate) fn send(&self, msg: &[u8]) -> Result<(), SendError> {
        let mut r = self.sock.send_to(msg, &self.opts.agent);
        let t0 = Instant::now();
        while let Err(IpcError::Send { source, .. }) = &r
            && source.kind() == std::io::ErrorKind::WouldBlock
            && t0.elapsed() < SEND_RETRY
        {
            while let Some(m) = self.recv_one(Mode::Nonblocking) {
                let mut st = self.state.borrow_mut();
                st.stats.received += 1;
                st.early.push(m);
            }
            std::thread::yield_now();
            r = self.sock.send_to(msg, &self.opts.agent);
        }
        let mut st = self.state.borrow_mut();
        match r {
            Ok(()) => {
                st.stats.sent += 1;
                if expects_reply(msg) {
                    st.pending += 1;
                    st.collect = true;
                }
                tracing::trace!(
                    len = msg.len(),
                    ty = msg.first().copied().unwrap_or(0),
                    pending = st.pending,
                    "sent"
                );
                Ok(())
            }
            Err(e) => {
                st.stats.send_errors += 1;
                if st.stats.send_errors <= 3 {
                    warn!(agent = %self.opts.agent.display(), error = %e, "cannot reach the agent");
                }
                Err(match e {
                    IpcError::Send { source, .. }
                        if matches!(
                            source.kind(),
                            std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused
                        ) =>
                    {
                        SendError::Unreachable(source.to_string())
                    }
                    IpcError::Send { source, .. }
                        if source.kind() == std::io::ErrorKind::WouldBlock =>
                    {
                        SendError::WouldBlock
                    }
                    other => SendError::Other(other.to_string()),
                })
            }
        }
    }

    /// Whether a collect should be scheduled (clears the request).
    pub(crate) fn take_collect_request(&self) -> bool {
        std::mem::take(&mut self.state.borrow_mut().collect)
    }

    /// Start the wall clock of real-time pacing.
    pub(crate) fn start_clock(&self) {
        self.state.borrow_mut().wall_start = Some(Instant::now());
    }

    fn recv_one(&self, mode: Mode) -> Option<Vec<u8>> {
        if let Err(e) = self.sock.set_mode(mode) {
            debug!(error = %e, "cannot set the socket mode");
        }
        let mut buf = self.buf.borrow_mut();
        loop {
            match self.sock.recv_from(&mut buf) {
                Ok(Some((n, from))) => {
                    if from != self.opts.agent {
                        self.state.borrow_mut().stats.foreign += 1;
                        continue;
                    }
                    return buf.get(..n).map(<[u8]>::to_vec);
                }
                Ok(None) => return None,
                Err(e) => {
                    debug!(error = %e, "receive from the agent failed");
                    return None;
                }
            }
        }
    }

    /// Real-time mode: block (receiving) until the wall clock reaches virtual time `now`.
    pub(crate) fn pace(&self, now: SimTime) {
        if !self.opts.realtime {
            return;
        }
        let Some(start) = self.state.borrow().wall_start else {
            return;
        };
        let target = start + Duration::from_nanos(now.as_nanos());
        loop {
            let left = target.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return;
            }
            if let Some(m) = self.recv_one(Mode::Blocking(left)) {
                let mut st = self.state.borrow_mut();
                st.stats.received += 1;
                st.stats.polled += 1;
                st.early.push(m);
            }
        }
    }

    /// Messages from the agent: with `wait`, and if a sent message may be answered, wait
    /// (lock-step) for the replies first; then everything already queued.
    pub(crate) fn receive(&self, wait: bool, _now: SimTime) -> Vec<Vec<u8>> {
        let mut out = std::mem::take(&mut self.state.borrow_mut().early);
        let early = out.len() as u64;
        let pending = if wait {
            std::mem::take(&mut self.state.borrow_mut().pending)
        } else {
            0
        };
        let waited = pending > 0;
        if waited {
            let t0 = Instant::now();
            let deadline = t0 + self.opts.reply_timeout;
            // Replies that arrived while pacing count: only wait for stragglers.
            let mut got = out.len() as u64;
            loop {
                let t = if got > 0 {
                    self.opts.quiet
                } else {
                    deadline.saturating_duration_since(Instant::now())
                };
                if t.is_zero() {
                    break;
                }
                match self.recv_one(Mode::Blocking(t)) {
                    Some(m) => {
                        out.push(m);
                        got += 1;
                    }
                    None => break,
                }
            }
            tracing::trace!(
                got,
                waited_us = t0.elapsed().as_micros() as u64,
                pending,
                "waited"
            );
            let mut st = self.state.borrow_mut();
            st.stats.waits += 1;
            st.stats.received += got - early;
            if got == 0 {
                st.stats.unanswered += 1;
            }
            st.stats.waited_us += t0.elapsed().as_micros() as u64;
        }
        let before = out.len();
        while let Some(m) = self.recv_one(Mode::Nonblocking) {
            out.push(m);
        }
        let extra = (out.len() - before) as u64;
        let mut st = self.state.borrow_mut();
        st.stats.received += extra;
        if !waited {
            st.stats.polled += extra;
            // Messages taken without waiting (the poll, real-time pacing) answer pending
            // requests: do not wait for them again.
            let n = u32::try_from(extra + early).unwrap_or(u32::MAX);
            st.pending = st.pending.saturating_sub(n);
        }
        out
    }

    /// The counters.
    pub(crate) fn stats(&self) -> UnixStats {
        self.state.borrow().stats
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reply_bearing_messages_are_recognised() {
        let ready = ccp_wire::Ready { id: 1 }.to_bytes();
        assert!(expects_reply(&ready));
        use ccp_wire::Encode;
        let create = ccp_wire::Create {
            sid: 1,
            ..Default::default()
        }
        .encode()
        .unwrap();
        assert!(expects_reply(&create));
        let report = ccp_wire::Measure {
            sid: 1,
            program_uid: 1,
            fields: vec![1, 2],
        }
        .encode()
        .unwrap();
        assert!(expects_reply(&report));
        let close = ccp_wire::Measure::close(1).encode().unwrap();
        assert!(!expects_reply(&close));
        assert!(!expects_reply(&[]));
        assert!(!expects_reply(&[0x48, 0]));
    }
}
