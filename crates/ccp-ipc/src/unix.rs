//! Unix-domain datagram sockets (spec §5.1) — the default transport between a user-space
//! datapath and the agent.
//!
//! The agent binds `/tmp/ccp/<name>` (default `/tmp/ccp/portus`, where portus binds too, so
//! existing datapaths find either). A datapath binds its own filesystem path (customarily
//! `/tmp/ccp/<something>`) and sends to the agent's path; the agent answers to the path the
//! datagram came from.
//!
//! # Who may connect
//!
//! When this module creates `/tmp/ccp` it makes it mode `0700`, and every socket it binds is
//! made mode `0600`. Connecting to a unix socket needs write permission on the socket and
//! search permission on its directory, so **only processes of the same user (and root) can
//! talk to the agent or to a datapath**. Run the agent and the datapaths as the same user. If
//! `/tmp/ccp` already exists, its mode is left alone (a warning is logged when it is more
//! permissive than `0700`); the sockets themselves are still `0600`.

use std::fs::{DirBuilder, Permissions};
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};

use nix::sys::socket::{setsockopt, sockopt};

use crate::{Ipc, IpcError, Mode, is_timeout};

/// A bound unix datagram socket. The socket file is removed when this is dropped.
///
/// An agent socket also carries **reply sockets** ([`take_reply_sockets`](Self::take_reply_sockets)):
/// datagram sockets bound to the same path name *before* the main socket (each bound, then
/// its file unlinked), so they are unreachable by path but every datagram they send carries
/// the agent's address, exactly like one sent from the main socket. Connected to a
/// datapath's socket, such a socket sends to it without the path lookup that every
/// `sendto` to a filesystem address costs in the kernel (`unix_find_other`), while the main
/// socket keeps receiving from every datapath.
#[derive(Debug)]
pub struct UnixSocket {
    sock: UnixDatagram,
    path: PathBuf,
    reply: Vec<UnixDatagram>,
}

impl UnixSocket {
    /// Reply sockets an agent socket gets ([`UnixSocket::agent`]): one per datapath that
    /// is answered without a path lookup; further datapaths are answered with `sendto`.
    pub const AGENT_REPLY_SOCKETS: usize = 8;

    /// Bind the agent's socket `/tmp/ccp/<name>` (creating `/tmp/ccp` with mode 0700 if
    /// needed, removing a stale socket file first, as portus does), with
    /// [`AGENT_REPLY_SOCKETS`](Self::AGENT_REPLY_SOCKETS) reply sockets.
    pub fn agent(name: &str, mode: Mode) -> Result<UnixSocket, IpcError> {
        UnixSocket::bind_with_reply_sockets(
            crate::agent_socket_path(name),
            mode,
            Self::AGENT_REPLY_SOCKETS,
        )
    }

    /// Bind a datagram socket at `path` (any filesystem path). The parent directory is
    /// created with mode 0700 if missing; an existing file at `path` is removed first; the
    /// socket is made mode 0600.
    pub fn bind(path: impl Into<PathBuf>, mode: Mode) -> Result<UnixSocket, IpcError> {
        UnixSocket::bind_with_reply_sockets(path, mode, 0)
    }

    /// [`bind`](Self::bind), first creating up to `replies` reply sockets that send with
    /// `path` as their address (see [`UnixSocket`]). A reply socket that cannot be
    /// created is logged and left out.
    pub fn bind_with_reply_sockets(
        path: impl Into<PathBuf>,
        mode: Mode,
        replies: usize,
    ) -> Result<UnixSocket, IpcError> {
        Self::bind_with_reply_sockets_observed(path, mode, replies, &mut |_| {})
    }

