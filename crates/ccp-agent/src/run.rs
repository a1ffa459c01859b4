//! The thin run loop: receive datagrams from a transport, feed them to the [`Agent`], send
//! what it queued; plus [`RunBuilder`] (portus's builder) and [`AgentHandle`].

use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use ccp_ipc::chan::ChanSocket;
use ccp_ipc::netlink::NetlinkSocket;
use ccp_ipc::unix::UnixSocket;
use ccp_ipc::{Ipc, IpcError, Mode, RECV_BUF_LEN};
use nix::errno::Errno;
use nix::sys::resource::{UsageWho, getrusage};
use nix::sys::socket::{
    ControlMessage, MsgFlags, MultiHeaders, SockaddrLike, UnixAddr, recvmmsg, recvmsg, sendmmsg,
    sendto,
};
use std::cell::RefCell;

/// `sa_family_t` (the part of a `sockaddr_un` before the path).
type SaFamily = u16;
use std::io::{IoSlice, IoSliceMut};
use thiserror::Error;

use crate::agent::{Addr, Agent, AgentBuilder, Stats};
use crate::alg::CongAlg;
use crate::programs::StartError;

/// How the run loop talks to datapaths.
///
/// Implemented for the `ccp-ipc` transports ([`UnixTransport`] for unix sockets, with
/// receive batching and a bounded spin before blocking; [`IpcTransport`] for any other
/// [`Ipc`]). Use [`IntoTransport`] to pass a socket directly to [`RunBuilder::new`].
pub trait AgentTransport: Send + 'static {
    /// Datapath address.
    type Addr: Addr;

    /// Short transport name for logs.
    fn name(&self) -> &'static str;

    /// Wait up to the transport's poll interval for datagrams, and pass every datagram
    /// available now to `on_msg`. Returns how many were passed (0: nothing arrived).
    fn recv_batch(&mut self, on_msg: &mut dyn FnMut(&Self::Addr, &[u8]))
    -> Result<usize, IpcError>;

    /// Send one message (a batching transport may only queue it until
    /// [`flush`](Self::flush)).
    fn send(&mut self, to: &Self::Addr, msg: &[u8]) -> Result<(), IpcError>;

    /// Called after each round of sends: send what is queued. Returns how many messages
    /// could not be sent.
    fn flush(&mut self) -> u64 {
        0
    }
}

/// Conversion of a socket into the transport the run loop uses.
pub trait IntoTransport {
    /// The transport.
    type Transport: AgentTransport;
    /// Convert.
    fn into_transport(self) -> Self::Transport;
}

/// Any [`Ipc`] as a transport: one `recv_from` per datagram into a
/// [`RECV_BUF_LEN`]-byte buffer.
#[derive(Debug)]
pub struct IpcTransport<I: Ipc> {
    ipc: I,
    buf: Box<[u8]>,
}

impl<I: Ipc> IpcTransport<I> {
    /// Wrap `ipc`.
    pub fn new(ipc: I) -> IpcTransport<I> {
        IpcTransport {
            ipc,
            buf: vec![0u8; RECV_BUF_LEN].into_boxed_slice(),
        }
    }
}

impl<I: Ipc> AgentTransport for IpcTransport<I> {
    type Addr = I::Addr;

    fn name(&self) -> &'static str {
        self.ipc.name()
    }

    fn recv_batch(&mut self, on_msg: &mut dyn FnMut(&I::Addr, &[u8])) -> Result<usize, IpcError> {
        match self.ipc.recv_from(&mut self.buf)? {
            Some((n, from)) => {
                on_msg(&from, self.buf.get(..n).unwrap_or(&[]));
                Ok(1)
            }
            None => Ok(0),
        }
    }

    fn send(&mut self, to: &I::Addr, msg: &[u8]) -> Result<(), IpcError> {
        self.ipc.send_to(msg, to)
    }
}

impl<I: Ipc> IntoTransport for IpcTransport<I> {
    type Transport = IpcTransport<I>;
    fn into_transport(self) -> Self {
        self
    }
}

impl IntoTransport for ChanSocket {
    type Transport = IpcTransport<ChanSocket>;
    fn into_transport(self) -> Self::Transport {
        IpcTransport::new(self)
    }
}

impl IntoTransport for NetlinkSocket {
    type Transport = IpcTransport<NetlinkSocket>;
    fn into_transport(self) -> Self::Transport {
        IpcTransport::new(self)
    }
}

impl IntoTransport for UnixSocket {
    type Transport = UnixTransport;
    /// A [`UnixTransport`] with the spin of [`UnixTransport::spin_from_env`] (default:
    /// [`UnixTransport::DEFAULT_SPIN`]).
    fn into_transport(self) -> UnixTransport {
        UnixTransport::new(self, UnixTransport::spin_from_env())
    }
}

impl IntoTransport for UnixTransport {
    type Transport = UnixTransport;
    fn into_transport(self) -> Self {
        self
    }
}

