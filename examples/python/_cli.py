"""Command line shared by the examples: run the algorithm as an agent (default) or on
the simulator (``--sim SCENARIO``)."""

from __future__ import annotations

import argparse
import json
import sys

import portus


def main(make_alg, description: str, argv=None) -> int:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--ipc", default="unix", choices=["unix", "netlink"],
                   help="transport to the datapaths (default: unix)")
    p.add_argument("--name", default=None,
                   help="agent name: binds /tmp/ccp/NAME (default: $PORTUS_AGENT_NAME or portus)")
    p.add_argument("--debug", action="store_true", help="log every message")
    p.add_argument("--sim", metavar="SCENARIO", default=None,
                   help="run on the simulator instead (built-in scenario name or TOML file)")
    p.add_argument("--duration", type=float, default=30.0, help="simulated seconds (--sim)")
    p.add_argument("--seed", type=int, default=1, help="simulation seed (--sim)")
    args = p.parse_args(argv)
    alg = make_alg()
    if args.sim:
        summary = portus.simulate(alg, scenario=args.sim, duration=args.duration, seed=args.seed)
        json.dump(summary, sys.stdout, indent=2)
        print()
        return 0
    print(f"{type(alg).__name__}: agent on {args.ipc} (Ctrl-C to stop)", file=sys.stderr)
    stats = portus.start(args.ipc, alg, name=args.name, debug=args.debug)
    print(f"stopped: {json.dumps(stats)}", file=sys.stderr)
    return 0
