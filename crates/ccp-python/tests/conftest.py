"""Shared fixtures: unique agent names, a background agent, a mock datapath."""

from __future__ import annotations

import itertools
import os
import pathlib
import sys

import pytest

import portus
from portus.testing import MockDatapath

ROOT = pathlib.Path(__file__).resolve().parents[3]
EXAMPLES = ROOT / "examples" / "python"
FIXTURES = pathlib.Path(__file__).resolve().parent / "fixtures"

_counter = itertools.count()


def unique_name(tag: str = "t") -> str:
    return f"pytest-{os.getpid()}-{tag}-{next(_counter)}"


@pytest.fixture
def agent_name() -> str:
    return unique_name()


@pytest.fixture
def run_agent(agent_name):
    """Start an agent in a background thread; stop it (if still running) after the test."""
    started = []

    def start(alg, **kw):
        a = portus.spawn("unix", alg, name=agent_name, **kw)
        started.append(a)
        return a

    yield start
    for a in started:
        if a.running:
            a.stop()


@pytest.fixture
def mock_dp(agent_name):
    made = []

    def make(**kw):
        dp = MockDatapath(agent=agent_name, **kw)
        made.append(dp)
        return dp

    yield make


def drive(dp, sid, acks, *, every_us=1000, rtt_us=10_000, bytes_acked=1460, lost_at=(),
          answered=True, timeout=5.0):
    """Send ``acks`` ACKs (virtual clock +``every_us`` each) and handle the agent's answers
    after each. With ``answered`` (the algorithm answers every report), an ACK that
    produces a report waits (up to ``timeout``) for the answer, so the sequence is
    deterministic — provided no other message of the agent is still in flight when
    ``drive`` starts (wait for the set-up messages first)."""
    outcomes = []
    for i in range(acks):
        before = dp.stats()["msgs_received"]
        out = dp.ack(sid, bytes_acked=bytes_acked, rtt_us=rtt_us,
                     lost=1 if i in lost_at else 0, advance_us=every_us)
        outcomes.append(out)
        if out == "reported" and answered:
            dp.wait_until(lambda: dp.stats()["msgs_received"] > before, timeout)
        else:
            dp.poll()
    return outcomes


def settle(dp, sid, condition, timeout=5.0):
    """Updates apply on the next ACK (libccp semantics): handle the agent's messages and
    ACK until ``condition()`` holds."""

    def check():
        dp.ack(sid, bytes_acked=0)
        return condition()

    dp.wait_until(check, timeout)


sys.path.insert(0, str(EXAMPLES))