/// The unix-socket transport of the run loop.
///
/// Each round takes every queued datagram with one `recvmmsg` (up to
/// [`BATCH`](Self::BATCH)), waiting up to the poll interval for the first one
/// (`MSG_WAITFORONE`).
///
/// **Spinning.** Before sleeping, the thread keeps polling the socket for up to `spin`
/// after the last datagram ([`DEFAULT_SPIN`](Self::DEFAULT_SPIN) = 50 µs; `0` turns it
/// off). When the next datagram comes within that time (a datapath that answers at once,
/// or many flows), this saves the agent's wake-up, which on an idle machine costs tens of
/// µs of latency and about as much CPU as the spin. Spinning is adaptive, so that it only
/// costs CPU while it pays: spins are counted in windows of 32, and when most of a
/// window's spins ended without a datagram (traffic sparser than the budget) spinning
/// pauses for 10 ms, doubling up to 1 s while that goes on; and every 64 spin rounds the
/// thread's involuntary context switches are checked: if it was preempted (the CPUs are
/// contended, so spinning steals time from the datapath) spinning pauses for 250 ms. An
/// idle agent therefore spins at most 32 × 50 µs per second.
///
/// **Sending.** Sends are queued and go out with one `sendmmsg` per batch after each
/// round. The first datapaths ([`UnixSocket::AGENT_REPLY_SOCKETS`]) are answered through a
/// reply socket connected to them (no path lookup per datagram; the datagrams still come
/// from the agent's path); the others, and datapaths whose socket is connected to the
/// agent's path, with `sendto`. Sends block when a datapath's receive queue is full, with
/// a 1 s timeout. A datapath whose send timed out is "stuck": its messages are then sent
/// without blocking (dropped, counted, while its queue stays full) until one goes
/// through, so a datapath that stopped reading costs the others at most one timeout.
#[derive(Debug)]
pub struct UnixTransport {
    sock: UnixSocket,
    bufs: Box<[u8]>,
    poll_interval: Duration,
    spin: Duration,
    last_msg: Option<Instant>,
    last_peer: Option<PathBuf>,
    /// The last destination and its socket address (built once per change of peer).
    last_dest: Option<(PathBuf, UnixAddr)>,
    out_bytes: Vec<u8>,
    out_msgs: Vec<(usize, usize, UnixAddr)>,
    /// Peers whose last blocking send timed out.
    stuck: Vec<PathBuf>,
    /// Spinning is paused until then (the thread was being preempted while spinning).
    spin_off_until: Option<Instant>,
    /// Spin rounds since the last preemption check.
    spin_rounds: u32,
    /// Involuntary context switches of the loop's thread at the last check.
    nivcsw: Option<i64>,
    /// Spins of the current accounting window that ended with a datagram / with the
    /// budget spent.
    spin_hits: u32,
    spin_misses: u32,
    /// The next pause when a window's spins mostly miss.
    miss_backoff: Duration,
    /// Spin hits / misses since the start.
    total_hits: u64,
    total_misses: u64,
    miss_pauses: u64,
    /// Receive rounds since the reply sockets were last read.
    rounds_since_drain: u32,
    /// Reply sockets (see [`UnixSocket`]): each connected to at most one datapath.
    replies: Vec<ReplySocket>,
    /// Datapaths that refuse datagrams from a reply socket (their socket is connected to
    /// the agent's path): answered with `sendto` from the main socket.
    no_direct: Vec<PathBuf>,
    /// Index of the reply socket used last (most sends go to the same datapath).
    last_reply: usize,
    /// Flushes so far (the clock of reply-socket reuse).
    flushes: u64,
    /// Messages sent through reply sockets / addressed from the main socket.
    direct_sends: u64,
    addressed_sends: u64,
}

/// How a spin ended.
enum Spin {
    /// Datagrams arrived (this many).
    Got(usize),
    /// The poll interval is over, the spin budget is not (look at the stop flag).
    Interval,
    /// The budget is spent (or there was none): sleep.
    Over,
}

/// A reply socket and the datapath it is connected to.
#[derive(Debug)]
struct ReplySocket {
    sock: std::os::unix::net::UnixDatagram,
    /// The connected datapath's path (as its `sockaddr_un`), if connected.
    peer: Option<UnixAddr>,
    /// Flush count of the last send through it.
    last_used: u64,
}

/// Path bytes of a unix address (`None`: unnamed or abstract).
fn addr_bytes(a: &UnixAddr) -> Option<&std::ffi::OsStr> {
    a.path().map(Path::as_os_str)
}

thread_local! {
    /// `recvmmsg`/`sendmmsg` headers (not `Send`, so kept per thread; allocated once).
    static MMSG: RefCell<Option<(MultiHeaders<UnixAddr>, MultiHeaders<UnixAddr>)>> =
        const { RefCell::new(None) };
}

impl UnixTransport {
    /// Default spin before sleeping: 50 µs, adaptive (see [`UnixTransport`]).
    pub const DEFAULT_SPIN: Duration = Duration::from_micros(50);
    /// No spin: sleep as soon as the queue is empty (what portus does).
    pub const NO_SPIN: Duration = Duration::ZERO;
    /// Never sleep while traffic flows: busy-poll the socket (like a DPDK datapath), one
    /// CPU per agent. Still adaptive (pauses when preempted), and the stop flag is still
    /// seen within a poll interval.
    pub const SPIN_FOREVER: Duration = Duration::MAX;
    /// Receive rounds between two reads of the reply sockets when never idle.
    const DRAIN_ROUNDS: u32 = 1024;
    /// Spins per hit/miss accounting window.
    const SPIN_WINDOW: u32 = 32;
    /// First and longest pause of spinning when most spins of a window missed.
    const MISS_BACKOFF_MIN: Duration = Duration::from_millis(10);
    const MISS_BACKOFF_MAX: Duration = Duration::from_secs(1);
    /// Spin rounds between two preemption checks.
    const SPIN_CHECK_ROUNDS: u32 = 64;
    /// How long spinning pauses after the thread was found preempted while spinning.
    const SPIN_BACKOFF: Duration = Duration::from_millis(250);
    /// Most datagrams per `recvmmsg` / `sendmmsg` call.
    pub const BATCH: usize = 16;
    const SLOT: usize = RECV_BUF_LEN;

