//! `portus.testing.MockDatapath`: the datapath library (`ccp-datapath`) on a unix socket,
//! driven by hand (synthetic ACKs on a virtual clock) — to test an algorithm against the
//! agent without a kernel or a network.

use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use ccp_datapath::{
    Callbacks, Config, Datapath, DatapathInfo, Invoked, Primitives, SendError, Sid,
};
use ccp_ipc::unix::UnixSocket;
use ccp_ipc::{Ipc, IpcError, Mode};
use pyo3::exceptions::{PyKeyError, PyOSError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyDict;

/// A connection's applied window and rate.
#[derive(Debug, Default, Clone, Copy)]
struct Conn {
    cwnd: u64,
    rate: u64,
    cwnd_updates: u64,
}

struct Cb {
    sock: UnixSocket,
    agent: PathBuf,
    now_us: u64,
    send_failures: u64,
}

impl Callbacks for Cb {
    type Conn = Conn;
    fn set_cwnd(&mut self, _sid: Sid, c: &mut Conn, cwnd: u64) {
        c.cwnd = cwnd;
        c.cwnd_updates += 1;
    }
    fn set_rate_abs(&mut self, _sid: Sid, c: &mut Conn, rate: u64) {
        c.rate = rate;
    }
    fn send_msg(&mut self, msg: &[u8]) -> Result<(), SendError> {
        self.sock.send_to(msg, &self.agent).map_err(|e| {
            self.send_failures += 1;
            match e {
                IpcError::Send { source, .. }
                    if matches!(
                        source.kind(),
                        std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused
                    ) =>
                {
                    SendError::Unreachable(source.to_string())
                }
                other => SendError::Other(other.to_string()),
            }
        })
    }
    fn now(&self) -> u64 {
        self.now_us
    }
}

/// A user-space datapath on a unix socket, steered by the agent at `agent` (default
/// `/tmp/ccp/portus`). Time is virtual: it only moves with `advance()` or the
/// `advance_us` argument of `ack()`.
#[pyclass(module = "portus.testing", name = "MockDatapath", subclass)]
pub struct MockDatapath {
    dp: Mutex<Datapath<Cb>>,
    path: PathBuf,
    buf: Mutex<Vec<u8>>,
}

fn os_err(e: impl std::fmt::Display) -> PyErr {
    PyOSError::new_err(e.to_string())
}

impl MockDatapath {
    fn with<R>(&self, f: impl FnOnce(&mut Datapath<Cb>) -> R) -> R {
        let mut g = self
            .dp
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        f(&mut g)
    }
}

#[pymethods]
impl MockDatapath {
    /// Bind `path` (default `/tmp/ccp/mock-<pid>-<n>`); the datapath announces itself
    /// (READY, and HELLO unless `handshake=False`, which makes it behave like a legacy
    /// libccp: no Cwnd/Rate in reports). `fallback_timeout_ms` is in virtual
    /// time.
    #[new]
    #[pyo3(signature = (agent="/tmp/ccp/portus", path=None, id=1, fallback_timeout_ms=60_000, handshake=true))]
    fn new(
        agent: &str,
        path: Option<PathBuf>,
        id: u32,
        fallback_timeout_ms: u64,
        handshake: bool,
    ) -> PyResult<Self> {
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let path = path.unwrap_or_else(|| {
            let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            PathBuf::from(format!("/tmp/ccp/mock-{}-{n}", std::process::id()))
        });
        let agent = if agent.contains('/') {
            PathBuf::from(agent)
        } else {
            ccp_ipc::agent_socket_path(agent)
        };
        let sock = UnixSocket::bind(&path, Mode::Nonblocking).map_err(os_err)?;
        let mut cfg = Config::new(id);
        cfg.fallback_timeout_us = fallback_timeout_ms.max(1).saturating_mul(1000);
        cfg.handshake = handshake;
        let cb = Cb {
            sock,
            agent,
            now_us: 1,
            send_failures: 0,
        };
        let dp = Datapath::init(cfg, cb).map_err(|e| PyValueError::new_err(e.to_string()))?;
        Ok(MockDatapath {
            dp: Mutex::new(dp),
            path,
            buf: Mutex::new(vec![0u8; ccp_ipc::RECV_BUF_LEN]),
        })
    }

    /// The socket path this datapath is bound to.
    #[getter]
    fn path(&self) -> String {
        self.path.display().to_string()
    }

    /// Virtual time, µs.
    #[getter]
    fn now_us(&self) -> u64 {
        self.with(|d| d.callbacks().now_us)
    }

    /// Move virtual time forward by `us` microseconds.
    fn advance(&self, us: u64) {
        self.with(|d| d.callbacks_mut().now_us += us);
    }

    /// Start a connection (CREATE); returns its socket id.
    #[pyo3(signature = (mss=1460, init_cwnd=None, alg=None, src_ip=0, src_port=0, dst_ip=0, dst_port=0))]
    #[allow(clippy::too_many_arguments)]
    fn create(
        &self,
        mss: u32,
        init_cwnd: Option<u32>,
        alg: Option<&str>,
        src_ip: u32,
        src_port: u32,
        dst_ip: u32,
        dst_port: u32,
    ) -> PyResult<u32> {
        let init_cwnd = init_cwnd.unwrap_or(10 * mss);
        let info = DatapathInfo {
            init_cwnd,
            mss,
            src_ip,
            src_port,
            dst_ip,
            dst_port,
        };
        let conn = Conn {
            cwnd: u64::from(init_cwnd),
            ..Conn::default()
        };
        self.with(|d| d.connection_start(info, alg, conn))
            .map_err(|e| PyValueError::new_err(e.to_string()))
    }

    /// One ACK of connection `sid` (after moving the clock by `advance_us`): the
    /// connection's program runs; returns `"ran"`, `"reported"`, `"pending"` (CREATE not
    /// through yet), `"no-program"` (the agent set none yet) or `"fallback"`.
    #[pyo3(signature = (sid, bytes_acked=1460, rtt_us=10_000, lost=0, timeout=false, inflight=None, ecn=0, advance_us=0))]
    #[allow(clippy::too_many_arguments)]
    fn ack(
        &self,
        sid: u32,
        bytes_acked: u32,
        rtt_us: u64,
        lost: u32,
        timeout: bool,
        inflight: Option<u32>,
        ecn: u32,
        advance_us: u64,
    ) -> PyResult<&'static str> {
        self.with(|d| {
            d.callbacks_mut().now_us += advance_us;
            let (cwnd, rate, mss) = match (d.conn(sid), d.connection(sid)) {
                (Some(c), Some(info)) => (c.cwnd, c.rate, u64::from(info.info.mss.max(1))),
                _ => return Err(PyKeyError::new_err(format!("no connection {sid}"))),
            };
            let inflight = inflight.unwrap_or(cwnd.min(u64::from(u32::MAX)) as u32);
            let prims = Primitives {
                bytes_acked,
                packets_acked: (u64::from(bytes_acked) / mss) as u32,
                lost_pkts_sample: lost,
                was_timeout: timeout,
                rtt_sample_us: rtt_us,
                bytes_in_flight: inflight,
                packets_in_flight: (u64::from(inflight) / mss) as u32,
                snd_cwnd: cwnd.min(u64::from(u32::MAX)) as u32,
                snd_rate: rate,
                ecn_bytes: if ecn > 0 { bytes_acked } else { 0 },
                ecn_packets: ecn,
                ..Primitives::default()
            };
            match d.invoke(sid, &prims) {
                Ok(Invoked::Ran { reported: true }) => Ok("reported"),
                Ok(Invoked::Ran { reported: false }) => Ok("ran"),
                Ok(Invoked::CreatePending) => Ok("pending"),
                Ok(Invoked::Fallback { .. }) => Ok("fallback"),
                // libccp's −96: the agent has not set a program yet.
                Err(e) if e.libccp_code() == -96 => Ok("no-program"),
                Err(e) => Err(PyValueError::new_err(e.to_string())),
            }
        })
    }

    /// Handle every message the agent sent, waiting up to `timeout` seconds for the first
    /// one (the GIL is released while waiting). Returns the number handled.
    #[pyo3(signature = (timeout=0.0))]
    fn poll(&self, py: Python<'_>, timeout: f64) -> PyResult<usize> {
        let wait = Duration::from_secs_f64(timeout.clamp(0.0, 3600.0));
        py.detach(|| {
            let mut buf = self
                .buf
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let mut n = 0;
            let mut first = true;
            loop {
                let mode = if first && !wait.is_zero() {
                    Mode::Blocking(wait)
                } else {
                    Mode::Nonblocking
                };
                first = false;
                let got = self.with(|d| {
                    d.callbacks().sock.set_mode(mode)?;
                    d.callbacks()
                        .sock
                        .recv_from(&mut buf)
                        .map_err(std::io::Error::other)
                });
                match got {
                    Ok(Some((len, _from))) => {
                        let msg = buf.get(..len).unwrap_or(&[]);
                        // Rejections are counted in the datapath's stats.
                        let _ = self.with(|d| d.read_msg(msg));
                        n += 1;
                    }
                    Ok(None) => return Ok(n),
                    Err(e) => return Err(os_err(e)),
                }
            }
        })
    }

    /// The window the agent set for `sid`, bytes.
    fn cwnd(&self, sid: u32) -> PyResult<u64> {
        self.with(|d| d.conn(sid).map(|c| c.cwnd))
            .ok_or_else(|| PyKeyError::new_err(format!("no connection {sid}")))
    }

    /// The pacing rate the agent set for `sid`, bytes/s (0: none).
    fn rate(&self, sid: u32) -> PyResult<u64> {
        self.with(|d| d.conn(sid).map(|c| c.rate))
            .ok_or_else(|| PyKeyError::new_err(format!("no connection {sid}")))
    }

    /// uid of the program `sid` runs (`None` before the agent set one).
    fn program_uid(&self, sid: u32) -> PyResult<Option<u32>> {
        self.with(|d| d.connection(sid).map(|c| c.program_uid))
            .ok_or_else(|| PyKeyError::new_err(format!("no connection {sid}")))
    }

    /// End connection `sid` (the close message tells the agent).
    fn close(&self, sid: u32) -> PyResult<()> {
        self.with(|d| d.connection_free(sid))
            .map(drop)
            .ok_or_else(|| PyKeyError::new_err(format!("no connection {sid}")))
    }

    /// Whether the agent has been silent too long and the built-in controller drives.
    #[getter]
    fn in_fallback(&self) -> bool {
        self.with(|d| d.in_fallback())
    }

    /// Whether the HELLO handshake made the datapath append Cwnd/Rate to reports.
    #[getter]
    fn reports_cwnd_rate(&self) -> bool {
        self.with(|d| {
            d.negotiated()
                .capabilities
                .contains(ccp_wire::Capabilities::REPORT_CWND_RATE)
        })
    }

    /// The datapath library's counters.
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let (s, failures, conns) =
            self.with(|d| (d.stats(), d.callbacks().send_failures, d.connections()));
        let dict = PyDict::new(py);
        dict.set_item("connections", conns)?;
        dict.set_item("invocations", s.invocations)?;
        dict.set_item("msgs_received", s.msgs_received)?;
        dict.set_item("installs", s.installs)?;
        dict.set_item("change_progs", s.change_progs)?;
        dict.set_item("updates", s.updates)?;
        dict.set_item("reports_sent", s.reports_sent)?;
        dict.set_item("hellos", s.hellos)?;
        dict.set_item("malformed", s.malformed)?;
        dict.set_item("unknown_program", s.unknown_program)?;
        dict.set_item("send_failures", failures)?;
        Ok(dict)
    }

    fn __repr__(&self) -> String {
        format!("MockDatapath(path={:?})", self.path.display().to_string())
    }
}
