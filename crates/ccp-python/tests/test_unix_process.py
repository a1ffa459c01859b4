"""Acceptance: a Python algorithm started with start("unix", alg) in its own process
steers our datapath library (here in the test process) through a full flow lifetime,
and Ctrl-C / SIGTERM stop it cleanly."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from conftest import EXAMPLES, settle, unique_name
from portus.testing import MockDatapath

MSS = 1000


def start_example(script, name, log):
    with open(log, "wb") as err:
        proc = subprocess.Popen([sys.executable, str(EXAMPLES / script), "--name", name],
                                stdout=subprocess.DEVNULL, stderr=err)
    sock = f"/tmp/ccp/{name}"
    deadline = time.monotonic() + 30
    while not os.path.exists(sock):
        if proc.poll() is not None:
            raise AssertionError(f"agent exited early: {log.read_text()}")
        if time.monotonic() > deadline:
            proc.kill()
            raise TimeoutError(f"{sock} did not appear")
        time.sleep(0.01)
    return proc, sock


def stop(proc, sig):
    proc.send_signal(sig)
    try:
        return proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise


def one_rtt(dp, sid, *, rtt_us=10_000, acks=10):
    """ACKs spread over an RTT until the program reports (once per RTT)."""
    for _ in range(10 * acks):
        out = dp.ack(sid, bytes_acked=MSS, rtt_us=rtt_us, advance_us=rtt_us // acks + 1)
        dp.poll()
        if out == "reported":
            return
    raise AssertionError("no report")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_aimd_agent_process_steers_a_flow_through_its_lifetime(tmp_path, sig):
    name = unique_name("aimd")
    log = tmp_path / "agent.log"
    proc, sock = start_example("aimd.py", name, log)
    try:
        dp = MockDatapath(agent=name)
        sid = dp.create(mss=MSS, init_cwnd=10 * MSS)
        dp.wait_until(lambda: dp.stats()["change_progs"] == 1)
        # Slow start: the window grows by the acked bytes every RTT.
        grown = []
        for _ in range(5):
            before = dp.stats()["updates"]
            one_rtt(dp, sid)
            dp.wait_until(lambda: dp.stats()["updates"] > before)
            settle(dp, sid, lambda: dp.cwnd(sid) not in grown[-1:])
            grown.append(dp.cwnd(sid))
        assert grown == sorted(grown) and len(set(grown)) == 5, grown
        assert grown[-1] >= 10 * MSS + 40 * MSS
        # A loss halves the window (reported at once).
        peak = dp.cwnd(sid)
        before = dp.stats()["updates"]
        dp.ack(sid, bytes_acked=MSS, lost=1, advance_us=100)
        dp.wait_until(lambda: dp.stats()["updates"] > before)
        settle(dp, sid, lambda: dp.cwnd(sid) == peak // 2)
        # Then additive increase: about one MSS per RTT.
        half = dp.cwnd(sid)
        for _ in range(4):
            before = dp.stats()["updates"]
            one_rtt(dp, sid, rtt_us=20_000, acks=half // MSS)
            dp.wait_until(lambda: dp.stats()["updates"] > before)
        settle(dp, sid, lambda: dp.cwnd(sid) >= half + 3 * MSS)
        assert dp.cwnd(sid) <= half + 5 * MSS
        assert not dp.in_fallback
        dp.close(sid)
    finally:
        code = stop(proc, sig)
    text = log.read_text()
    assert code == 0, text
    assert not os.path.exists(sock)
    line = [ln for ln in text.splitlines() if ln.startswith("stopped: ")]
    assert line, text
    stats = json.loads(line[0][len("stopped: "):])
    assert stats["stopped_by"] == ("SIGTERM" if sig == signal.SIGTERM else "SIGINT")
    assert stats["flows_created"] == 1 and stats["flows_closed"] == 1
    assert stats["reports"] >= 10 and stats["callback_errors"] == 0
    assert "Traceback" not in text