    /// Environment variable that sets the spin of a [`UnixTransport`] built from a plain
    /// socket (e.g. by `ccp agent` without `--spin-us`): microseconds to spin after the
    /// last datagram (`0`: none), or `forever` ([`SPIN_FOREVER`](Self::SPIN_FOREVER)).
    pub const SPIN_ENV: &'static str = "CCP_AGENT_SPIN_US";

    /// The spin [`SPIN_ENV`](Self::SPIN_ENV) asks for; [`DEFAULT_SPIN`](Self::DEFAULT_SPIN)
    /// when it is unset or invalid (logged).
    pub fn spin_from_env() -> Duration {
        match std::env::var(Self::SPIN_ENV) {
            Ok(v) => Self::parse_spin(&v).unwrap_or_else(|| {
                tracing::warn!(
                    value = %v,
                    "{} is neither a number of microseconds nor `forever`: default spin",
                    Self::SPIN_ENV
                );
                Self::DEFAULT_SPIN
            }),
            Err(_) => Self::DEFAULT_SPIN,
        }
    }

    /// Parse a spin setting: microseconds, or `forever`.
    pub fn parse_spin(v: &str) -> Option<Duration> {
        let v = v.trim();
        if v.eq_ignore_ascii_case("forever") {
            return Some(Self::SPIN_FOREVER);
        }
        v.parse::<u64>().ok().map(Duration::from_micros)
    }

    /// A reply socket unused for this many flushes may be reconnected to another datapath
    /// when all are taken.
    const REPLY_IDLE_FLUSHES: u64 = 4096;

