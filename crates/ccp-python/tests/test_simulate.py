"""Python algorithms on the simulator (ccp-sim's CCP adapter, in-process): acceptance
figures, determinism, mixing with built-in algorithms, error paths, the CLI."""

import json
import os
import logging
import subprocess
import sys

import pytest

import portus
from conftest import EXAMPLES

sys.path.insert(0, str(EXAMPLES))
import aimd  # noqa: E402
import const  # noqa: E402
import reno  # noqa: E402


def test_python_aimd_fills_the_fixed_link():
    s = portus.simulate(aimd.Aimd(), scenario="fixed", duration=30, seed=1)
    assert s["scenario"] == "fixed" and s["duration_s"] == 30 and s["seed"] == 1
    assert [f["alg"] for f in s["flows"]] == ["aimd-py"]
    assert s["utilization"] >= 0.90, s["utilization"]
    assert s["flows"][0]["losses"] > 0, "AIMD probes until the queue overflows"


def test_python_reno_matches_rust_reno():
    py = portus.simulate(reno.Reno(), scenario="fixed", duration=30)
    rust = portus.simulate(reno.Reno(), scenario="fixed", duration=30, algorithms=["reno"])
    assert rust["flows"][0]["alg"] == "reno" and py["flows"][0]["alg"] == "reno-py"
    assert py["utilization"] >= 0.90
    tp, tr = py["flows"][0]["throughput_bps"], rust["flows"][0]["throughput_bps"]
    assert abs(tp - tr) <= 0.05 * tr, (tp, tr)


def test_runs_are_deterministic_and_seeded():
    a = portus.simulate(aimd.Aimd(), scenario="drop", duration=5, seed=7)
    b = portus.simulate(aimd.Aimd(), scenario="drop", duration=5, seed=7)
    c = portus.simulate(aimd.Aimd(), scenario="drop", duration=5, seed=8)
    assert a == b
    assert a != c


def test_mixing_with_built_in_algorithms_and_several_flows():
    s = portus.simulate(const.ConstRate(rate_mbps=20), scenario="fixed", duration=10,
                        algorithms=["const-py", "cubic"], flows=2)
    algs = [f["alg"] for f in s["flows"]]
    assert sorted(algs) == ["const-py", "const-py", "cubic", "cubic"]
    for f in s["flows"]:
        if f["alg"] == "const-py":
            # Paced at 20 Mbit/s (wire rate; payload a little less).
            assert 17e6 <= f["throughput_bps"] <= 21e6, f


def test_summary_has_the_cli_json_fields():
    s = portus.simulate(aimd.Aimd(), duration=2)
    for key in ["scenario", "seed", "duration_s", "link_capacity_bps", "utilization",
                "jain_index", "queue_delay_mean_ms", "queue_delay_p95_ms", "queue_drops",
                "events", "packets_sent", "flows"]:
        assert key in s, key
    for key in ["flow", "alg", "throughput_bps", "goodput_bps", "rtt_p50_ms", "losses"]:
        assert key in s["flows"][0], key


def test_callback_errors_are_logged_and_the_run_completes(caplog):
    caplog.set_level(logging.ERROR, logger="portus")

    class Failing(aimd.Aimd):
        def new_flow(self, datapath, datapath_info):
            flow = super().new_flow(datapath, datapath_info)
            calls = []

            def on_report(r):
                calls.append(1)
                if len(calls) == 3:
                    raise ZeroDivisionError("third report")
                aimd.AimdFlow.on_report(flow, r)

            flow.on_report = on_report
            return flow

    s = portus.simulate(Failing(), duration=10)
    assert s["utilization"] > 0.8
    assert "ZeroDivisionError: third report" in caplog.text


def test_install_is_refused_on_the_simulator():
    seen = []

    class Installer(aimd.Aimd):
        def new_flow(self, datapath, datapath_info):
            try:
                datapath.install(aimd.PROGRAM)
            except portus.DatapathError as e:
                seen.append(str(e))
            return super().new_flow(datapath, datapath_info)

    portus.simulate(Installer(), duration=1)
    assert seen and "not available on the simulator" in seen[0]


