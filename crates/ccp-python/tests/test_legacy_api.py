"""The older API of the pyportus README: connect(ipc, cls), one object per flow,
datapath.install(program_text) and update_field."""

import logging
import os
import signal
import subprocess
import sys
import time

import pytest

import portus
from conftest import FIXTURES, drive, settle, unique_name
from portus.testing import MockDatapath

RTT_PROGRAM = """(def (Report.rtt 0) (Report.acked 0))
(when true
    (:= Report.rtt Flow.rtt_sample_us)
    (:= Report.acked (+ Report.acked Ack.bytes_acked))
    (fallthrough))
(when (> Micros Flow.rtt_sample_us)
    (report)
    (:= Micros 0))"""

ACK_PROGRAM = """(def (Report.acked 0) (Report.lost 0))
(when true
    (:= Report.acked (+ Report.acked Ack.bytes_acked))
    (:= Report.lost (+ Report.lost Ack.lost_pkts_sample))
    (report))"""

EVENTS = []


class Legacy(portus.AlgBase):
    def __init__(self, datapath, datapath_info):
        self.datapath = datapath
        self.info = datapath_info
        self.cwnd = 10 * datapath_info.mss
        self.reports = []
        EVENTS.append(("init", datapath_info.sock_id))
        self.datapath.install(RTT_PROGRAM)

    def on_create(self):
        EVENTS.append(("create", self.info.sock_id))
        self.datapath.update_field("Cwnd", self.cwnd)

    def on_report(self, r):
        self.reports.append((r.rtt, r.acked, r.Cwnd, r.program_name))
        self.cwnd += self.info.mss
        self.datapath.update_field("Cwnd", self.cwnd)


@pytest.fixture(autouse=True)
def _clear_events():
    EVENTS.clear()
    yield
    EVENTS.clear()


def flows_of(cls):
    return [o for o in LIVE if isinstance(o, cls)]


LIVE = []


class Tracked(Legacy):
    def __init__(self, datapath, datapath_info):
        super().__init__(datapath, datapath_info)
        LIVE.append(self)


def test_per_flow_objects_install_and_update(run_agent, mock_dp):
    LIVE.clear()
    agent = run_agent(Tracked)
    dp = mock_dp()
    s1 = dp.create(mss=1000)
    s2 = dp.create(mss=1000)
    # CHANGE_PROG and on_create's UPDATE_FIELDS for both flows.
    dp.wait_until(lambda: dp.stats()["change_progs"] == 2 and dp.stats()["updates"] == 2)
    assert EVENTS == [("init", s1), ("create", s1), ("init", s2), ("create", s2)]
    # The placeholder program (uid 1, announces a new agent) and the installed program,
    # sent once for both flows.
    assert dp.stats()["installs"] == 2
    drive(dp, s1, 40, rtt_us=10_000)
    drive(dp, s2, 40, rtt_us=10_000)
    f1, f2 = LIVE
    assert len(f1.reports) >= 3 and len(f2.reports) >= 3
    rtt, acked, cwnd, pname = f1.reports[0]
    assert rtt == 10_000 and acked > 0 and pname is None
    # The window set in on_create, then +1 MSS per report (seen through r.Cwnd).
    assert [r[2] for r in f1.reports[:3]] == [10_000, 11_000, 12_000]
    settle(dp, s1, lambda: dp.cwnd(s1) == f1.cwnd)
    assert dp.program_uid(s1) == 2 == dp.program_uid(s2)
    dp.close(s1)
    dp.close(s2)
    stats = agent.stop()
    assert stats["flows_closed"] == 2
    assert stats["programs_installed"] == 1
    assert stats["reports"] == len(f1.reports) + len(f2.reports)


