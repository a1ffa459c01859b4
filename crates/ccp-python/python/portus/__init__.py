"""portus: congestion control in Python on the CCP agent.

Write an algorithm as a Python class, run it on any CCP datapath (a user-space datapath
over a unix socket, the Linux kernel over netlink) with :func:`start`, or on the
``ccp-sim`` simulator with :func:`simulate`.

Current API (pyportus 0.6)::

    class Aimd(portus.AlgBase):
        def datapath_programs(self):
            return {"default": "(def (Report (volatile acked 0)) ...) (when ...)"}

        def new_flow(self, datapath, datapath_info):
            return AimdFlow(datapath, datapath_info)

    class AimdFlow:
        def __init__(self, datapath, info): ...
        def on_report(self, r): ...        # r.acked, r.Cwnd, ...
        def close(self): ...               # optional

    portus.start("unix", Aimd())

Older API (the pyportus README): one instance of a class per flow::

    class Sample(portus.AlgBase):
        def __init__(self, datapath, datapath_info): datapath.install("(def ...)")
        def on_create(self): ...           # optional
        def on_report(self, r): ...

    portus.connect("unix", Sample, debug=True, blocking=True)
"""

from __future__ import annotations

import contextlib
import inspect
import json
import os
import signal
import threading
from collections.abc import Mapping
from typing import Any

from . import _native, testing, util
from ._native import (
    CompileError,
    Datapath,
    DatapathError,
    DatapathInfo,
    PortusError,
    Report,
)

__version__ = _native.__version__

__all__ = [
    "AlgBase",
    "AgentThread",
    "CompileError",
    "Datapath",
    "DatapathError",
    "DatapathInfo",
    "PortusError",
    "Report",
    "connect",
    "load_algorithm",
    "simulate",
    "spawn",
    "start",
    "try_compile",
]


class AlgBase:
    """Base class of congestion-control algorithms.

    **Current API** — one instance for the whole agent; define

    * ``datapath_programs(self)`` → ``{name: program_source}``, compiled when the agent
      starts (a program that does not compile raises :class:`CompileError` with
      ``LINE:COL: message``);
    * ``new_flow(self, datapath, datapath_info)`` → an object with ``on_report(self, r)``
      and optionally ``close(self)``, one per connection.

    Start it with ``portus.start("unix", MyAlg())``.

    **Older API** — one instance *per connection*: define ``__init__(self, datapath,
    datapath_info)`` (install a program there with ``datapath.install(src)``), optionally
    ``on_create(self)``, and ``on_report(self, r)``. Start it with
    ``portus.connect("unix", MyAlg)``.
    """

    #: Name matched against the algorithm a datapath requests (any request is served by
    #: this algorithm, which is the agent's default).
    name = "python"


def try_compile(src: str) -> str:
    """``""`` if the datapath program ``src`` compiles, else the error
    (``LINE:COL: message``, the source line and a caret)."""
    return _native.try_compile(src)


# -- checks ----------------------------------------------------------------------------


def _describe(obj: Any) -> str:
    return obj.__name__ if isinstance(obj, type) else type(obj).__name__


def _check_method(owner: Any, method: str, params: tuple[str, ...], *, required: bool = True,
                  unbound: bool = False) -> None:
    """Check with :func:`inspect.signature` that ``owner.method`` can be called with the
    given positional parameters (``self`` excluded)."""
    cls = _describe(owner)
    wanted = f"{method}(self{''.join(', ' + p for p in params)})"
    fn = inspect.getattr_static(owner, method, None)
    if fn is None:
        if required:
            raise TypeError(f"{cls} must define {wanted}")
        return
    fn = getattr(owner, method)
    if not callable(fn):
        raise TypeError(f"{cls}.{method} must be a method {wanted}, not {type(fn).__name__}")
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):  # a builtin without a signature: cannot check
        return
    args = [None] * (len(params) + (1 if unbound else 0))
    try:
        sig.bind(*args)
    except TypeError:
        shown = f"{method}{sig}"
        raise TypeError(
            f"{cls}.{method} has the wrong signature: expected {wanted}, found {shown}"
        ) from None


def _programs_of(alg: Any) -> dict[str, str]:
    cls = _describe(alg)
    programs = alg.datapath_programs()
    if not isinstance(programs, Mapping):
        raise TypeError(
            f"{cls}.datapath_programs() must return a dict {{name: program source}}, "
            f"got {type(programs).__name__}"
        )
    out: dict[str, str] = {}
    for name, src in programs.items():
        if not isinstance(name, str) or not isinstance(src, str):
            raise TypeError(
                f"{cls}.datapath_programs(): names and programs must be str, got "
                f"{type(name).__name__} -> {type(src).__name__}"
            )
        err = _native.try_compile(src)
        if err:
            raise CompileError(f"{cls}.datapath_programs(): program {name!r}: {err}")
        out[name] = src
    return out


