"""Testing helpers: a datapath you drive by hand.

:class:`MockDatapath` is the project's datapath library (the Rust equivalent of libccp)
on a unix socket, with a virtual clock: create connections, feed them ACKs, and watch
the window and rate the agent sets. It lets you test an algorithm against the real
agent without a kernel datapath::

    agent = portus.spawn("unix", MyAlg(), name="test-agent")
    dp = MockDatapath(agent="test-agent")
    sid = dp.create(mss=1460)
    dp.wait_until(lambda: dp.program_uid(sid) is not None)
    for _ in range(100):
        dp.ack(sid, bytes_acked=1460, rtt_us=10_000, advance_us=1_000)
        dp.poll()
    print(dp.cwnd(sid))
    dp.close(sid)
    agent.stop()
"""

from __future__ import annotations

import time
from typing import Callable

from ._native import MockDatapath as _MockDatapath

__all__ = ["MockDatapath"]


class MockDatapath(_MockDatapath):
    """See the module documentation. ``agent`` is the agent's name (``/tmp/ccp/<name>``)
    or socket path."""

    def wait_until(self, condition: Callable[[], bool], timeout: float = 10.0) -> None:
        """Handle the agent's messages until ``condition()`` holds; ``TimeoutError`` if it
        does not within ``timeout`` seconds (a safety net, not a delay: returns as soon as
        the condition holds)."""
        deadline = time.monotonic() + timeout
        while not condition():
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"condition not met within {timeout} s")
            self.poll(min(left, 0.05))

    def __enter__(self) -> MockDatapath:
        return self

    def __exit__(self, *exc) -> None:
        pass
