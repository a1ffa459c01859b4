"""portus.batchy: the original Batchy's scripting API on the Rust engine.

All runs use the virtual clock (deterministic simulated time), so the same pipeline gives
the same rounds whichever way it is built."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
import threading

import pytest

from conftest import ROOT

from portus import batchy
from portus.batchy import Batchy, BatchyError, Bypass, RandomSplit

CONFIGS = ROOT / "configs" / "batchy"
SIMPLE_TOML = CONFIGS / "simple_pipeline.toml"
EXAMPLE = ROOT / "examples" / "batchy" / "simple_pipeline.py"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def simple_pipeline(slo1=55_000, slo2=100_000, controller="projgrad", limits=(None, None),
                    **settings):
    """Spec §5 / the README's simple pipeline, as configs/batchy/simple_pipeline.toml
    describes it (same names, order, templates and warm-up)."""
    bt = Batchy(clock="virtual", warmup=0.1, **settings)
    w0 = bt.add_worker("w0")
    t0 = w0.add_task("task0", controller=controller)
    sp = t0.add_module(RandomSplit(name="splitter", gates=2))
    nf1 = t0.add_module(Bypass(name="bypass1", cycles_per_batch=1000, cycles_per_packet=100),
                        T_0=1000, T_1=100)
    nf2 = t0.add_module("Bypass", "bypass2", cycles_per_batch=1000, cycles_per_packet=100,
                        T_0=1000, T_1=100)
    sp.connect(nf1, ogate=0)
    sp.connect(nf2, ogate=1)
    bt.add_flow(name="flow1", path=[{"task": t0, "path": [sp, nf1]}], delay_slo=slo1,
                source_params={"templates": [{"dst_ip": "10.0.1.1"}], "limit": limits[0]})
    bt.add_flow(name="flow2", path=[sp, nf2], delay_slo=slo2,
                source={"templates": [{"dst_ip": "10.0.2.1"}], "limit": limits[1]})
    return bt


def rounds_view(history):
    """Everything of the rounds except the controller's wall-clock dead time."""
    return [
        {
            "t": r["t"],
            "modules": r["modules"],
            "flows": r["flows"],
            "tasks": r["tasks"],
            "sum_fpps": r["sum_fpps"],
            "changed": r["changed"],
        }
        for r in history
    ]


def controls(history, module):
    return [next(m["control"] for m in r["modules"] if m["name"] == module) for r in history]


def flow_col(history, flow, key):
    return [next(f[key] for f in r["flows"] if f["name"] == flow) for r in history]


# -- behaviour -------------------------------------------------------------------------


def test_python_pipeline_runs_exactly_like_the_toml_config():
    py = simple_pipeline()
    assert [m.controlled for m in py._modules.values()] == [False, True, True]
    got = py.run(12, 0.05)

    toml = Batchy.from_toml(SIMPLE_TOML)
    assert (toml.rounds, toml.period) == (40, 0.05)
    want = toml.run(12, toml.period)

    assert len(got) == 12
    assert rounds_view(got) == rounds_view(want)
    # ... and the run is the README's: buffers pulled on in round 1, climbing to 32,
    # the SLOs met and throughput above the unbuffered first round.
    c1 = controls(got, "bypass1")
    assert c1[0] == 0 and 0 < c1[1] < 32 and c1[-1] == 32
    assert all(d <= 1.05 * 55_000 for d in flow_col(got, "flow1", "delay")[3:])
    assert got[-1]["round_fpps"] > 1.1 * got[0]["round_fpps"]


def test_null_controller_never_buffers_and_is_slower_than_projgrad():
    null = simple_pipeline(controller="null").run(8, 0.05)
    proj = simple_pipeline().run(8, 0.05)
    assert set(controls(null, "bypass1") + controls(null, "bypass2")) == {0}
    assert proj[-1]["round_fpps"] > null[-1]["round_fpps"]


def test_run_again_after_tightening_the_slo_continues_and_recovers():
    bt = simple_pipeline()
    first = bt.run(6, 0.05)
    assert controls(first, "bypass1")[-1] == 32
    f1 = bt.flow("flow1")
    f1.delay_slo = 17_000  # below the delay at q = 32
    second = bt.run(6, 0.05)
    assert [r["t"] for r in second] == list(range(6, 12))
    assert flow_col(second, "flow1", "delay_slo") == [17_000.0] * 6
    assert controls(second, "bypass1")[-1] < 32  # recovery lowered the trigger
    assert len(bt.history) == 12