def _prepare_current(alg: Any) -> dict[str, str]:
    if isinstance(alg, type):
        raise TypeError(
            f"start() takes an algorithm instance, e.g. start('unix', {alg.__name__}()); "
            "for a class instantiated per flow (the older API) use connect()"
        )
    _check_method(alg, "datapath_programs", ())
    _check_method(alg, "new_flow", ("datapath", "datapath_info"))
    return _programs_of(alg)


def _prepare_legacy(cls: Any) -> None:
    if not isinstance(cls, type):
        raise TypeError(
            f"connect() takes the per-flow class itself (connect('unix', MyAlg)), got an "
            f"instance of {type(cls).__name__}; for an algorithm instance use start()"
        )
    try:
        sig = inspect.signature(cls)
    except (TypeError, ValueError):
        sig = None
    if sig is not None:
        try:
            sig.bind(None, None)
        except TypeError:
            raise TypeError(
                f"{cls.__name__}.__init__ has the wrong signature: expected "
                f"__init__(self, datapath, datapath_info), found __init__{sig}"
            ) from None
    _check_method(cls, "on_report", ("r",), unbound=True)
    _check_method(cls, "on_create", (), required=False, unbound=True)


def _agent_name(name: str | None) -> str:
    """``name``, else ``$PORTUS_AGENT_NAME``, else ``"portus"`` (socket ``/tmp/ccp/portus``)."""
    if name:
        return name
    return os.environ.get("PORTUS_AGENT_NAME") or "portus"


def _alg_name(alg: Any) -> str:
    name = getattr(alg, "name", "python")
    return name if isinstance(name, str) and name else "python"


