#!/usr/bin/env python3
"""TCP Reno in Python, the same control law and datapath program as the Rust `reno`
of `ccp-algs` (so the two can be compared on the simulator):

* reports once per RTT, or at once on loss or timeout;
* timeout: ssthresh = max(cwnd/2, 2 MSS), cwnd = initial window;
* loss (at most one cut per RTT): ssthresh = cwnd = max(cwnd/2, 2 MSS);
* otherwise slow start below ssthresh, then +1 MSS per window of acked bytes.

    python reno.py                       # agent on /tmp/ccp/portus
    python reno.py --sim fixed --duration 30
"""

from __future__ import annotations

import portus

PROGRAM = """(def
    (Report
        (volatile acked 0)
        (volatile loss 0)
        (volatile timeout false)
        (volatile rtt 0)
        (volatile inflight 0)
    )
)
(when true
    (:= Report.acked (+ Report.acked Ack.bytes_acked))
    (:= Report.loss (+ Report.loss Ack.lost_pkts_sample))
    (:= Report.timeout Flow.was_timeout)
    (:= Report.rtt Flow.rtt_sample_us)
    (:= Report.inflight Flow.bytes_in_flight)
    (fallthrough)
)
(when (|| Report.timeout (> Report.loss 0))
    (report)
    (:= Micros 0)
)
(when (> Micros Report.rtt)
    (report)
    (:= Micros 0)
)"""


class RenoFlow:
    def __init__(self, datapath, info):
        self.datapath = datapath
        self.mss = info.mss or 1460
        self.init_cwnd = max(info.init_cwnd or 10 * self.mss, self.mss)
        self.cwnd = self.init_cwnd
        self.ssthresh = 2**64 - 1
        self.ca_acked = 0
        self.last_cut = None
        datapath.set_program("reno", [("Cwnd", self.cwnd)])

    def on_report(self, r):
        before = self.cwnd
        loss, timeout = r.loss, r.timeout
        if timeout:
            self.ssthresh = max(self.cwnd // 2, 2 * self.mss)
            self.cwnd = self.init_cwnd
            self.ca_acked = 0
            self.last_cut = r.time
        elif loss > 0:
            rtt = min(r.rtt, 2**32 - 1) / 1e6
            if self.last_cut is None or r.time - self.last_cut >= rtt:
                self.cwnd = max(self.cwnd // 2, 2 * self.mss)
                self.ssthresh = self.cwnd
                self.ca_acked = 0
                self.last_cut = r.time
        else:
            acked = r.acked
            if self.cwnd < self.ssthresh:
                grow = min(acked, self.ssthresh - self.cwnd)
                self.cwnd += grow
                acked -= grow
            if acked > 0:
                self.ca_acked += acked
                while self.ca_acked >= self.cwnd:
                    self.ca_acked -= self.cwnd
                    self.cwnd += self.mss
        if self.cwnd != before or loss > 0 or timeout:
            self.datapath.update_field("Cwnd", self.cwnd)


class Reno(portus.AlgBase):
    name = "reno-py"

    def datapath_programs(self):
        return {"reno": PROGRAM}

    def new_flow(self, datapath, datapath_info):
        return RenoFlow(datapath, datapath_info)


if __name__ == "__main__":
    from _cli import main

    raise SystemExit(main(Reno, __doc__))
