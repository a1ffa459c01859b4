#!/usr/bin/env python3
"""AIMD in Python: slow start until the first loss, then +1 MSS per RTT, halve on loss.

    python aimd.py                       # agent on /tmp/ccp/portus (Ctrl-C stops it)
    python aimd.py --sim fixed --duration 30   # on the simulator, prints the summary
"""

from __future__ import annotations

import portus

# Per ACK: add up acked bytes and losses; report once per RTT, or at once on loss or
# timeout.
PROGRAM = """
(def (Report
    (volatile acked 0)
    (volatile loss 0)
    (volatile timeout false)
    (volatile rtt 0)))
(when true
    (:= Report.acked (+ Report.acked Ack.bytes_acked))
    (:= Report.loss (+ Report.loss Ack.lost_pkts_sample))
    (:= Report.timeout Flow.was_timeout)
    (:= Report.rtt Flow.rtt_sample_us)
    (fallthrough))
(when (|| Report.timeout (> Report.loss 0))
    (report)
    (:= Micros 0))
(when (> Micros Report.rtt)
    (report)
    (:= Micros 0))
"""


class AimdFlow:
    def __init__(self, datapath: portus.Datapath, info: portus.DatapathInfo):
        self.datapath = datapath
        self.mss = info.mss or 1460
        self.init_cwnd = info.init_cwnd or 10 * self.mss
        self.cwnd = self.init_cwnd
        self.slow_start = True
        self.last_cut = -1.0
        datapath.set_program("aimd", [("Cwnd", self.cwnd)])

    def on_report(self, r: portus.Report) -> None:
        if r.timeout:
            self.cwnd = self.init_cwnd
            self.slow_start = False
        elif r.loss > 0:
            # At most one cut per RTT: losses of one window are one congestion event.
            if r.time - self.last_cut > r.rtt / 1e6:
                self.cwnd = max(self.cwnd // 2, 2 * self.mss)
                self.last_cut = r.time
            self.slow_start = False
        elif self.slow_start:
            self.cwnd += r.acked
        else:
            self.cwnd += self.mss * r.acked // self.cwnd
        self.datapath.update_field("Cwnd", self.cwnd)


class Aimd(portus.AlgBase):
    name = "aimd-py"

    def datapath_programs(self):
        return {"aimd": PROGRAM}

    def new_flow(self, datapath, datapath_info):
        return AimdFlow(datapath, datapath_info)


if __name__ == "__main__":
    from _cli import main

    raise SystemExit(main(Aimd, __doc__))
