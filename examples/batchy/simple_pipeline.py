#!/usr/bin/env python3
"""The original Batchy README's example, "A Simple Pipeline", in its scripting style.

    splitter (RandomSplit) --0--> bypass1 (NF1)     flow1: [splitter, bypass1]
                           --1--> bypass2 (NF2)     flow2: [splitter, bypass2]

Both NFs are Bypass modules burning 1000 cycles per batch + 100 per packet (T_0 = 1000 ns,
T_1 = 100 ns); flow1 has a 55 µs p95 delay SLO (the README's ``delay_slo1=55_000``),
flow2 100 µs; the task runs the ProjGradient controller. The original ran

    ./batchy.py --reset --loglevel INFO conf/simple_pipeline.batchy rounds=100,delay_slo1=55_000

here (after building the wheel: scripts/test-python or ``maturin develop``):

    python examples/batchy/simple_pipeline.py rounds=100,delay_slo1=55_000
    python examples/batchy/simple_pipeline.py clock=real,outdir=/tmp   # really run it

Arguments (name=value, comma separated): rounds (40), control_period (0.05 s),
delay_slo1 (55000 ns), delay_slo2 (100000 ns), controller (projgrad), clock (virtual),
loglevel (INFO), outdir (/tmp). Writes OUTDIR/simple_pipeline_stats.png (control values,
flow delays, flow rates per round) and OUTDIR/simple_pipeline_stats.txt (CSV).
The same pipeline as a TOML config: configs/batchy/simple_pipeline.toml.
"""

import os

from portus.batchy import Batchy, Bypass, RandomSplit, get_arg, set_loglevel

rounds = get_arg("rounds", 40, int)
control_period = get_arg("control_period", 0.05, float)
delay_slo1 = get_arg("delay_slo1", 55_000, int)
delay_slo2 = get_arg("delay_slo2", 100_000, int)
controller = get_arg("controller", "projgrad", str)
outdir = get_arg("outdir", "/tmp", str)
set_loglevel(get_arg("loglevel", "INFO", str))

batchy = Batchy(clock=get_arg("clock", "virtual", str), warmup=0.1)

w0 = batchy.add_worker("w0")
t0 = w0.add_task("task0", type="RTC")
t0.set_controller(batchy.resolve_task_controller(controller))

splitter = t0.add_module(RandomSplit(name="splitter", gates=[0, 1]), type="ingress")
bp1 = t0.add_module(Bypass(name="bypass1", cycles_per_batch=1000, cycles_per_packet=100),
                    T_0=1000, T_1=100)
bp2 = t0.add_module(Bypass(name="bypass2", cycles_per_batch=1000, cycles_per_packet=100),
                    T_0=1000, T_1=100)
splitter.connect(bp1, ogate=0)
splitter.connect(bp2, ogate=1)

batchy.add_flow(name="flow1", path=[{"task": t0, "path": [splitter, bp1]}],
                delay_slo=delay_slo1,
                source_params={"templates": [{"dst_ip": "10.0.1.1"}]})
batchy.add_flow(name="flow2", path=[{"task": t0, "path": [splitter, bp2]}],
                delay_slo=delay_slo2,
                source_params={"templates": [{"dst_ip": "10.0.2.1"}]})

batchy.add_source()
batchy.add_sink()

batchy.run(rounds, control_period)

batchy.plot(os.path.join(outdir, "simple_pipeline_stats.png"))
batchy.dump(os.path.join(outdir, "simple_pipeline_stats.txt"))
print("Done.")