    /// Wrap a bound socket; `spin` is how long to keep polling without sleeping after the
    /// last datagram (`Duration::ZERO`: sleep at once). The socket's reply sockets (see
    /// [`UnixSocket::take_reply_sockets`]; an agent socket has
    /// [`UnixSocket::AGENT_REPLY_SOCKETS`]) answer the first datapaths without a path
    /// lookup per datagram; the others, and datapaths whose socket is connected to the
    /// agent, are answered with `sendto` from the bound socket.
    pub fn new(mut sock: UnixSocket, spin: Duration) -> UnixTransport {
        let replies = sock
            .take_reply_sockets()
            .into_iter()
            .filter_map(
                |r| match r.set_write_timeout(Some(Duration::from_secs(1))) {
                    Ok(()) => Some(ReplySocket {
                        sock: r,
                        peer: None,
                        last_used: 0,
                    }),
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot set a reply socket's send timeout");
                        None
                    }
                },
            )
            .collect();
        // Blocking socket: receives wait up to the poll interval (SO_RCVTIMEO), sends
        // block on a full peer queue for at most 1 s.
        if let Err(e) = sock.set_mode(Mode::Blocking(ccp_ipc::DEFAULT_POLL_INTERVAL)) {
            tracing::warn!(error = %e, "cannot set socket mode");
        }
        if let Err(e) = sock
            .as_std()
            .set_write_timeout(Some(Duration::from_secs(1)))
        {
            tracing::warn!(error = %e, "cannot set send timeout");
        }
        UnixTransport {
            sock,
            bufs: vec![0u8; Self::BATCH * Self::SLOT].into_boxed_slice(),
            poll_interval: ccp_ipc::DEFAULT_POLL_INTERVAL,
            spin,
            last_msg: None,
            last_peer: None,
            last_dest: None,
            out_bytes: Vec::with_capacity(4096),
            out_msgs: Vec::with_capacity(Self::BATCH),
            stuck: Vec::new(),
            spin_off_until: None,
            spin_rounds: 0,
            nivcsw: None,
            spin_hits: 0,
            spin_misses: 0,
            miss_backoff: Self::MISS_BACKOFF_MIN,
            total_hits: 0,
            total_misses: 0,
            miss_pauses: 0,
            // The first round reads them (datagrams from the start-up window).
            rounds_since_drain: Self::DRAIN_ROUNDS,
            replies,
            no_direct: Vec::new(),
            last_reply: 0,
            flushes: 0,
            direct_sends: 0,
            addressed_sends: 0,
        }
    }

    /// Messages sent so far through reply sockets (no path lookup) and addressed from
    /// the bound socket (`sendto`).
    pub fn send_counts(&self) -> (u64, u64) {
        (self.direct_sends, self.addressed_sends)
    }

    /// The reply socket connected to `to`, connecting a free (or long idle) one if there
    /// is none; `None`: answer `to` with `sendto`.
    fn reply_for(&mut self, to: &UnixAddr) -> Option<usize> {
        let key = addr_bytes(to)?;
        if let Some(r) = self.replies.get(self.last_reply) {
            if r.peer.as_ref().and_then(addr_bytes) == Some(key) {
                return Some(self.last_reply);
            }
        }
        if let Some(i) = self
            .replies
            .iter()
            .position(|r| r.peer.as_ref().and_then(addr_bytes) == Some(key))
        {
            self.last_reply = i;
            return Some(i);
        }
        if self.replies.is_empty() || self.no_direct.iter().any(|p| p.as_os_str() == key) {
            return None;
        }
        let flushes = self.flushes;
        let i = self
            .replies
            .iter()
            .position(|r| r.peer.is_none())
            .or_else(|| {
                // All taken: reuse the least recently used one if it has been idle long.
                let (i, r) = self
                    .replies
                    .iter()
                    .enumerate()
                    .min_by_key(|(_, r)| r.last_used)?;
                (flushes.saturating_sub(r.last_used) >= Self::REPLY_IDLE_FLUSHES).then_some(i)
            })?;
        let r = self.replies.get_mut(i)?;
        match r.sock.connect(key) {
            Ok(()) => {
                tracing::debug!(to = %Path::new(key).display(), "datapath answered through a reply socket");
                r.peer = Some(*to);
                r.last_used = flushes;
                self.last_reply = i;
                Some(i)
            }
            Err(e) => {
                r.peer = None;
                if e.raw_os_error() == Some(Errno::EPERM as i32) {
                    // Its socket is connected to our path: only the bound socket may send.
                    tracing::debug!(to = %Path::new(key).display(), "datapath accepts only the agent's bound socket");
                    self.no_direct.push(PathBuf::from(key));
                }
                None
            }
        }
    }

    /// Bind the agent socket `/tmp/ccp/<name>`.
    pub fn agent(name: &str) -> Result<UnixTransport, IpcError> {
        Ok(UnixTransport::new(
            UnixSocket::agent(name, Mode::Nonblocking)?,
            Self::DEFAULT_SPIN,
        ))
    }

    /// The bound path.
    pub fn path(&self) -> &Path {
        self.sock.path()
    }

    /// The socket.
    pub fn socket(&self) -> &UnixSocket {
        &self.sock
    }

    /// How long an idle receive sleeps before returning (so the loop sees its stop flag).
    pub fn set_poll_interval(&mut self, d: Duration) {
        self.poll_interval = d.max(Duration::from_millis(1));
        if let Err(e) = self.sock.set_mode(Mode::Blocking(self.poll_interval)) {
            tracing::warn!(error = %e, "cannot set the receive timeout");
        }
    }

    /// One `recvmmsg`: lengths and senders into `out`; 0 when nothing arrived. With
    /// `wait`, blocks up to the poll interval for the first datagram (`MSG_WAITFORONE`:
    /// then takes whatever else is queued without waiting); without, never blocks.
    fn recv_many(
        &mut self,
        out: &mut [(usize, Option<UnixAddr>); Self::BATCH],
        wait: bool,
    ) -> Result<usize, IpcError> {
        let fd = self.sock.as_std().as_raw_fd();
        let bufs = &mut self.bufs;
        let flags = if wait {
            MsgFlags::MSG_WAITFORONE
        } else {
            MsgFlags::MSG_DONTWAIT
        };
        MMSG.with(|cell| {
            let mut guard = cell.borrow_mut();
            let (rh, _) = guard.get_or_insert_with(|| {
                (
                    MultiHeaders::preallocate(Self::BATCH, None),
                    MultiHeaders::preallocate(Self::BATCH, None),
                )
            });
            let mut chunks = bufs.chunks_mut(Self::SLOT);
            let mut iovs: [[IoSliceMut<'_>; 1]; Self::BATCH] =
                std::array::from_fn(|_| [IoSliceMut::new(chunks.next().unwrap_or_default())]);
            match recvmmsg(fd, rh, iovs.iter_mut(), flags, None) {
                Ok(res) => {
                    let mut n = 0;
                    for (slot, r) in out.iter_mut().zip(res) {
                        *slot = (r.bytes, r.address);
                        n += 1;
                    }
                    Ok(n)
                }
                Err(Errno::EAGAIN | Errno::EINTR) => Ok(0),
                Err(e) => Err(IpcError::Recv(e.into())),
            }
        })
    }

    /// Whether to spin this round: configured, and not paused.
    fn spin_enabled(&mut self) -> bool {
        if self.spin.is_zero() {
            return false;
        }
        match self.spin_off_until {
            Some(t) if Instant::now() < t => false,
            Some(_) => {
                self.spin_off_until = None;
                self.nivcsw = None;
                true
            }
            None => true,
        }
    }

    /// Every few spin rounds, see whether the thread was preempted (involuntary context
    /// switches): a spinning thread on a busy machine competes with the datapath for the
    /// CPU and loses its time slice, which makes latency worse, not better. Pause spinning
    /// then.
    fn check_preemption(&mut self) {
        self.spin_rounds += 1;
        if self.spin_rounds < Self::SPIN_CHECK_ROUNDS {
            return;
        }
        self.spin_rounds = 0;
        let Ok(usage) = getrusage(UsageWho::RUSAGE_THREAD) else {
            return;
        };
        let now = usage.involuntary_context_switches();
        if let Some(before) = self.nivcsw {
            if now - before >= 2 {
                tracing::debug!(
                    preemptions = now - before,
                    "agent thread preempted while spinning: spinning paused"
                );
                self.spin_off_until = Some(Instant::now() + Self::SPIN_BACKOFF);
            }
        }
        self.nivcsw = Some(now);
    }

    /// Spin (bounded by `spin` after the last datagram) on non-blocking receives, and
    /// keep the hit/miss account of [`UnixTransport`]'s adaptive policy.
    fn spin_recv(
        &mut self,
        out: &mut [(usize, Option<UnixAddr>); Self::BATCH],
    ) -> Result<Spin, IpcError> {
        let Some(last) = self.last_msg else {
            return Ok(Spin::Over);
        };
        let now = Instant::now();
        // `None`: a spin too long to represent, i.e. forever.
        let budget_end = last.checked_add(self.spin);
        if budget_end.is_some_and(|b| now >= b) {
            return Ok(Spin::Over);
        }
        let interval_end = now.checked_add(self.poll_interval);
        let end = match (budget_end, interval_end) {
            (Some(b), Some(i)) => b.min(i),
            (Some(b), None) => b,
            (None, Some(i)) => i,
            (None, None) => now,
        };
        let mut spun = false;
        loop {
            let n = self.recv_many(out, false)?;
            if n > 0 {
                if spun {
                    self.spin_account(true);
                }
                return Ok(Spin::Got(n));
            }
            let t = Instant::now();
            if t >= end {
                return Ok(if budget_end.is_none_or(|b| t < b) {
                    Spin::Interval
                } else {
                    self.spin_account(false);
                    Spin::Over
                });
            }
            spun = true;
            std::hint::spin_loop();
        }
    }

    /// Count one spin that ended with a datagram (`hit`) or with the budget spent. Every
    /// [`SPIN_WINDOW`](Self::SPIN_WINDOW) spins: if most missed, spinning does not pay
    /// (datagrams come further apart than the budget) and pauses, for 10 ms doubling up to
    /// 1 s while it keeps missing.
    fn spin_account(&mut self, hit: bool) {
        if hit {
            self.total_hits += 1;
        } else {
            self.total_misses += 1;
        }
        if self.spin == Self::SPIN_FOREVER {
            return;
        }
        if hit {
            self.spin_hits += 1;
        } else {
            self.spin_misses += 1;
        }
        if self.spin_hits + self.spin_misses < Self::SPIN_WINDOW {
            return;
        }
        if self.spin_misses > self.spin_hits {
            tracing::debug!(
                hits = self.spin_hits,
                misses = self.spin_misses,
                pause = ?self.miss_backoff,
                "spinning does not pay: paused"
            );
            self.spin_off_until = Some(Instant::now() + self.miss_backoff);
            self.miss_pauses += 1;
            self.miss_backoff = (self.miss_backoff * 2).min(Self::MISS_BACKOFF_MAX);
        } else {
            self.miss_backoff = Self::MISS_BACKOFF_MIN;
        }
        self.spin_hits = 0;
        self.spin_misses = 0;
    }

    /// Since the transport was made: spins that ended with a datagram, spins that ran
    /// out of budget, and pauses because most spins of a window ran out.
    pub fn spin_counts(&self) -> (u64, u64, u64) {
        (self.total_hits, self.total_misses, self.miss_pauses)
    }

    /// Whether spinning is paused now (it did not pay, or the thread was preempted).
    pub fn spin_paused(&self) -> bool {
        self.spin_off_until.is_some_and(|t| Instant::now() < t)
    }

    fn send_one(&self, bytes: &[u8], to: &UnixAddr, flags: MsgFlags) -> Result<(), Errno> {
        let fd = self.sock.as_std().as_raw_fd();
        sendto(fd, bytes, to, flags).map(|_| ())
    }
}

impl AgentTransport for UnixTransport {
    type Addr = PathBuf;

    fn name(&self) -> &'static str {
        "unix"
    }

    fn recv_batch(&mut self, on_msg: &mut dyn FnMut(&PathBuf, &[u8])) -> Result<usize, IpcError> {
        let mut got = [(0usize, None); Self::BATCH];
        let mut n = 0;
        if self.spin_enabled() {
            let spin = self.spin_recv(&mut got)?;
            self.check_preemption();
            match spin {
                Spin::Got(k) => n = k,
                // Still within the spin budget: do not sleep, let the loop look at its
                // stop flag and come back.
                Spin::Interval => return Ok(0),
                Spin::Over => {}
            }
        }
        if n == 0 {
            n = self.recv_many(&mut got, true)?;
        }
        self.rounds_since_drain += 1;
        if n == 0 || self.rounds_since_drain >= Self::DRAIN_ROUNDS {
            self.rounds_since_drain = 0;
            let drained = self.drain_replies(on_msg);
            if drained > 0 {
                self.last_msg = Some(Instant::now());
                return Ok(drained);
            }
        }
        for (i, (len, addr)) in got.iter().take(n).enumerate() {
            // An unbound sender comes with an address length of 0; nix's `path()` asserts
            // on such lengths, so look at the length first.
            let named = |a: &&UnixAddr| a.len() as usize > std::mem::size_of::<SaFamily>();
            let Some(path) = addr.as_ref().filter(named).and_then(|a| a.path()) else {
                tracing::debug!("datagram from an unnamed unix address dropped");
                continue;
            };
            // Byte comparison (`Path`'s `==` compares components).
            if self.last_peer.as_ref().map(|p| p.as_os_str()) != Some(path.as_os_str()) {
                self.last_peer = Some(path.to_path_buf());
            }
            let start = i * Self::SLOT;
            let bytes = self
                .bufs
                .get(start..start + (*len).min(Self::SLOT))
                .unwrap_or(&[]);
            if let Some(peer) = &self.last_peer {
                on_msg(peer, bytes);
            }
        }
        if n > 0 {
            self.last_msg = Some(Instant::now());
        }
        Ok(n)
    }

    fn send(&mut self, to: &PathBuf, msg: &[u8]) -> Result<(), IpcError> {
        let addr = match &self.last_dest {
            Some((p, a)) if p.as_os_str() == to.as_os_str() => *a,
            _ => {
                let a = UnixAddr::new(to.as_path()).map_err(|e| IpcError::Send {
                    len: msg.len(),
                    to: to.display().to_string(),
                    source: e.into(),
                })?;
                self.last_dest = Some((to.clone(), a));
                a
            }
        };
        let start = self.out_bytes.len();
        self.out_bytes.extend_from_slice(msg);
        self.out_msgs.push((start, self.out_bytes.len(), addr));
        Ok(())
    }

    fn flush(&mut self) -> u64 {
        self.flushes += 1;
        let mut failed = 0u64;
        let mut done = 0;
        let total = self.out_msgs.len();
        // Datapaths whose reply socket failed during this flush: `sendto` for the rest.
        let mut addressed_only: Vec<UnixAddr> = Vec::new();
        while done < total {
            let Some(&(s0, e0, first)) = self.out_msgs.get(done) else {
                break;
            };
            if self.is_stuck_addr(&first) {
                // A datapath that stopped reading: try without blocking, so that it cannot
                // stall the others again; it is unstuck as soon as a send succeeds.
                let bytes = self.out_bytes.get(s0..e0).unwrap_or(&[]);
                match self.send_one(bytes, &first, MsgFlags::MSG_DONTWAIT) {
                    Ok(()) => self.unstick(&first),
                    Err(_) => failed += 1,
                }
                done += 1;
                continue;
            }
            let direct = if addressed_only
                .iter()
                .any(|a| addr_bytes(a) == addr_bytes(&first))
            {
                None
            } else {
                self.reply_for(&first)
            };
            if let Some(ri) = direct {
                // The longest run (≤ BATCH) to this datapath, through its reply socket.
                let key = addr_bytes(&first);
                let mut end = done + 1;
                while end < total && end - done < Self::BATCH {
                    match self.out_msgs.get(end) {
                        Some(m) if addr_bytes(&m.2) == key => end += 1,
                        _ => break,
                    }
                }
                let n = end - done;
                let res = self.send_batch_direct(ri, done, end);
                let k = *res.as_ref().unwrap_or(&0);
                self.direct_sends += k.min(n) as u64;
                done += k.min(n);
                if k >= n {
                    continue;
                }
                match res {
                    Err(Errno::EAGAIN | Errno::ETIMEDOUT) | Ok(_) => {
                        // Its queue stayed full for the whole send timeout: stuck, as below.
                        failed += 1;
                        if let Some(path) = first_path(&self.out_msgs, done) {
                            tracing::warn!(to = %path.display(), "send to datapath timed out; its next messages will not wait");
                            self.stuck.push(path);
                        }
                        done += 1;
                    }
                    Err(e) => {
                        // The datapath went away (ECONNREFUSED: maybe a new one has its
                        // path now) or refuses the reply socket: free the socket, and send
                        // the rest of this flush to it with `sendto`, which reports real
                        // failures; the next flush may connect again.
                        tracing::debug!(error = %e, "reply socket failed; addressed send");
                        if let Some(r) = self.replies.get_mut(ri) {
                            r.peer = None;
                        }
                        if e == Errno::EPERM {
                            if let Some(p) = first.path() {
                                self.no_direct.push(p.to_path_buf());
                            }
                        }
                        addressed_only.push(first);
                    }
                }
                continue;
            }
            // The longest run of messages (≤ BATCH) to peers that are not stuck and have
            // no reply socket.
            let mut end = done + 1;
            while end < total && end - done < Self::BATCH {
                match self.out_msgs.get(end) {
                    Some(m) if !self.is_stuck_addr(&m.2) && !self.has_reply(&m.2) => end += 1,
                    _ => break,
                }
            }
            let n = end - done;
            let res = self.send_batch(done, end);
            self.addressed_sends += (*res.as_ref().unwrap_or(&0)).min(n) as u64;
            match res {
                Ok(k) if k >= n => done += n,
                res => {
                    // sendmmsg stops at the first message it cannot send (after blocking up
                    // to the 1 s send timeout): it returns how many went before it, or the
                    // error if it was the first.
                    done += *res.as_ref().unwrap_or(&0);
                    failed += 1;
                    if let Some(path) = first_path(&self.out_msgs, done) {
                        match res {
                            Err(e) => {
                                tracing::warn!(to = %path.display(), error = %e, "send to datapath failed; its next messages will not wait")
                            }
                            Ok(_) => {
                                tracing::warn!(to = %path.display(), "send to datapath failed; its next messages will not wait")
                            }
                        }
                        self.stuck.push(path);
                    }
                    done += 1;
                }
            }
        }
        self.out_bytes.clear();
        self.out_msgs.clear();
        failed
    }
}