    /// [`bind_with_reply_sockets`](Self::bind_with_reply_sockets), calling `while_bound`
    /// while each reply socket holds the path (for tests of that start-up window).
    #[doc(hidden)]
    pub fn bind_with_reply_sockets_observed(
        path: impl Into<PathBuf>,
        mode: Mode,
        replies: usize,
        while_bound: &mut dyn FnMut(&Path),
    ) -> Result<UnixSocket, IpcError> {
        let path = path.into();
        let shown = path.display().to_string();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            prepare_dir(dir).map_err(|e| IpcError::bind(dir.display().to_string(), e))?;
        }
        match std::fs::remove_file(&path) {
            Ok(()) => tracing::debug!(path = %shown, "removed stale socket file"),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(IpcError::bind(shown, e)),
        }
        let mut reply = Vec::with_capacity(replies);
        for _ in 0..replies {
            match bind_unlinked(&path, while_bound) {
                Ok(s) => reply.push(s),
                Err(e) => {
                    tracing::warn!(path = %shown, error = %e, "cannot create a reply socket");
                    break;
                }
            }
        }
        let sock = UnixDatagram::bind(&path).map_err(|e| IpcError::bind(shown.clone(), e))?;
        // From here on the file exists: own it so that Drop removes it on every error path.
        let s = UnixSocket { sock, path, reply };
        std::fs::set_permissions(&s.path, Permissions::from_mode(0o600))
            .map_err(|e| IpcError::bind(shown.clone(), e))?;
        s.set_mode(mode).map_err(|e| IpcError::bind(shown, e))?;
        Ok(s)
    }

    /// The path this socket is bound to.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Take the reply sockets (see [`UnixSocket`]); later calls return none. Each is
    /// unconnected, blocking, and sends with this socket's path as its address; connect
    /// one to a datapath's path to answer that datapath without a path lookup.
    pub fn take_reply_sockets(&mut self) -> Vec<UnixDatagram> {
        std::mem::take(&mut self.reply)
    }

    /// Switch between blocking (with poll interval) and non-blocking receives.
    pub fn set_mode(&self, mode: Mode) -> std::io::Result<()> {
        match mode {
            Mode::Blocking(t) => {
                self.sock.set_nonblocking(false)?;
                // A zero timeout means "block forever" to the OS; use the smallest real one.
                let t = t.max(std::time::Duration::from_micros(1));
                self.sock.set_read_timeout(Some(t))
            }
            Mode::Nonblocking => self.sock.set_nonblocking(true),
        }
    }

    /// Set the kernel receive buffer size (SO_RCVBUF), e.g. for an agent serving many flows.
    pub fn set_recv_buffer_size(&self, bytes: usize) -> std::io::Result<()> {
        setsockopt(&self.sock, sockopt::RcvBuf, &bytes).map_err(std::io::Error::from)
    }

    /// Set the kernel send buffer size (SO_SNDBUF).
    pub fn set_send_buffer_size(&self, bytes: usize) -> std::io::Result<()> {
        setsockopt(&self.sock, sockopt::SndBuf, &bytes).map_err(std::io::Error::from)
    }

    /// The underlying socket, e.g. to register it with a poller.
    pub fn as_std(&self) -> &UnixDatagram {
        &self.sock
    }
}

/// A socket bound to `path` whose file is removed again: it keeps `path` as its address.
fn bind_unlinked(path: &Path, while_bound: &mut dyn FnMut(&Path)) -> std::io::Result<UnixDatagram> {
    let s = UnixDatagram::bind(path)?;
    while_bound(path);
    std::fs::remove_file(path)?;
    Ok(s)
}

fn prepare_dir(dir: &Path) -> std::io::Result<()> {
    match std::fs::metadata(dir) {
        Ok(md) => {
            let mode = md.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                tracing::warn!(
                    dir = %dir.display(),
                    mode = format_args!("{mode:o}"),
                    "socket directory is accessible to other users; 0700 is recommended"
                );
            }
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            DirBuilder::new().recursive(true).mode(0o700).create(dir)
        }
        Err(e) => Err(e),
    }
}

impl Drop for UnixSocket {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

impl Ipc for UnixSocket {
    type Addr = PathBuf;

    fn name(&self) -> &'static str {
        "unix"
    }

    fn send_to(&self, msg: &[u8], to: &PathBuf) -> Result<(), IpcError> {
        match self.sock.send_to(msg, to) {
            Ok(_) => Ok(()),
            Err(source) => Err(IpcError::Send {
                len: msg.len(),
                to: to.display().to_string(),
                source,
            }),
        }
    }

