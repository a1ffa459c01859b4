//! In-process transport over crossbeam channels (spec §5.4): one message per `Vec<u8>`.
//!
//! Used to run an agent and a datapath in the same process (tests, the simulator's
//! `--agent inproc`). The address type is `()`: a channel pair connects exactly two ends.

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, TryRecvError};

use crate::{Ipc, IpcError, Mode};

/// One end of an in-process channel pair.
#[derive(Debug)]
pub struct ChanSocket {
    tx: Sender<Vec<u8>>,
    rx: Receiver<Vec<u8>>,
    mode: Mode,
}

/// Two connected ends (e.g. agent side and datapath side), both in `mode`.
pub fn pair(mode: Mode) -> (ChanSocket, ChanSocket) {
    let (a_tx, b_rx) = crossbeam_channel::unbounded();
    let (b_tx, a_rx) = crossbeam_channel::unbounded();
    (
        ChanSocket {
            tx: a_tx,
            rx: a_rx,
            mode,
        },
        ChanSocket {
            tx: b_tx,
            rx: b_rx,
            mode,
        },
    )
}

impl ChanSocket {
    /// An end built from existing channel halves (messages sent go to `tx`, received come
    /// from `rx`).
    pub fn new(tx: Sender<Vec<u8>>, rx: Receiver<Vec<u8>>, mode: Mode) -> ChanSocket {
        ChanSocket { tx, rx, mode }
    }

    /// Receive a whole message without copying it into a caller buffer.
    pub fn recv_vec(&self) -> Result<Option<Vec<u8>>, IpcError> {
        match self.mode {
            Mode::Blocking(t) => match self.rx.recv_timeout(t) {
                Ok(v) => Ok(Some(v)),
                Err(RecvTimeoutError::Timeout) => Ok(None),
                Err(RecvTimeoutError::Disconnected) => Err(IpcError::Disconnected),
            },
            Mode::Nonblocking => match self.rx.try_recv() {
                Ok(v) => Ok(Some(v)),
                Err(TryRecvError::Empty) => Ok(None),
                Err(TryRecvError::Disconnected) => Err(IpcError::Disconnected),
            },
        }
    }
}

impl Ipc for ChanSocket {
    type Addr = ();

    fn name(&self) -> &'static str {
        "chan"
    }

    fn send_to(&self, msg: &[u8], _to: &()) -> Result<(), IpcError> {
        self.tx
            .send(msg.to_vec())
            .map_err(|_| IpcError::Disconnected)
    }

    fn recv_from(&self, buf: &mut [u8]) -> Result<Option<(usize, ())>, IpcError> {
        Ok(self.recv_vec()?.map(|v| {
            let n = v.len().min(buf.len());
            buf[..n].copy_from_slice(&v[..n]);
            (n, ())
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_cross_in_both_directions_in_order() {
        let (a, b) = pair(Mode::Nonblocking);
        a.send_to(b"one", &()).unwrap();
        a.send_to(b"two", &()).unwrap();
        b.send_to(b"back", &()).unwrap();
        let mut buf = [0u8; 16];
        assert_eq!(b.recv_from(&mut buf).unwrap(), Some((3, ())));
        assert_eq!(&buf[..3], b"one");
        assert_eq!(b.recv_vec().unwrap().as_deref(), Some(&b"two"[..]));
        assert_eq!(b.recv_vec().unwrap(), None);
        assert_eq!(a.recv_vec().unwrap().as_deref(), Some(&b"back"[..]));
    }

    #[test]
    fn truncates_into_short_buffer_and_reports_disconnect() {
        let (a, b) = pair(Mode::Blocking(std::time::Duration::from_millis(1)));
        a.send_to(b"abcdef", &()).unwrap();
        let mut buf = [0u8; 4];
        assert_eq!(b.recv_from(&mut buf).unwrap(), Some((4, ())));
        assert_eq!(&buf, b"abcd");
        assert_eq!(b.recv_from(&mut buf).unwrap(), None);
        drop(a);
        assert!(matches!(b.recv_vec(), Err(IpcError::Disconnected)));
        assert!(matches!(b.send_to(b"x", &()), Err(IpcError::Disconnected)));
    }
}