fn first_path(msgs: &[(usize, usize, UnixAddr)], i: usize) -> Option<PathBuf> {
    msgs.get(i).and_then(|m| m.2.path()).map(Path::to_path_buf)
}

impl UnixTransport {
    /// Pass on the datagrams that reached a reply socket. Only possible for a datapath that
    /// sent (or connected) to the agent's path in the microseconds while a reply socket
    /// held it, as the agent socket was being bound; read when idle and every
    /// [`DRAIN_ROUNDS`](Self::DRAIN_ROUNDS) rounds, so that nothing is lost.
    fn drain_replies(&mut self, on_msg: &mut dyn FnMut(&PathBuf, &[u8])) -> usize {
        let mut n = 0;
        for i in 0..self.replies.len() {
            // Bounded: a peer that keeps sending there is read again next time.
            for _ in 0..Self::BATCH {
                let Some(r) = self.replies.get(i) else { break };
                let fd = r.sock.as_raw_fd();
                let buf = self.bufs.get_mut(..Self::SLOT).unwrap_or_default();
                let mut iov = [IoSliceMut::new(buf)];
                let got = recvmsg::<UnixAddr>(fd, &mut iov, None, MsgFlags::MSG_DONTWAIT)
                    .map(|m| (m.bytes, m.address));
                let Ok((len, Some(from))) = got else {
                    break;
                };
                let named = from.len() as usize > std::mem::size_of::<SaFamily>();
                let Some(path) = from.path().filter(|_| named).map(Path::to_path_buf) else {
                    continue;
                };
                tracing::warn!(from = %path.display(), "datagram at a reply socket (sent while the agent started?): handled");
                on_msg(&path, self.bufs.get(..len.min(Self::SLOT)).unwrap_or(&[]));
                n += 1;
            }
        }
        n
    }

