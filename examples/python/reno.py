#!/usr/bin/env python3
"""TCP Reno in Python: the same datapath program and control law as the Rust `reno` of
`ccp-algs`, so the two can be compared on the simulator.

Per report (once per RTT, or at once on loss or timeout):

* timeout: ssthresh = max(cwnd/2, 2 MSS), cwnd = 1 MSS;
* loss, at most one cut per loss episode: ssthresh = cwnd = max(cwnd/2, 2 MSS). The
  episode lasts until what was in flight at the cut, plus the lost segments and three
  segments of slack, has been acked or SACKed; no growth meanwhile;
* otherwise slow start below ssthresh, then +1 MSS per window of acked bytes.

On a loss the program itself holds the window at the bytes in flight until the agent
answers.

    python reno.py                       # agent on /tmp/ccp/portus
    python reno.py --sim fixed --duration 30
"""

from __future__ import annotations

import portus

PROGRAM = """(def
    (Report
        (volatile acked 0)
        (volatile sacked 0)
        (volatile loss 0)
        (volatile timeout false)
        (volatile rtt 0)
        (volatile inflight 0)
    )
    (mss 1460)
)
(when true
    (:= Report.acked (+ Report.acked Ack.bytes_acked))
    (:= Report.sacked (+ Report.sacked Ack.bytes_misordered))
    (:= Report.loss (+ Report.loss Ack.lost_pkts_sample))
    (:= Report.timeout Flow.was_timeout)
    (:= Report.rtt Flow.rtt_sample_us)
    (:= Report.inflight Flow.bytes_in_flight)
    (fallthrough)
)
(when (|| Report.timeout (> Report.loss 0))
    (:= Cwnd (max (min Cwnd Flow.bytes_in_flight) mss))
    (report)
    (:= Micros 0)
)
(when (> Micros Report.rtt)
    (report)
    (:= Micros 0)
)"""

RECOVERY_SLACK_SEGMENTS = 3


class RenoFlow:
    def __init__(self, datapath, info):
        self.datapath = datapath
        self.mss = info.mss or 1460
        self.cwnd = max(info.init_cwnd or 10 * self.mss, self.mss)
        self.ssthresh = 2**64 - 1
        self.ca_acked = 0
        self.recovery_left = None
        datapath.set_program("reno", [("Cwnd", self.cwnd), ("mss", self.mss)])

    def on_report(self, r):
        loss, timeout = r.loss, r.timeout
        if self.recovery_left is not None:
            left = self.recovery_left - r.acked - r.sacked
            self.recovery_left = left if left > 0 else None
        if timeout:
            self.ssthresh = max(self.cwnd // 2, 2 * self.mss)
            self.cwnd = self.mss
            self.ca_acked = 0
            self.recovery_left = None
        elif loss > 0:
            if self.recovery_left is None:
                self.cwnd = max(self.cwnd // 2, 2 * self.mss)
                self.ssthresh = self.cwnd
                self.ca_acked = 0
                self.recovery_left = r.inflight + (loss + RECOVERY_SLACK_SEGMENTS) * self.mss
        elif self.recovery_left is None:
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
        # Answer every report: the datapath always holds the agent's latest window.
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