def test_dump_has_the_cli_columns_and_one_row_per_round(tmp_path):
    bt = simple_pipeline()
    hist = bt.run(7, 0.05)
    out = tmp_path / "stats.txt"
    bt.dump(out)
    with open(out, newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 7
    for col in ("t", "bypass1:control", "bypass2:control", "bypass1:b_in", "flow1:delay",
                "flow2:delay", "flow1:pps", "task0:t_0", "sum_fpps", "ctrlr_deadtime"):
        assert col in rows[0], col
    assert "splitter:control" not in rows[0]  # uncontrolled modules have no columns
    assert [int(r["t"]) for r in rows] == list(range(7))
    assert [int(r["bypass1:control"]) for r in rows] == controls(hist, "bypass1")
    assert [float(r["flow1:delay"]) for r in rows] == flow_col(hist, "flow1", "delay")


@pytest.mark.skipif(not os.environ.get("CCP_BIN"),
                    reason="needs the ccp binary (scripts/test-python sets CCP_BIN)")
def test_dump_equals_the_ccp_batchy_run_dump(tmp_path):
    out = subprocess.run([os.environ["CCP_BIN"], "batchy", "run", str(SIMPLE_TOML),
                          "--rounds", "6", "--out", str(tmp_path)],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    bt = simple_pipeline()
    bt.run(6, 0.05)
    bt.dump(tmp_path / "py.csv")

    def table(p):
        with open(p, newline="") as f:
            rows = list(csv.reader(f))
        drop = rows[0].index("ctrlr_deadtime")
        return [r[:drop] + r[drop + 1:] for r in rows]

    assert table(tmp_path / "py.csv") == table(tmp_path / "simple_pipeline_stats.csv")


def test_plot_writes_a_png(tmp_path):
    bt = simple_pipeline()
    bt.run(4, 0.05)
    out = tmp_path / "stats.png"
    bt.plot(out)
    data = out.read_bytes()
    assert data[:8] == PNG_MAGIC
    width = int.from_bytes(data[16:20], "big")
    height = int.from_bytes(data[20:24], "big")
    assert width > 100 and height > 100


def test_explicit_sources_feed_only_their_flows_unless_add_source_fills_in():
    def offered(bt):
        return bt.run(3, 0.02)[-1]["tasks"][0]["task_pps"]

    def limited():  # flow1's source sends 100 kpps, flow2's 200 kpps
        return simple_pipeline(limits=(100_000, 200_000))

    only1 = limited()
    only1.add_source(["flow1"], burst_size=32)
    both = limited()
    both.add_source(both.flow("flow1"))
    both.add_source()  # the flows without a source get the default one
    default = limited()
    assert offered(only1) == pytest.approx(100_000, rel=0.05)
    assert offered(both) == pytest.approx(300_000, rel=0.05)
    assert offered(default) == pytest.approx(300_000, rel=0.05)


def test_run_releases_the_gil():
    bt = simple_pipeline()
    started = threading.Event()
    result = []

    def work():
        started.set()
        result.append(bt.run(40, 0.05))

    th = threading.Thread(target=work)
    th.start()
    started.wait()
    seen_running = False
    while th.is_alive():
        # Only observable if the engine runs without the GIL: the flag is set and
        # cleared inside run(), and this loop needs the GIL.
        if bt.running:
            seen_running = True
            with pytest.raises(BatchyError, match="running in another thread"):
                bt.dump("/nonexistent/never-written.csv")
            break
    th.join()
    assert seen_running
    assert len(result[0]) == 40 and not bt.running


def test_every_toml_config_loads():
    configs = sorted(CONFIGS.glob("*.toml"))
    assert len(configs) >= 5
    for p in configs:
        bt = Batchy.from_toml(p)
        assert bt.rounds > 0 and bt.period > 0, p


def test_settings_and_controlled_flags():
    bt = Batchy(clock="virtual", seed=7, burst_size=16)
    s = bt.settings
    assert (s["clock"], s["seed"], s["burst_size"]) == ("virtual", 7, 16)
    t = bt.add_worker().add_task("t")
    light = t.add_module(Bypass(), T_0=1000, T_1=100)  # batchiness 0.09: controlled
    heavy = t.add_module(Bypass(), T_0=100, T_1=1000)  # 0.91: not
    forced = t.add_module(Bypass(), T_0=100, T_1=1000, controlled=True)
    assert (light.name, heavy.name, forced.name) == ("bypass0", "bypass1", "bypass2")
    assert (light.controlled, heavy.controlled, forced.controlled) == (True, False, True)


def test_profile_supplies_service_times():
    bt = Batchy(profile={"Bypass": {"T_0": 1000, "T_1": 10}})
    t = bt.add_worker().add_task("t")
    assert t.add_module(Bypass()).controlled
    bt2 = Batchy(profile={"Bypass": {"T_0": 10, "T_1": 1000}})
    assert not bt2.add_worker().add_task("t").add_module(Bypass()).controlled
    with pytest.raises(BatchyError, match="profile entry 'Bypass'"):
        Batchy(profile={"Bypass": {"T0": 1}})


# -- errors ----------------------------------------------------------------------------


def one_task():
    bt = Batchy()
    return bt, bt.add_worker("w0").add_task("task0", controller="projgrad")


def test_errors_are_batchy_errors_and_value_errors():
    assert issubclass(BatchyError, ValueError)
    assert batchy.BatchyError is BatchyError


def test_bad_module_type():
    bt, t = one_task()
    with pytest.raises(BatchyError, match=r"module \"nf\": unknown variant `Bypas`, "
                                          r"expected one of `Bypass`"):
        t.add_module("Bypas", "nf")
    with pytest.raises(BatchyError, match=r"unknown field `cycles`"):
        t.add_module(Bypass(name="nf", cycles=3))
    with pytest.raises(BatchyError, match=r"missing field `gates`"):
        t.add_module(RandomSplit(name="sp"))
    with pytest.raises(BatchyError, match=r"type='egres'"):
        t.add_module(Bypass(name="nf"), type="egres")


def test_unknown_gate():
    bt, t = one_task()
    sp = t.add_module(RandomSplit(name="sp", gates=2))
    nf = t.add_module(Bypass(name="nf"))
    with pytest.raises(BatchyError, match=r"sp -> nf: unknown ogate 2 of \"sp\" "
                                          r"\(RandomSplit has 2 output gates: 0..=1\)"):
        sp.connect(nf, ogate=2)
    sink = t.add_module("Sink", "sink")
    with pytest.raises(BatchyError, match="Sink has no output gates"):
        sink.connect(nf)
    with pytest.raises(BatchyError, match="ogate must be a non-negative integer"):
        sp.connect(nf, ogate=-1)
    sp.connect(nf, ogate=1)
    with pytest.raises(BatchyError, match="ogate 1 is connected twice"):
        sp.connect("nf", ogate=1)
    with pytest.raises(BatchyError, match="unknown module 'nope'"):
        sp.connect("nope")


def test_cycle_is_reported_by_run():
    bt, t = one_task()
    a = t.add_module(Bypass(name="a"), T_0=1000, T_1=100)
    b = t.add_module(Bypass(name="b"), T_0=1000, T_1=100)
    m = t.add_module("Merge", "m")
    a.connect(b)
    b.connect(m)
    m.connect(a, igate=1)
    bt.add_flow("f", [a, b], delay_slo=50_000)
    with pytest.raises(BatchyError, match=r"cyclic graph in task \"task0\": "
                                          r"a -> b -> m -> a"):
        bt.run(1, 0.01)


def test_other_mistakes():
    bt, t = one_task()
    with pytest.raises(BatchyError, match="unknown task controller \"projgrd\""):
        t.set_controller("projgrd")
    with pytest.raises(BatchyError, match="unknown task controller"):
        bt.resolve_task_controller("nope")
    with pytest.raises(BatchyError, match="'WFQ' is not supported"):
        bt.workers[0].add_task("t2", type="WFQ")
    with pytest.raises(BatchyError, match="duplicate task name \"task0\""):
        bt.workers[0].add_task("task0")
    nf = t.add_module(Bypass(name="nf"))
    with pytest.raises(BatchyError, match="duplicate module name \"nf\""):
        t.add_module(Bypass(name="nf"))
    other = bt.workers[0].add_task("other")
    x = other.add_module(Bypass(name="x"))
    with pytest.raises(BatchyError, match="crosses tasks"):
        nf.connect(x)
    with pytest.raises(BatchyError, match="is in task 'other', not 'task0'"):
        bt.add_flow("f", [{"task": t, "path": [x]}])
    with pytest.raises(BatchyError, match=r"rate_slo: unknown field `pkt`"):
        bt.add_flow("f", [nf], rate_slo={"pkt": 1e6})
    with pytest.raises(BatchyError, match=r"source_params: unknown field `burst_size`"):
        bt.add_flow("f", [nf], source_params={"burst_size": 4})
    with pytest.raises(BatchyError, match="bad IPv4"):
        bt.add_flow("f", [nf], source_params={"templates": [{"dst_ip": "10.0.0"}]})
    with pytest.raises(BatchyError, match="pipeline has no flow"):
        bt.run(1, 0.01)
    with pytest.raises(BatchyError, match="control period must be a positive"):
        bt.run(1, 0.0)
    with pytest.raises(BatchyError, match="settings: unknown variant `wall`"):
        Batchy(clock="wall")


@pytest.mark.parametrize("mistake,toml_edit", [
    ("module type", ('type = "Bypass"', 'type = "Bypas"')),
    ("gate", ('from = "splitter:1"', 'from = "splitter:2"')),
    ("controller", ('controller = "projgrad"', 'controller = "projgrd"')),
])
def test_python_errors_read_like_the_cli_errors(tmp_path, mistake, toml_edit):
    """The same mistake in a TOML config and in Python: the TOML error message (what
    `ccp batchy run` prints) contains the Python one."""
    bt, t = one_task()
    if mistake == "module type":
        with pytest.raises(BatchyError) as py:
            t.add_module("Bypas", "bypass1")
    elif mistake == "gate":
        sp = t.add_module(RandomSplit(name="splitter", gates=2))
        nf = t.add_module(Bypass(name="bypass2"))
        with pytest.raises(BatchyError) as py:
            sp.connect(nf, ogate=2)
    else:
        with pytest.raises(BatchyError) as py:
            t.set_controller("projgrd")
    text = SIMPLE_TOML.read_text()
    assert toml_edit[0] in text
    bad = tmp_path / "bad.toml"
    bad.write_text(text.replace(toml_edit[0], toml_edit[1], 1))
    with pytest.raises(BatchyError) as cli:
        Batchy.from_toml(bad)
    core = str(py.value).split(": ", 1)[1] if mistake == "module type" else str(py.value)
    core = core.replace('task "task0": ', "")
    assert core in str(cli.value)


# -- scripts ---------------------------------------------------------------------------


def test_readme_example_script(tmp_path):
    out = subprocess.run(
        [sys.executable, str(EXAMPLE), f"rounds=5,control_period=0.05,outdir={tmp_path}"],
        capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "PULLING" in out.stderr and "CONTROL ROUND: 5" in out.stderr
    assert (tmp_path / "simple_pipeline_stats.png").read_bytes()[:8] == PNG_MAGIC
    with open(tmp_path / "simple_pipeline_stats.txt", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 5
    assert {r["flow1:delay_slo"] for r in rows} == {"55000.0"}
    # the same rounds as the pipeline built here
    ref = simple_pipeline().run(5, 0.05)
    assert [int(r["bypass2:control"]) for r in rows] == controls(ref, "bypass2")


def test_original_style_script_runs_under_the_runner(tmp_path):
    script = tmp_path / "tiny.batchy"
    script.write_text(
        "rounds = get_arg('rounds', 10, int)\n"
        "w = batchy.add_worker('w0')\n"
        "t = w.add_task('task0', type='RTC')\n"
        "w.set_task_controller(batchy.resolve_task_controller('max'))\n"
        "sp = t.add_module(RandomSplit(name='sp', gates=[0, 1]))\n"
        "a = t.add_module(Bypass(name='a'), T_0=500, T_1=50)\n"
        "b = t.add_module(Bypass(name='b'), T_0=500, T_1=50)\n"
        "sp.connect(a, ogate=0); sp.connect(b, ogate=1)\n"
        "batchy.add_flow(name='fa', path=[{'task': t, 'path': [sp, a]}])\n"
        "batchy.add_flow(name='fb', path=[{'task': t, 'path': [sp, b]}])\n"
        "batchy.add_source(); batchy.add_sink()\n"
        "batchy.run(rounds, 0.02)\n"
        f"batchy.dump({str(tmp_path / 'out.csv')!r})\n")
    out = subprocess.run([sys.executable, "-m", "portus.batchy", str(script), "rounds=3"],
                         capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    with open(tmp_path / "out.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 3
    assert {r["a:control"] for r in rows} == {"32"}  # 'max' set through the worker

    script.write_text("batchy.add_worker('w').add_task('t').add_module('Nope')\n")
    bad = subprocess.run([sys.executable, "-m", "portus.batchy", str(script)],
                         capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert bad.returncode == 2
    assert "batchy: error: module \"nope0\": unknown variant `Nope`" in bad.stderr