    /// Whether sends to `peer` are currently non-blocking because an earlier send to it
    /// timed out (the datapath stopped reading).
    pub fn is_stuck(&self, peer: &Path) -> bool {
        self.stuck.iter().any(|p| p == peer)
    }

    fn is_stuck_addr(&self, a: &UnixAddr) -> bool {
        !self.stuck.is_empty() && a.path().is_some_and(|p| self.is_stuck(p))
    }

    fn unstick(&mut self, a: &UnixAddr) {
        if let Some(p) = a.path() {
            self.stuck.retain(|s| s != p);
            tracing::info!(to = %p.display(), "datapath reads its socket again");
        }
    }

    /// Whether `a` has a connected reply socket.
    fn has_reply(&self, a: &UnixAddr) -> bool {
        let key = addr_bytes(a);
        key.is_some()
            && self
                .replies
                .iter()
                .any(|r| r.peer.as_ref().and_then(addr_bytes) == key)
    }

    /// `sendmmsg` of messages `start..end` (all to reply socket `ri`'s datapath) through
    /// that connected socket: how many were sent, or the error of the first.
    fn send_batch_direct(&mut self, ri: usize, start: usize, end: usize) -> Result<usize, Errno> {
        let flushes = self.flushes;
        let Some(r) = self.replies.get_mut(ri) else {
            return Err(Errno::ENOTCONN);
        };
        r.last_used = flushes;
        let fd = r.sock.as_raw_fd();
        let batch = self.out_msgs.get(start..end).unwrap_or(&[]);
        let bytes = &self.out_bytes;
        MMSG.with(|cell| {
            let mut guard = cell.borrow_mut();
            let (_, sh) = guard.get_or_insert_with(|| {
                (
                    MultiHeaders::preallocate(Self::BATCH, None),
                    MultiHeaders::preallocate(Self::BATCH, None),
                )
            });
            let slices: [[IoSlice<'_>; 1]; Self::BATCH] = std::array::from_fn(|i| {
                [IoSlice::new(
                    batch
                        .get(i)
                        .and_then(|&(s, e, _)| bytes.get(s..e))
                        .unwrap_or(&[]),
                )]
            });
            let addrs: [Option<UnixAddr>; Self::BATCH] = [None; Self::BATCH];
            let no_cmsgs: [ControlMessage<'_>; 0] = [];
            let n = batch.len().min(Self::BATCH);
            sendmmsg(
                fd,
                sh,
                slices.iter().take(n),
                &addrs[..n],
                no_cmsgs,
                MsgFlags::empty(),
            )
            .map(|r| r.count())
        })
    }

    /// `sendmmsg` of messages `start..end`: how many were sent, or the error of the first.
    fn send_batch(&mut self, start: usize, end: usize) -> Result<usize, Errno> {
        let fd = self.sock.as_std().as_raw_fd();
        let batch = self.out_msgs.get(start..end).unwrap_or(&[]);
        let bytes = &self.out_bytes;
        MMSG.with(|cell| {
            let mut guard = cell.borrow_mut();
            let (_, sh) = guard.get_or_insert_with(|| {
                (
                    MultiHeaders::preallocate(Self::BATCH, None),
                    MultiHeaders::preallocate(Self::BATCH, None),
                )
            });
            let slices: [[IoSlice<'_>; 1]; Self::BATCH] = std::array::from_fn(|i| {
                [IoSlice::new(
                    batch
                        .get(i)
                        .and_then(|&(s, e, _)| bytes.get(s..e))
                        .unwrap_or(&[]),
                )]
            });
            let addrs: [Option<UnixAddr>; Self::BATCH] =
                std::array::from_fn(|i| batch.get(i).map(|m| m.2));
            let no_cmsgs: [ControlMessage<'_>; 0] = [];
            let n = batch.len().min(Self::BATCH);
            sendmmsg(
                fd,
                sh,
                slices.iter().take(n),
                &addrs[..n],
                no_cmsgs,
                MsgFlags::empty(),
            )
            .map(|r| r.count())
        })
    }
}

/// Why the run loop stopped with an error.
#[derive(Debug, Error)]
pub enum RunError {
    /// Start-up failed (a program did not compile, no default algorithm).
    #[error(transparent)]
    Start(#[from] StartError),
    /// The transport failed for good (e.g. the other end of a channel is gone).
    #[error("transport closed: {0}")]
    Transport(#[source] IpcError),
    /// The agent thread panicked (an algorithm's callback panicked).
    #[error("the agent thread panicked")]
    Panicked,
}

/// What the loop did, returned when it stops.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RunSummary {
    /// The agent's counters.
    pub stats: Stats,
    /// Messages that could not be sent.
    pub send_errors: u64,
    /// Receive errors other than "nothing yet".
    pub recv_errors: u64,
    /// Receive rounds that brought at least one datagram (`stats.datagrams / batches` is
    /// the mean batch size).
    pub batches: u64,
}

/// Builds and starts an agent on a transport (portus's `RunBuilder`).
///
/// ```no_run
/// # use ccp_agent::{RunBuilder, CongAlg};
/// # fn demo(alg: impl CongAlg) -> Result<(), Box<dyn std::error::Error>> {
/// let sock = ccp_ipc::unix::UnixSocket::agent("portus", ccp_ipc::Mode::Nonblocking)?;
/// let handle = RunBuilder::new(sock).default_alg(alg).spawn_thread()?;
/// // ...
/// handle.kill();
/// let summary = handle.wait()?;
/// # Ok(()) }
/// ```
pub struct RunBuilder<T: AgentTransport> {
    transport: T,
    builder: AgentBuilder,
    stop: Option<Arc<AtomicBool>>,
}

impl<T: AgentTransport> std::fmt::Debug for RunBuilder<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunBuilder")
            .field("transport", &self.transport.name())
            .field("algorithms", &self.builder)
            .finish()
    }
}

impl<T: AgentTransport> RunBuilder<T> {
    /// A runtime on `ipc` (a `ccp-ipc` socket or any [`AgentTransport`]).
    pub fn new(ipc: impl IntoTransport<Transport = T>) -> RunBuilder<T> {
        RunBuilder {
            transport: ipc.into_transport(),
            builder: AgentBuilder::new(),
            stop: None,
        }
    }