def test_install_of_a_new_program_switches_the_flow(run_agent, mock_dp):
    class Switcher(Legacy):
        def on_report(self, r):
            self.reports.append(dict(r.as_dict()))
            if len(self.reports) == 2:
                self.datapath.install(ACK_PROGRAM, [("Cwnd", 20_000)])
            LIVE.append(self) if self not in LIVE else None

    LIVE.clear()
    agent = run_agent(Switcher)
    dp = mock_dp()
    sid = dp.create(mss=1000)
    dp.wait_until(lambda: dp.stats()["change_progs"] == 1)
    drive(dp, sid, 30, answered=False)
    dp.wait_until(lambda: dp.stats()["change_progs"] == 2)
    drive(dp, sid, 5, answered=False)
    flow = LIVE[0]
    dp.wait_until(lambda: any("lost" in r for r in flow.reports))
    kinds = [("lost" in r) for r in flow.reports]
    # Two reports of the first program, then only reports of the second.
    assert kinds[:2] == [False, False] and all(kinds[2:]) and len(kinds) > 2
    assert dp.program_uid(sid) == 3
    assert dp.cwnd(sid) == 20_000
    assert dp.stats()["installs"] == 3
    agent.stop()


def test_program_that_does_not_compile_raises_compile_error_in_init(run_agent, mock_dp, caplog):
    caplog.set_level(logging.ERROR, logger="portus")
    seen = []

    class BadProgram(portus.AlgBase):
        def __init__(self, datapath, datapath_info):
            try:
                datapath.install("(def (Report.rtt 0))\n(when true\n    (:= Report.rtt (+ Flow.rtt_sample_us))\n)")
            except portus.CompileError as e:
                seen.append(str(e))
                raise

        def on_report(self, r):
            pass

    agent = run_agent(BadProgram)
    dp = mock_dp()
    dp.create()
    dp.wait_until(lambda: bool(seen) and "BadProgram.__init__/on_create" in caplog.text)
    assert seen[0].startswith("3:20: operator `+` takes exactly 2 operands"), seen
    assert agent.running
    assert agent.stop()["callback_errors"] == 1


def test_on_create_errors_are_logged_and_the_flow_still_reports(run_agent, mock_dp, caplog):
    caplog.set_level(logging.ERROR, logger="portus")

    class BadCreate(Tracked):
        def on_create(self):
            raise ValueError("on_create failed")

    LIVE.clear()
    agent = run_agent(BadCreate)
    dp = mock_dp()
    sid = dp.create()
    dp.wait_until(lambda: dp.stats()["change_progs"] == 1)
    drive(dp, sid, 30)
    assert len(LIVE[0].reports) >= 2
    assert "BadCreate.on_create (flow 1) raised an exception (the flow keeps running)" in caplog.text
    assert "on_create failed" in caplog.text
    agent.stop()


def _wait_for_path(path, proc, timeout=30.0):
    deadline = time.monotonic() + timeout
    while not os.path.exists(path):
        if proc.poll() is not None:
            raise AssertionError(f"agent exited early with {proc.returncode}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"{path} did not appear")
        time.sleep(0.01)


def test_readme_sample_runs_as_written(tmp_path):
    name = unique_name("readme")
    sock = f"/tmp/ccp/{name}"
    log = tmp_path / "agent.log"
    env = dict(os.environ, PORTUS_AGENT_NAME=name)
    with open(log, "wb") as err:
        proc = subprocess.Popen([sys.executable, str(FIXTURES / "readme_sample.py")],
                                stdout=subprocess.DEVNULL, stderr=err, env=env)
    try:
        _wait_for_path(sock, proc)
        dp = MockDatapath(agent=name)
        sid = dp.create(mss=1460)
        dp.wait_until(lambda: dp.stats()["change_progs"] == 1)
        assert dp.stats()["installs"] == 2
        outcomes = drive(dp, sid, 30, rtt_us=5_000, answered=False)
        assert outcomes.count("reported") >= 10
        dp.close(sid)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise
    text = log.read_text()
    assert code == 0, text
    # Every report raised AttributeError (self.last_rtt is never set); logged with the
    # traceback, and the agent kept going until SIGTERM.
    assert "SampleCCAlg.on_report (flow 1) raised an exception (the flow keeps running)" in text
    assert "AttributeError" in text and "last_rtt" in text and "Traceback" in text
    # debug=True: messages are logged.
    assert "received" in text and "sending" in text
    assert not os.path.exists(sock), "socket removed on exit"
