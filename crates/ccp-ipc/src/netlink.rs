//! Netlink transport to a Linux kernel datapath (spec §5.2).
//!
//! Protocol `NETLINK_USERSOCK` (2). The agent binds a netlink socket subscribed to multicast
//! **group 22**; the kernel datapath multicasts its messages (READY, CREATE, MEASURE) to that
//! group, and the agent unicasts its messages to the kernel (port id 0). Every CCP message is
//! prefixed by a 16-byte `nlmsghdr` (`nlmsg_len` = 16 + payload; type, flags, seq and pid 0
//! when the agent sends; the kernel sends type `NLMSG_DONE`).
//!
//! Exercising this live needs a kernel datapath that speaks CCP over netlink (the
//! `ccp-kernel` module), which this machine cannot load; the framing is unit-tested, and a
//! root-only test checks a real `NETLINK_USERSOCK` multicast round trip between two
//! user-space sockets (the kernel module does the same multicast).

use std::os::fd::{AsRawFd, OwnedFd};
use std::time::Duration;

use nix::sys::socket::{
    AddressFamily, NetlinkAddr, SockFlag, SockProtocol, SockType, bind, recvfrom, sendto,
    setsockopt, socket, sockopt,
};
use nix::sys::time::TimeVal;
use thiserror::Error;

use crate::{Ipc, IpcError, Mode, is_timeout};

/// Netlink multicast group the CCP kernel datapath sends to.
pub const CCP_GROUP: u32 = 22;
/// Length of `struct nlmsghdr`.
pub const NLMSG_HDR_LEN: usize = 16;
/// `NLMSG_DONE`, the message type the kernel datapath uses.
pub const NLMSG_DONE: u16 = 3;

/// Why a received netlink frame was rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Error)]
pub enum FrameError {
    /// Fewer bytes than a netlink header.
    #[error("frame of {0} bytes is shorter than the 16-byte netlink header")]
    Short(usize),
    /// `nlmsg_len` smaller than the header or larger than the bytes received.
    #[error("nlmsg_len {declared} is inconsistent with the {received} bytes received")]
    BadLength {
        /// `nlmsg_len` from the header.
        declared: u32,
        /// Bytes actually received.
        received: usize,
    },
}

/// Prefix `payload` with the 16-byte `nlmsghdr` the agent sends (type, flags, seq, pid 0).
pub fn frame(payload: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(NLMSG_HDR_LEN + payload.len());
    frame_into(payload, 0, &mut v);
    v
}

/// Append a netlink frame with message type `nlmsg_type` around `payload` to `out`.
pub fn frame_into(payload: &[u8], nlmsg_type: u16, out: &mut Vec<u8>) {
    let len = (NLMSG_HDR_LEN + payload.len()) as u32;
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&nlmsg_type.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes()); // flags
    out.extend_from_slice(&0u32.to_le_bytes()); // seq
    out.extend_from_slice(&0u32.to_le_bytes()); // pid
    out.extend_from_slice(payload);
}

/// The CCP payload of one received frame: exactly `nlmsg_len − 16` bytes after the header.
pub fn deframe(buf: &[u8]) -> Result<&[u8], FrameError> {
    let hdr: &[u8; 4] = buf
        .get(..4)
        .and_then(|b| b.try_into().ok())
        .filter(|_| buf.len() >= NLMSG_HDR_LEN)
        .ok_or(FrameError::Short(buf.len()))?;
    let declared = u32::from_le_bytes(*hdr);
    let end = declared as usize;
    if end < NLMSG_HDR_LEN || end > buf.len() {
        return Err(FrameError::BadLength {
            declared,
            received: buf.len(),
        });
    }
    Ok(&buf[NLMSG_HDR_LEN..end])
}

/// The agent's netlink socket (address type `()`: there is one kernel datapath).
#[derive(Debug)]
pub struct NetlinkSocket {
    fd: OwnedFd,
}

impl NetlinkSocket {
    /// Open a `NETLINK_USERSOCK` socket subscribed to group [`CCP_GROUP`]. Needs root (or
    /// CAP_NET_ADMIN) unless the kernel side allows non-root receivers.
    pub fn agent(mode: Mode) -> Result<NetlinkSocket, IpcError> {
        NetlinkSocket::open(1 << (CCP_GROUP - 1), mode)
    }

    /// Open a `NETLINK_USERSOCK` socket with the given multicast group bitmask (bit n−1 =
    /// group n), port id chosen by the kernel.
    pub fn open(groups: u32, mode: Mode) -> Result<NetlinkSocket, IpcError> {
        let flags = match mode {
            Mode::Nonblocking => SockFlag::SOCK_NONBLOCK | SockFlag::SOCK_CLOEXEC,
            Mode::Blocking(_) => SockFlag::SOCK_CLOEXEC,
        };
        let err = |e: nix::Error| IpcError::bind("netlink", std::io::Error::from(e));
        let fd = socket(
            AddressFamily::Netlink,
            SockType::Raw,
            flags,
            SockProtocol::NetlinkUserSock,
        )
        .map_err(err)?;
        bind(fd.as_raw_fd(), &NetlinkAddr::new(0, groups)).map_err(err)?;
        if let Mode::Blocking(t) = mode {
            let t = t.max(Duration::from_micros(1));
            let tv = TimeVal::new(t.as_secs() as _, t.subsec_micros() as _);
            setsockopt(&fd, sockopt::ReceiveTimeout, &tv).map_err(err)?;
        }
        Ok(NetlinkSocket { fd })
    }

