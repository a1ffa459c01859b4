#!/usr/bin/env python3
"""Per-report cost of a Python algorithm vs the same algorithm in Rust.

The agent core (ccp-agent behind this module's host, no sockets) is handed MEASURE
messages round-robin over N flows; each report runs the algorithm's on_report and
encodes its UPDATE_FIELDS. Algorithm: Reno — the Rust `reno` of ccp-algs and the Python
port in examples/python/reno.py (same program, same control law). The Python side runs
with the GIL held for the whole batch, as the agent loop does for the datagrams of one
receive.

    python crates/ccp-python/benches/reports.py [--reports 200000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import pathlib
import sys

import portus
from portus import _native

ROOT = pathlib.Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "examples" / "python"))
import reno  # noqa: E402

# One report: a window's worth of acked bytes, no loss (slow start: the window changes,
# so every report is answered with an UPDATE_FIELDS).
FIELDS = {"acked": 14_600, "sacked": 0, "loss": 0, "timeout": 0, "rtt": 10_000,
          "inflight": 14_600}


def best_rate(alg, flows: int, reports: int, repeat: int) -> tuple[float, int]:
    best = 0.0
    sent = 0
    for _ in range(repeat):
        if alg is None:
            secs, sent, errors = _native.bench_reports(None, {}, flows=flows, reports=reports,
                                                       fields=FIELDS)
        else:
            secs, sent, errors = _native.bench_reports(alg, alg.datapath_programs(),
                                                       flows=flows, reports=reports,
                                                       fields=FIELDS)
        assert errors == 0
        best = max(best, reports / secs)
    return best, sent


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--reports", type=int, default=200_000)
    p.add_argument("--repeat", type=int, default=3)
    args = p.parse_args()
    print(f"portus {portus.__version__}, {args.reports} reports per run, best of {args.repeat}")
    print()
    print("| flows | Rust reports/s | Python reports/s | Python/Rust | Python µs/report | updates sent (Py) |")
    print("|---:|---:|---:|---:|---:|---:|")
    for flows in (1, 1000):
        rust, _ = best_rate(None, flows, args.reports, args.repeat)
        py, sent = best_rate(reno.Reno(), flows, args.reports, args.repeat)
        print(f"| {flows} | {rust:,.0f} | {py:,.0f} | {py / rust:.3f} | {1e6 / py:.2f} | {sent:,} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