    /// The algorithm for flows that request no name or an unknown one (required).
    pub fn default_alg(mut self, alg: impl CongAlg) -> Self {
        self.builder = self.builder.default_alg(alg);
        self
    }

    /// Another algorithm, picked by the name a datapath requests.
    pub fn additional_alg(mut self, alg: impl CongAlg) -> Self {
        self.builder = self.builder.additional_alg(alg);
        self
    }

    /// [`additional_alg`](Self::additional_alg) if `Some`.
    pub fn try_additional_alg(mut self, alg: Option<impl CongAlg>) -> Self {
        self.builder = self.builder.try_additional_alg(alg);
        self
    }

    /// Log every message received and sent (`info` level).
    pub fn log_messages(mut self, on: bool) -> Self {
        self.builder = self.builder.log_messages(on);
        self
    }

    /// Run while `handle` is `true` (portus semantics: "continue listening"); store
    /// `false` to stop. The loop notices within one poll interval.
    pub fn with_stop_handle(mut self, handle: Arc<AtomicBool>) -> Self {
        self.stop = Some(handle);
        self
    }

    /// Compile, then run the loop on this thread until the stop handle is cleared or the
    /// transport closes. Every flow's `close()` is called before returning.
    pub fn run(self) -> Result<RunSummary, RunError> {
        let agent = self.builder.build::<T::Addr>()?;
        let flag = self.stop.unwrap_or_else(|| Arc::new(AtomicBool::new(true)));
        run_loop(agent, self.transport, &flag)
    }

