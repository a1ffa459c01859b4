"""``python -m portus``: run an algorithm file as an agent or on the simulator.

    python -m portus sim FILE.py [--scenario fixed] [--duration 60] [--seed 1]
                                [--algorithms python,reno] [--flows N] [--json]
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
    s.add_argument("--duration", type=float, default=60.0, help="simulated seconds")
    s.add_argument("--seed", type=int, default=1)
    s.add_argument("--algorithms", default=None,
                   help="comma-separated algorithm per flow (the file's algorithm is its "
                        "name, default 'python'); default: every flow runs it")
    s.add_argument("--flows", type=int, default=None, help="repeat each flow N times")
    s.add_argument("--json", action="store_true", help="print the summary as JSON")
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
        algorithms = args.algorithms.split(",") if args.algorithms else None
        try:
            summary = portus.simulate(alg, scenario=args.scenario, duration=args.duration,
                                      seed=args.seed, algorithms=algorithms,
                                      flows=args.flows, print_table=not args.json)
        except (ValueError, TypeError, portus.CompileError) as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
        if args.json:
            json.dump(summary, sys.stdout, indent=2)
            print()
        return 0
    stats = portus.start(args.ipc, alg, name=args.name, debug=args.debug)
    print(f"stopped: {json.dumps(stats)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
