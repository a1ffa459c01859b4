"""``python -m portus``: run an algorithm file as an agent or on the simulator.

    python -m portus sim FILE.py [--scenario fixed] [--duration 60] [--seed 1]
                                [--alg python --alg reno ...] [--flows N]
                                [--keep-algorithms] [--out DIR] [--json]
    python -m portus agent FILE.py [--ipc unix] [--name portus] [--debug]

``FILE.py`` defines the algorithm (see :func:`portus.load_algorithm`). ``ccp sim --python
FILE.py`` runs the ``sim`` command.
"""

from __future__ import annotations

import argparse
import json
import sys

import portus


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m portus", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("sim", help="run the algorithm on the simulator")
    s.add_argument("file")
    s.add_argument("--scenario", default="fixed",
                   help="built-in scenario name or TOML file (default: fixed)")
    s.add_argument("--duration", type=float, default=None,
                   help="simulated seconds (default: the scenario's)")
    s.add_argument("--seed", type=int, default=None, help="seed (default: the scenario's)")
    s.add_argument("--alg", action="append", default=None, dest="algs", metavar="NAME",
                   help="algorithm of one flow, repeatable ('python' or the file's "
                        "algorithm name, or a built-in); default: every flow runs the file's")
    s.add_argument("--flows", type=int, default=None, help="repeat each flow N times")
    s.add_argument("--keep-algorithms", action="store_true",
                   help="keep the algorithms the scenario file names")
    s.add_argument("--out", default=None, metavar="DIR",
                   help="write CSV time series and PNG plots here")
    s.add_argument("--json", action="store_true", help="print only the summary as JSON")
    a = sub.add_parser("agent", help="run the algorithm as the CCP agent")
    a.add_argument("file")
    a.add_argument("--ipc", default="unix", choices=["unix", "netlink"])
    a.add_argument("--name", default=None)
    a.add_argument("--debug", action="store_true")
    args = p.parse_args(argv)
    try:
        alg = portus.load_algorithm(args.file)
    except (ImportError, ValueError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if args.command == "sim":
        try:
            text, table, written, wall = portus._simulate(
                alg, args.scenario, args.duration, args.seed, args.algs, args.flows,
                args.keep_algorithms, args.out)
        except (ValueError, TypeError, portus.CompileError) as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
        if args.json:
            print(text)
            return 0
        print(table, end="")
        duration = json.loads(text)["duration_s"]
        print(f"simulated {duration:.1f} s in {wall:.2f} s ({duration / max(wall, 1e-9):.0f}× real time)")
        if args.out:
            print(f"plots in {args.out}/:")
            for p in sorted(written, key=lambda p: not p.endswith(".png")):
                print(f"  {p}")
        return 0
    stats = portus.start(args.ipc, alg, name=args.name, debug=args.debug)
    print(f"stopped: {json.dumps(stats)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