    fn recv_from(&self, buf: &mut [u8]) -> Result<Option<(usize, PathBuf)>, IpcError> {
        match self.sock.recv_from(buf) {
            Ok((n, addr)) => match addr.as_pathname() {
                Some(p) => Ok(Some((n, p.to_path_buf()))),
                None => Err(IpcError::UnnamedPeer),
            },
            Err(e) if is_timeout(&e) || e.kind() == std::io::ErrorKind::Interrupted => Ok(None),
            Err(e) => Err(IpcError::Recv(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn round_trip_between_two_bound_sockets_with_permissions() {
        let dir = tempfile::tempdir().unwrap();
        let sub = dir.path().join("ccp");
        let agent =
            UnixSocket::bind(sub.join("agent"), Mode::Blocking(Duration::from_secs(5))).unwrap();
        let dp = UnixSocket::bind(sub.join("dp"), Mode::Nonblocking).unwrap();
        let dmode = std::fs::metadata(&sub).unwrap().permissions().mode() & 0o777;
        assert_eq!(dmode, 0o700);
        let smode = std::fs::metadata(agent.path())
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(smode, 0o600);

        dp.send_to(b"ready", &agent.path().to_path_buf()).unwrap();
        let mut buf = [0u8; 64];
        let (n, from) = agent.recv_from(&mut buf).unwrap().unwrap();
        assert_eq!(&buf[..n], b"ready");
        assert_eq!(from, dp.path());
        agent.send_to(b"install", &from).unwrap();
        // Non-blocking: poll until it is there (bounded), never sleep-as-sync.
        let mut got = None;
        for _ in 0..1_000_000 {
            if let Some(x) = dp.recv_from(&mut buf).unwrap() {
                got = Some(x);
                break;
            }
            std::thread::yield_now();
        }
        let (n, from) = got.expect("reply arrives");
        assert_eq!(&buf[..n], b"install");
        assert_eq!(from, agent.path());
    }

    #[test]
    fn nonblocking_and_blocking_receive_report_nothing_when_idle() {
        let dir = tempfile::tempdir().unwrap();
        let nb = UnixSocket::bind(dir.path().join("nb"), Mode::Nonblocking).unwrap();
        let mut buf = [0u8; 8];
        assert!(nb.recv_from(&mut buf).unwrap().is_none());
        let b = UnixSocket::bind(
            dir.path().join("b"),
            Mode::Blocking(Duration::from_millis(1)),
        )
        .unwrap();
        assert!(b.recv_from(&mut buf).unwrap().is_none());
    }

    #[test]
    fn rebinding_replaces_stale_file_and_drop_removes_it() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("sock");
        std::fs::write(&p, b"stale").unwrap();
        let s = UnixSocket::bind(&p, Mode::Nonblocking).unwrap();
        assert!(p.exists());
        drop(s);
        assert!(!p.exists());
    }

    #[test]
    fn send_to_missing_peer_is_an_error_not_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        let s = UnixSocket::bind(dir.path().join("a"), Mode::Nonblocking).unwrap();
        let err = s
            .send_to(b"x", &dir.path().join("nobody-here"))
            .unwrap_err();
        assert!(matches!(err, IpcError::Send { len: 1, .. }), "{err}");
    }

    #[test]
    fn reply_sockets_send_with_the_agent_address_and_the_path_reaches_the_main_socket() {
        let dir = tempfile::tempdir().unwrap();
        let apath = dir.path().join("agent");
        let mut agent =
            UnixSocket::bind_with_reply_sockets(&apath, Mode::Blocking(Duration::from_secs(5)), 3)
                .unwrap();
        let replies = agent.take_reply_sockets();
        assert_eq!(replies.len(), 3);
        assert!(agent.take_reply_sockets().is_empty(), "taken once");
        let dp = UnixSocket::bind(
            dir.path().join("dp"),
            Mode::Blocking(Duration::from_secs(5)),
        )
        .unwrap();
        // The path leads to the main socket, not to a reply socket.
        dp.send_to(b"ready", &apath).unwrap();
        let mut buf = [0u8; 64];
        let (n, from) = agent.recv_from(&mut buf).unwrap().unwrap();
        assert_eq!((&buf[..n], from.as_path()), (&b"ready"[..], dp.path()));
        for (i, r) in replies.iter().enumerate() {
            assert_eq!(
                r.local_addr().unwrap().as_pathname(),
                Some(apath.as_path()),
                "reply socket {i} is named like the agent"
            );
            r.connect(dp.path()).unwrap();
            r.send(&[i as u8]).unwrap();
            let (n, from) = dp.recv_from(&mut buf).unwrap().unwrap();
            assert_eq!((&buf[..n], from), (&[i as u8][..], apath.clone()));
        }
        // Answering the sender's address reaches the main socket.
        dp.send_to(b"again", &apath).unwrap();
        let (n, _) = agent.recv_from(&mut buf).unwrap().unwrap();
        assert_eq!(&buf[..n], b"again");
        drop(agent);
        assert!(!apath.exists());
    }

    #[test]
    fn unnamed_sender_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let s =
            UnixSocket::bind(dir.path().join("a"), Mode::Blocking(Duration::from_secs(5))).unwrap();
        let anon = UnixDatagram::unbound().unwrap();
        anon.send_to(b"hi", s.path()).unwrap();
        let mut buf = [0u8; 8];
        assert!(matches!(s.recv_from(&mut buf), Err(IpcError::UnnamedPeer)));
    }
}
