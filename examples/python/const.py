#!/usr/bin/env python3
"""Constant rate: pace every flow at a fixed rate, with a window large enough not to limit
it (two bandwidth-delay products of the latest RTT sample).

    python const.py                      # agent on /tmp/ccp/portus, 10 Mbit/s per flow
    python const.py --sim fixed --duration 30
"""

from __future__ import annotations

import portus

RATE_MBPS = 10.0

PROGRAM = """
(def (Report (volatile rtt 0) (volatile acked 0)))
(when true
    (:= Report.rtt Flow.rtt_sample_us)
    (:= Report.acked (+ Report.acked Ack.bytes_acked))
    (fallthrough))
(when (> Micros 100000)
    (report)
    (:= Micros 0))
"""


class ConstFlow:
    def __init__(self, datapath, info, rate_bytes):
        self.datapath = datapath
        self.rate = rate_bytes
        self.mss = info.mss or 1460
        # Until the first RTT sample: a window of 100 ms at the rate.
        cwnd = max(self.rate // 10, 10 * self.mss)
        datapath.set_program("const", {"Rate": self.rate, "Cwnd": cwnd})

    def on_report(self, r):
        if r.rtt > 0:
            cwnd = max(2 * self.rate * r.rtt // 1_000_000, 4 * self.mss)
            self.datapath.update_fields([("Cwnd", cwnd), ("Rate", self.rate)])


class ConstRate(portus.AlgBase):
    name = "const-py"

    def __init__(self, rate_mbps: float = RATE_MBPS):
        self.rate_bytes = int(rate_mbps * 1e6 / 8)

    def datapath_programs(self):
        return {"const": PROGRAM}

    def new_flow(self, datapath, datapath_info):
        return ConstFlow(datapath, datapath_info, self.rate_bytes)


if __name__ == "__main__":
    from _cli import main

    raise SystemExit(main(ConstRate, __doc__))
