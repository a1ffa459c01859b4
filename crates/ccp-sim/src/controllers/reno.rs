//! In-datapath reference Reno (RFC 5681 with SACK-based recovery from the sender).

use crate::cc::{CongestionController, Control, FlowInfo, Measurement};

/// Reno: slow start (cwnd += acked) below ssthresh, congestion avoidance (+1 MSS per RTT)
/// above it, halving once per loss episode (the sender reports at most one `on_loss` per
/// window of data; no growth while in recovery), and cwnd = 1 MSS after a timeout.
///
/// Internally the window is kept in fractional segments.
#[derive(Debug, Clone)]
pub struct Reno {
    cwnd: f64,
    ssthresh: f64,
    mss: f64,
}

impl Reno {
    /// A Reno controller; cwnd starts at the flow's initial window.
    pub fn new() -> Reno {
        Reno {
            cwnd: 10.0,
            ssthresh: f64::INFINITY,
            mss: 1460.0,
        }
    }
    /// Window in segments.
    pub fn cwnd_segments(&self) -> f64 {
        self.cwnd
    }
    /// Slow-start threshold in segments (infinite before the first loss).
    pub fn ssthresh_segments(&self) -> f64 {
        self.ssthresh
    }
    fn apply(&self, ctl: &mut Control<'_>) {
        ctl.set_cwnd((self.cwnd * self.mss).round().min(f64::from(u32::MAX)) as u32);
    }
}

impl Default for Reno {
    fn default() -> Self {
        Reno::new()
    }
}

impl CongestionController for Reno {
    fn name(&self) -> &str {
        "reno"
    }

    fn on_start(&mut self, info: &FlowInfo, ctl: &mut Control<'_>) {
        self.mss = f64::from(info.mss.max(1));
        self.cwnd = (f64::from(ctl.cwnd()) / self.mss).max(1.0);
        self.apply(ctl);
    }

    fn on_ack(&mut self, m: &Measurement, ctl: &mut Control<'_>) {
        if m.sender.in_recovery {
            return;
        }
        let acked = f64::from(m.prims.packets_acked + m.prims.packets_misordered);
        if acked <= 0.0 {
            return;
        }
        if self.cwnd < self.ssthresh {
            // slow start, not overshooting ssthresh; the rest goes to congestion avoidance
            let room = (self.ssthresh - self.cwnd).max(0.0);
            let ss = acked.min(room);
            self.cwnd += ss;
            let rest = acked - ss;
            if rest > 0.0 {
                self.cwnd += rest / self.cwnd;
            }
        } else {
            self.cwnd += acked / self.cwnd;
        }
        self.apply(ctl);
    }

    fn on_loss(&mut self, _m: &Measurement, ctl: &mut Control<'_>) {
        self.ssthresh = (self.cwnd / 2.0).max(2.0);
        self.cwnd = self.ssthresh;
        self.apply(ctl);
    }

    fn on_timeout(&mut self, _m: &Measurement, ctl: &mut Control<'_>) {
        self.ssthresh = (self.cwnd / 2.0).max(2.0);
        self.cwnd = 1.0;
        self.apply(ctl);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cc::{Primitives, SenderState};
    use crate::control::{FlowId, FlowKnobs, Outbox};
    use crate::time::SimTime;

    struct Harness {
        knobs: FlowKnobs,
        outbox: Outbox,
    }
    impl Harness {
        fn new() -> Self {
            Harness {
                knobs: FlowKnobs {
                    cwnd: 10 * 1460,
                    pacing_rate: 0,
                },
                outbox: Outbox::new(),
            }
        }
        fn ctl(&mut self) -> Control<'_> {
            Control::new(
                SimTime::ZERO,
                FlowId(0),
                1460,
                SimTime::ZERO,
                &mut self.knobs,
                &mut self.outbox,
            )
        }
    }

    fn ack(n: u32, in_recovery: bool) -> Measurement {
        Measurement {
            now: SimTime::ZERO,
            prims: Primitives {
                packets_acked: n,
                bytes_acked: n * 1460,
                ..Primitives::default()
            },
            sender: SenderState {
                in_recovery,
                mss: 1460,
                packet_size: 1500,
                ..SenderState::default()
            },
        }
    }

    fn info() -> FlowInfo {
        FlowInfo {
            flow: FlowId(0),
            alg: "reno".into(),
            params: Default::default(),
            mss: 1460,
            packet_size: 1500,
            init_cwnd: 10 * 1460,
            start: SimTime::ZERO,
            stop: None,
            ipc_delay: SimTime::ZERO,
            seed: 1,
        }
    }

    #[test]
    fn slow_start_doubles_per_window_then_halves_on_loss() {
        let mut h = Harness::new();
        let mut r = Reno::new();
        r.on_start(&info(), &mut h.ctl());
        // one window of ACKs doubles the window
        for _ in 0..10 {
            r.on_ack(&ack(1, false), &mut h.ctl());
        }
        assert_eq!(h.knobs.cwnd, 20 * 1460);
        r.on_loss(&ack(0, false), &mut h.ctl());
        assert_eq!(h.knobs.cwnd, 10 * 1460);
        // no growth during recovery
        r.on_ack(&ack(5, true), &mut h.ctl());
        assert_eq!(h.knobs.cwnd, 10 * 1460);
    }

    #[test]
    fn congestion_avoidance_adds_one_segment_per_window() {
        let mut h = Harness::new();
        let mut r = Reno::new();
        r.on_start(&info(), &mut h.ctl());
        r.on_loss(&ack(0, false), &mut h.ctl()); // ssthresh = cwnd = 5
        assert!((r.cwnd_segments() - 5.0).abs() < 1e-9);
        for _ in 0..5 {
            r.on_ack(&ack(1, false), &mut h.ctl());
        }
        // 5 ACKs of one segment at cwnd ≈ 5: +~1 segment (1/5 + 1/5.2 + ...)
        let c = r.cwnd_segments();
        assert!(c > 5.9 && c < 6.0, "{c}");
    }

    #[test]
    fn timeout_resets_to_one_segment() {
        let mut h = Harness::new();
        let mut r = Reno::new();
        r.on_start(&info(), &mut h.ctl());
        r.on_timeout(&ack(0, true), &mut h.ctl());
        assert_eq!(h.knobs.cwnd, 1460);
        assert!((r.ssthresh_segments() - 5.0).abs() < 1e-9);
        // slow start up to ssthresh, then linear
        for _ in 0..4 {
            r.on_ack(&ack(1, false), &mut h.ctl());
        }
        assert!((r.cwnd_segments() - 5.0).abs() < 1e-9);
        r.on_ack(&ack(1, false), &mut h.ctl());
        assert!((r.cwnd_segments() - 5.2).abs() < 1e-9);
    }
}
