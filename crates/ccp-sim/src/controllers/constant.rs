//! Constant controllers for tests and baselines.

use crate::cc::{CongestionController, Control, FlowInfo, Measurement};

/// Keeps the window fixed (parameter `cwnd_packets`, default 100 segments), ignoring loss and
/// timeouts. With `rate_mbps` > 0 it also paces at that rate.
#[derive(Debug, Clone)]
pub struct ConstCwnd {
    cwnd_packets: u32,
    rate_bytes_per_sec: u64,
}

impl ConstCwnd {
    /// A fixed window of `cwnd_packets` segments, no pacing.
    pub fn new(cwnd_packets: u32) -> ConstCwnd {
        ConstCwnd {
            cwnd_packets: cwnd_packets.max(1),
            rate_bytes_per_sec: 0,
        }
    }
    /// From scenario parameters `cwnd_packets` and `rate_mbps`.
    pub fn from_info(info: &FlowInfo) -> ConstCwnd {
        let mut c = ConstCwnd::new(info.param("cwnd_packets", 100.0).clamp(1.0, 1e9) as u32);
        c.rate_bytes_per_sec = mbps_to_bytes(info.param("rate_mbps", 0.0));
        c
    }
}

/// Megabits per second to bytes per second (negative → 0).
pub fn mbps_to_bytes(mbps: f64) -> u64 {
    if mbps.is_finite() && mbps > 0.0 {
        (mbps * 1e6 / 8.0).round() as u64
    } else {
        0
    }
}

impl CongestionController for ConstCwnd {
    fn name(&self) -> &str {
        "const-cwnd"
    }
    fn on_start(&mut self, info: &FlowInfo, ctl: &mut Control<'_>) {
        ctl.set_cwnd(self.cwnd_packets.saturating_mul(info.mss));
        ctl.set_pacing_rate(self.rate_bytes_per_sec);
    }
    fn on_ack(&mut self, _m: &Measurement, _ctl: &mut Control<'_>) {}
    fn on_timeout(&mut self, _m: &Measurement, _ctl: &mut Control<'_>) {}
}

/// Paces at a fixed rate (parameter `rate_mbps`, default 10 Mbit/s on the wire) with a
/// window large enough never to limit (`cwnd_packets`, default 100 000 segments).
#[derive(Debug, Clone)]
pub struct ConstRate {
    rate_bytes_per_sec: u64,
    cwnd_packets: u32,
}

impl ConstRate {
    /// Pace at `rate_bytes_per_sec` with an effectively unlimited window.
    pub fn new(rate_bytes_per_sec: u64) -> ConstRate {
        ConstRate {
            rate_bytes_per_sec: rate_bytes_per_sec.max(1),
            cwnd_packets: 100_000,
        }
    }
    /// From scenario parameters `rate_mbps` and `cwnd_packets`.
    pub fn from_info(info: &FlowInfo) -> ConstRate {
        let mut c = ConstRate::new(mbps_to_bytes(info.param("rate_mbps", 10.0)));
        c.cwnd_packets = info.param("cwnd_packets", 100_000.0).clamp(1.0, 1e9) as u32;
        c
    }
}

impl CongestionController for ConstRate {
    fn name(&self) -> &str {
        "const-rate"
    }
    fn on_start(&mut self, info: &FlowInfo, ctl: &mut Control<'_>) {
        ctl.set_cwnd(self.cwnd_packets.saturating_mul(info.mss));
        ctl.set_pacing_rate(self.rate_bytes_per_sec);
    }
    fn on_ack(&mut self, _m: &Measurement, _ctl: &mut Control<'_>) {}
    fn on_timeout(&mut self, _m: &Measurement, _ctl: &mut Control<'_>) {}
}
