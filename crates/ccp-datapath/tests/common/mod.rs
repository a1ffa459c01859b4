//! A recording mock datapath for the tests.
#![allow(dead_code)]

use ccp_datapath::{Callbacks, SendError, Sid};

/// A callback the library made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cb {
    /// `set_cwnd`.
    Cwnd(Sid, u64),
    /// `set_rate_abs`.
    Rate(Sid, u64),
}

/// Records everything; time is virtual (µs); sends fail while `fail_sends` is set.
#[derive(Debug, Default)]
pub struct Mock {
    pub now_us: u64,
    pub sent: Vec<Vec<u8>>,
    pub calls: Vec<Cb>,
    pub fail_sends: bool,
    /// Per-connection current cwnd, as a datapath would keep it.
    pub cwnd: std::collections::HashMap<Sid, u64>,
}

impl Mock {
    pub fn take_sent(&mut self) -> Vec<Vec<u8>> {
        std::mem::take(&mut self.sent)
    }
    pub fn take_calls(&mut self) -> Vec<Cb> {
        std::mem::take(&mut self.calls)
    }
}

impl Callbacks for Mock {
    type Conn = ();

    fn set_cwnd(&mut self, sid: Sid, _conn: &mut (), cwnd: u64) {
        self.calls.push(Cb::Cwnd(sid, cwnd));
        self.cwnd.insert(sid, cwnd);
    }

    fn set_rate_abs(&mut self, sid: Sid, _conn: &mut (), rate: u64) {
        self.calls.push(Cb::Rate(sid, rate));
    }

    fn send_msg(&mut self, msg: &[u8]) -> Result<(), SendError> {
        if self.fail_sends {
            return Err(SendError::Unreachable("mock agent down".into()));
        }
        self.sent.push(msg.to_vec());
        Ok(())
    }

    fn now(&self) -> u64 {
        self.now_us
    }
}