@contextlib.contextmanager
def _stop_on_sigterm():
    """While the agent runs in the main thread, SIGTERM stops it cleanly (like Ctrl-C)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        raise _native.AgentStopped("SIGTERM")

    try:
        previous = signal.signal(signal.SIGTERM, handler)
    except (ValueError, OSError):
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


# -- running ---------------------------------------------------------------------------


def start(ipc: str, alg: AlgBase, *, name: str | None = None, debug: bool = False) -> dict:
    """Run the agent with algorithm instance ``alg`` until Ctrl-C or SIGTERM.

    ``ipc``: ``"unix"`` (binds ``/tmp/ccp/<name>``; ``name`` defaults to
    ``$PORTUS_AGENT_NAME`` or ``"portus"``, and a ``name`` containing ``/`` is used as the
    socket path) or ``"netlink"`` (the Linux kernel datapath). On Ctrl-C/SIGTERM every flow's ``close()`` runs, the socket is
    removed and a dict of counters is returned. ``debug=True`` logs every message.
    """
    programs = _prepare_current(alg)
    with _stop_on_sigterm():
        return _native.run_agent(
            ipc, alg, programs, legacy=False, alg_name=_alg_name(alg), name=_agent_name(name),
            debug=debug,
        )


def connect(ipc_type: str, cls: type, debug: bool = False, blocking: bool = True, *,
            name: str | None = None) -> dict:
    """The older pyportus entry point: run the agent with ``cls`` instantiated per flow as
    ``cls(datapath, datapath_info)``, then ``on_create()`` if defined.

    Blocks until Ctrl-C or SIGTERM, like :func:`start`. ``blocking`` is accepted for
    compatibility: the agent always waits for messages with a short poll interval, so both
    values behave the same. ``debug=True`` logs every message.
    """
    del blocking  # see the docstring
    _prepare_legacy(cls)
    with _stop_on_sigterm():
        return _native.run_agent(
            ipc_type, cls, {}, legacy=True, alg_name=_alg_name(cls), name=_agent_name(name),
            debug=debug,
        )


class AgentThread:
    """An agent running in a background thread (:func:`spawn`). ``stop()`` ends it and
    returns its counters; also a context manager."""

    def __init__(self, ipc: str, target: Any, programs: dict[str, str], legacy: bool,
                 name: str, debug: bool):
        self.name = name
        self._stop = _native.StopFlag()
        self._ready = threading.Event()
        self._result: dict | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(
            target=self._run,
            args=(ipc, target, programs, legacy, name, debug),
            name=f"portus-agent-{name}",
            daemon=True,
        )
        self._thread.start()
        self._ready.wait()
        if self._error is not None:
            self._thread.join()
            raise self._error

    def _run(self, ipc, target, programs, legacy, name, debug):
        try:
            self._result = _native.run_agent(
                ipc, target, programs, legacy=legacy, alg_name=_alg_name(target), name=name,
                debug=debug, stop=self._stop, on_ready=self._ready.set,
            )
        except BaseException as e:  # noqa: BLE001 - handed to the caller
            self._error = e
        finally:
            self._ready.set()

    @property
    def running(self) -> bool:
        """Whether the agent loop is still running."""
        return self._thread.is_alive()

    def stop(self, timeout: float | None = 10.0) -> dict:
        """Stop the agent (every flow's ``close()`` runs) and return its counters."""
        self._stop.set()
        self._thread.join(timeout)
        if self._thread.is_alive():
            raise TimeoutError(f"the agent thread did not stop within {timeout} s")
        if self._error is not None:
            raise self._error
        assert self._result is not None
        return self._result

    def __enter__(self) -> AgentThread:
        return self

    def __exit__(self, *exc) -> None:
        if self._thread.is_alive():
            self.stop()


def spawn(ipc: str, alg: Any, *, name: str | None = None, debug: bool = False) -> AgentThread:
    """Like :func:`start` (an algorithm instance) or :func:`connect` (a per-flow class),
    but in a background thread; returns once the agent listens. Ctrl-C does not reach it:
    call ``stop()``."""
    name = _agent_name(name)
    if isinstance(alg, type):
        _prepare_legacy(alg)
        return AgentThread(ipc, alg, {}, True, name, debug)
    programs = _prepare_current(alg)
    return AgentThread(ipc, alg, programs, False, name, debug)


def simulate(alg: Any, scenario: str = "fixed", duration: float | None = 60.0,
             seed: int | None = 1, *, algorithms: list[str] | None = None,
             flows: int | None = None, keep_algorithms: bool = False,
             out: str | None = None, print_table: bool = False) -> dict:
    """Run ``alg`` on the ``ccp-sim`` simulator, in-process and deterministic, and return
    the run's summary as a dict (the fields of ``ccp sim --json``: ``utilization``,
    ``jain_index``, ``queue_delay_*``, ``flows`` with per-flow ``throughput_bps`` …).

    ``alg``: an algorithm instance of the current API. ``scenario``: a built-in scenario
    (``fixed``, ``cell``, ``drop``, ``bbr-demo``) or a scenario TOML file; its flows all
    run ``alg`` unless ``algorithms`` lists one algorithm per flow, or ``keep_algorithms``
    keeps the scenario's own (``alg.name`` or ``"python"`` name this algorithm; other names
    are built-ins such as ``"reno"``, ``"cubic"``, ``"native-reno"``). ``flows`` repeats
    each flow; ``duration``/``seed`` ``None`` keep the scenario's. ``out``: a directory for
    the CSV time series and PNG plots. ``print_table`` prints the summary table. Datapath
    programs run in the simulator's datapath library, callbacks in this thread.
    """
    text, table, _written, _wall = _simulate(alg, scenario, duration, seed, algorithms,
                                             flows, keep_algorithms, out)
    if print_table:
        print(table, end="")
    return json.loads(text)


def _simulate(alg, scenario, duration, seed, algorithms, flows, keep_algorithms, out):
    if isinstance(alg, type):
        raise TypeError(
            "simulate() takes an algorithm instance of the current API (an AlgBase with "
            "datapath_programs() and new_flow()); the per-flow classes of the older API "
            "install programs at run time, which the simulator's in-process agent does not "
            "support"
        )
    programs = _prepare_current(alg)
    return _native.simulate(
        alg, programs, alg_name=_alg_name(alg), scenario=str(scenario),
        duration=None if duration is None else float(duration),
        seed=None if seed is None else int(seed),
        algorithms=list(algorithms) if algorithms is not None else None, flows=flows,
        keep_algorithms=keep_algorithms, out=None if out is None else os.fspath(out),
    )


def load_algorithm(path: str) -> AlgBase:
    """The algorithm a Python file defines: its ``ALGORITHM`` (an instance, or a class
    instantiated without arguments), else its only ``AlgBase`` subclass with
    ``new_flow``, instantiated without arguments. The file is imported as a module (code
    under ``if __name__ == "__main__":`` does not run)."""
    import importlib.util
    import sys

    file = os.path.abspath(path)
    spec = importlib.util.spec_from_file_location(
        "portus_user_algorithm", file, submodule_search_locations=None
    )
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, os.path.dirname(file))
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(os.path.dirname(file))
    chosen = getattr(module, "ALGORITHM", None)
    if chosen is None:
        found = [
            v for v in vars(module).values()
            if isinstance(v, type) and issubclass(v, AlgBase) and v is not AlgBase
            and v.__module__ == module.__name__ and callable(getattr(v, "new_flow", None))
        ]
        if len(found) != 1:
            names = ", ".join(c.__name__ for c in found) or "none"
            raise ValueError(
                f"{path}: expected exactly one AlgBase subclass with new_flow() (found: "
                f"{names}); set ALGORITHM = MyAlg() to choose"
            )
        chosen = found[0]
    return chosen() if isinstance(chosen, type) else chosen