    /// Send a raw frame (header included) to a netlink address.
    fn send_frame(&self, framed: &[u8], to: &NetlinkAddr) -> Result<(), IpcError> {
        sendto(
            self.fd.as_raw_fd(),
            framed,
            to,
            nix::sys::socket::MsgFlags::empty(),
        )
        .map(|_| ())
        .map_err(|e| IpcError::Send {
            len: framed.len(),
            to: format!("netlink pid {} groups {:#x}", to.pid(), to.groups()),
            source: e.into(),
        })
    }

    /// Multicast `payload` to `group` (what the kernel datapath does; used in tests and by
    /// user-space tools that impersonate a kernel datapath).
    pub fn multicast(&self, payload: &[u8], group: u32) -> Result<(), IpcError> {
        let mut v = Vec::with_capacity(NLMSG_HDR_LEN + payload.len());
        frame_into(payload, NLMSG_DONE, &mut v);
        // The kernel delivers to the group first and then also unicasts to port id 0; for
        // NETLINK_USERSOCK nobody listens on port 0 in the kernel, so that second step
        // reports ECONNREFUSED after the multicast has been delivered.
        match sendto(
            self.fd.as_raw_fd(),
            &v,
            &NetlinkAddr::new(0, 1 << (group - 1)),
            nix::sys::socket::MsgFlags::empty(),
        ) {
            Ok(_) | Err(nix::Error::ECONNREFUSED) => Ok(()),
            Err(e) => Err(IpcError::Send {
                len: v.len(),
                to: format!("netlink group {group}"),
                source: e.into(),
            }),
        }
    }
}

impl Ipc for NetlinkSocket {
    type Addr = ();

    fn name(&self) -> &'static str {
        "netlink"
    }

    fn send_to(&self, msg: &[u8], _to: &()) -> Result<(), IpcError> {
        self.send_frame(&frame(msg), &NetlinkAddr::new(0, 0))
    }

    fn recv_from(&self, buf: &mut [u8]) -> Result<Option<(usize, ())>, IpcError> {
        match recvfrom::<NetlinkAddr>(self.fd.as_raw_fd(), buf) {
            Ok((n, _)) => {
                let n = n.min(buf.len());
                let len = deframe(&buf[..n])?.len();
                buf.copy_within(NLMSG_HDR_LEN..NLMSG_HDR_LEN + len, 0);
                Ok(Some((len, ())))
            }
            Err(e) => {
                let e = std::io::Error::from(e);
                if is_timeout(&e) || e.kind() == std::io::ErrorKind::Interrupted {
                    Ok(None)
                } else {
                    Err(IpcError::Recv(e))
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_layout_matches_portus_and_kernel() {
        let f = frame(&[5, 0, 12, 0, 0, 0, 0, 0, 0xaa, 0, 0, 0]);
        assert_eq!(f.len(), 28);
        assert_eq!(&f[0..4], &28u32.to_le_bytes());
        assert_eq!(&f[4..16], &[0u8; 12]);
        assert_eq!(deframe(&f).unwrap(), &f[16..]);
    }

    #[test]
    fn deframe_uses_nlmsg_len_not_datagram_length() {
        let mut f = Vec::new();
        frame_into(b"abc", NLMSG_DONE, &mut f);
        f.extend_from_slice(b"trailing padding");
        assert_eq!(deframe(&f).unwrap(), b"abc");
        assert_eq!(u16::from_le_bytes([f[4], f[5]]), NLMSG_DONE);
    }

    #[test]
    fn deframe_rejects_bad_frames() {
        assert_eq!(deframe(&[1, 2, 3]), Err(FrameError::Short(3)));
        let mut f = frame(b"abcd");
        f[0] = 200;
        assert_eq!(
            deframe(&f),
            Err(FrameError::BadLength {
                declared: 200,
                received: 20
            })
        );
        f[0] = 8;
        assert!(matches!(deframe(&f), Err(FrameError::BadLength { .. })));
    }

    /// A real NETLINK_USERSOCK round trip: one socket multicasts to group 22 (as the kernel
    /// datapath does), the agent socket receives and strips the header. Needs root.
    #[test]
    fn live_multicast_to_group_22_reaches_agent_socket() {
        if !nix::unistd::Uid::effective().is_root() {
            eprintln!("skipped: joining netlink multicast groups needs root");
            return;
        }
        let agent = NetlinkSocket::agent(Mode::Blocking(Duration::from_secs(5))).unwrap();
        let dp = NetlinkSocket::open(0, Mode::Nonblocking).unwrap();
        let ready = [5u8, 0, 12, 0, 0, 0, 0, 0, 0xaa, 0, 0, 0];
        dp.multicast(&ready, CCP_GROUP).unwrap();
        let mut buf = [0u8; 256];
        let (n, ()) = agent.recv_from(&mut buf).unwrap().expect("message arrives");
        assert_eq!(&buf[..n], &ready);
    }
}