    /// Compile on this thread (start-up errors are returned here), then run the loop on a
    /// new thread.
    pub fn spawn_thread(self) -> Result<AgentHandle, RunError> {
        let agent = self.builder.build::<T::Addr>()?;
        let flag = self.stop.unwrap_or_else(|| Arc::new(AtomicBool::new(true)));
        let f2 = flag.clone();
        let transport = self.transport;
        let join = std::thread::Builder::new()
            .name("ccp-agent".into())
            .spawn(move || run_loop(agent, transport, &f2))
            .map_err(|e| RunError::Transport(IpcError::Recv(e)))?;
        Ok(AgentHandle {
            continue_listening: flag,
            join,
        })
    }
}

/// A running agent thread (portus's `CCPHandle`).
#[derive(Debug)]
pub struct AgentHandle {
    /// `true` while the loop should keep running.
    pub continue_listening: Arc<AtomicBool>,
    join: JoinHandle<Result<RunSummary, RunError>>,
}

impl AgentHandle {
    /// Ask the loop to stop (it notices within one poll interval).
    pub fn kill(&self) {
        self.continue_listening.store(false, Ordering::SeqCst);
    }

    /// Wait for the loop to end.
    pub fn wait(self) -> Result<RunSummary, RunError> {
        self.join.join().unwrap_or(Err(RunError::Panicked))
    }

    /// Whether the loop has ended.
    pub fn is_finished(&self) -> bool {
        self.join.is_finished()
    }
}

/// Drive `agent` over `transport` until `run` is cleared or the transport closes.
pub fn run_loop<T: AgentTransport>(
    mut agent: Agent<T::Addr>,
    mut transport: T,
    run: &AtomicBool,
) -> Result<RunSummary, RunError> {
    let start = Instant::now();
    let mut summary = RunSummary::default();
    tracing::info!(transport = transport.name(), "agent running");
    let mut result = Ok(());
    // Messages queued before any datagram arrived (none today) go out first.
    while run.load(Ordering::Relaxed) {
        // One clock read per batch: its datagrams were all taken at the same moment.
        let mut now = None;
        let got = transport.recv_batch(&mut |from, bytes| {
            let t = *now.get_or_insert_with(|| start.elapsed());
            agent.handle(t, from, bytes)
        });
        if let Ok(n) = got {
            summary.batches += u64::from(n > 0);
        }
        if let Err(e) = got {
            match e {
                IpcError::Disconnected => {
                    result = Err(RunError::Transport(e));
                    break;
                }
                e => {
                    summary.recv_errors += 1;
                    if summary.recv_errors.is_power_of_two() {
                        tracing::warn!(error = %e, count = summary.recv_errors, "receive failed");
                    }
                }
            }
        }
        let mut errors = 0u64;
        agent.drain(|to, bytes| {
            if let Err(e) = transport.send(to, bytes) {
                errors += 1;
                tracing::debug!(error = %e, "send failed");
            }
        });
        errors += transport.flush();
        if errors > 0 {
            let before = summary.send_errors;
            summary.send_errors += errors;
            if (before + 1).is_power_of_two() || before == 0 {
                tracing::warn!(count = summary.send_errors, "messages could not be sent");
            }
        }
    }
    agent.close_all();
    summary.stats = agent.stats().clone();
    tracing::info!(stats = ?summary.stats, "agent stopped");
    result.map(|()| summary)
}