def test_error_paths():
    class Legacy(portus.AlgBase):
        def __init__(self, datapath, datapath_info):
            pass

        def on_report(self, r):
            pass

    with pytest.raises(TypeError, match="older API"):
        portus.simulate(Legacy)
    with pytest.raises(ValueError, match="unknown scenario"):
        portus.simulate(aimd.Aimd(), scenario="no-such-scenario")
    with pytest.raises(ValueError, match="duration"):
        portus.simulate(aimd.Aimd(), duration=0)
    with pytest.raises(ValueError, match="unknown controller"):
        portus.simulate(aimd.Aimd(), algorithms=["aimd-py", "nope"])

    class Broken(aimd.Aimd):
        def datapath_programs(self):
            return {"aimd": "(def (Report.x 0))\n(when true (:= Report.x (+ 1)))"}

    with pytest.raises(portus.CompileError, match=r"2:\d+: operator"):
        portus.simulate(Broken())


def test_python_m_portus_sim_runs_a_file(tmp_path):
    out = subprocess.run(
        [sys.executable, "-m", "portus", "sim", str(EXAMPLES / "aimd.py"), "--duration", "5",
         "--json"],
        capture_output=True, text=True, timeout=120, check=True,
    )
    s = json.loads(out.stdout)
    assert s["flows"][0]["alg"] == "aimd-py" and s["duration_s"] == 5
    table = subprocess.run(
        [sys.executable, "-m", "portus", "sim", str(EXAMPLES / "reno.py"), "--duration", "2"],
        capture_output=True, text=True, timeout=120, check=True,
    ).stdout
    assert "scenario fixed" in table and "reno-py" in table
    two = tmp_path / "two.py"
    two.write_text("import portus\nclass A(portus.AlgBase):\n    def new_flow(self, d, i): pass\n"
                   "class B(A):\n    pass\n")
    bad = subprocess.run([sys.executable, "-m", "portus", "sim", str(two)],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "expected exactly one AlgBase subclass" in bad.stderr


def test_scenario_file_keeps_its_algorithms_and_outputs_are_written(tmp_path):
    scenario = tmp_path / "two.toml"
    scenario.write_text(
        'name = "two"\nduration_s = 4.0\nseed = 3\n'
        '[link]\nrate_mbps = 48.0\ndelay_ms = 10.0\nqueue_packets = 100\n'
        '[[flow]]\nalg = "python"\n'
        '[[flow]]\nalg = "cubic"\nstart_s = 1.0\n'
    )
    out = tmp_path / "out"
    s = portus.simulate(reno.Reno(), scenario=str(scenario), duration=None, seed=None,
                        keep_algorithms=True, out=str(out))
    assert (s["scenario"], s["duration_s"], s["seed"]) == ("two", 4.0, 3)
    # "python" names the Python algorithm.
    assert [f["alg"] for f in s["flows"]] == ["python", "cubic"]
    assert s["flows"][0]["throughput_bps"] > 0
    assert s["flows"][1]["start_s"] == 1.0
    names = sorted(p.name for p in out.iterdir())
    assert "flows.csv" in names and "link.csv" in names
    assert any(n.endswith(".png") for n in names)
    # Without keep_algorithms every flow runs the Python algorithm.
    s = portus.simulate(reno.Reno(), scenario=str(scenario), duration=None, seed=None)
    assert [f["alg"] for f in s["flows"]] == ["reno-py", "reno-py"]


@pytest.mark.skipif(not os.environ.get("CCP_BIN"),
                    reason="needs the ccp binary (scripts/test-python sets CCP_BIN)")
def test_ccp_sim_python_gives_the_same_run_as_simulate(tmp_path):
    env = dict(os.environ, PYTHON=sys.executable)
    out = subprocess.run(
        [os.environ["CCP_BIN"], "sim", "--python", str(EXAMPLES / "aimd.py"), "--duration", "5",
         "--seed", "3", "--json"],
        capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path,
    )
    assert out.returncode == 0, out.stderr
    from_cli = json.loads(out.stdout)
    direct = portus.simulate(aimd.Aimd(), duration=5, seed=3, algorithms=["python"])
    assert from_cli == direct
    # Mixed with a built-in algorithm, table output, CSV/plots in --out.
    out = subprocess.run(
        [os.environ["CCP_BIN"], "sim", "--python", str(EXAMPLES / "reno.py"), "--alg", "python",
         "--alg", "cubic", "--duration", "2", "--out", str(tmp_path / "o")],
        capture_output=True, text=True, timeout=300, env=env,
    )
    assert out.returncode == 0, out.stderr
    assert "python" in out.stdout and "cubic" in out.stdout
    assert (tmp_path / "o" / "flows.csv").exists()
    bad = subprocess.run([os.environ["CCP_BIN"], "sim", "--python", str(EXAMPLES / "reno.py"),
                          "--alg", "nope", "--duration", "1"],
                         capture_output=True, text=True, timeout=300, env=env)
    assert bad.returncode == 2 and "nope" in bad.stderr
