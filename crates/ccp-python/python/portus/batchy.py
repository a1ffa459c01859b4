"""Batchy from Python, in the original Batchy's scripting style.

The original's scripts (``conf/*.batchy``) are Python run by ``batchy.py`` with a global
``batchy`` object and the BESS module constructors; this module gives the same calls on
this project's Rust Batchy engine (crate ``batchy``; nothing of the engine or the
controllers is re-implemented in Python)::

    from portus.batchy import Batchy, Bypass, RandomSplit

    batchy = Batchy(clock="virtual")
    w0 = batchy.add_worker("w0")
    t0 = w0.add_task("task0", type="RTC")
    t0.set_controller(batchy.resolve_task_controller("projgrad"))
    splitter = t0.add_module(RandomSplit(name="splitter", gates=[0, 1]), type="ingress")
    nf1 = t0.add_module(Bypass(name="bypass1", cycles_per_batch=1000,
                               cycles_per_packet=100), T_0=1000, T_1=100)
    nf2 = t0.add_module(Bypass(name="bypass2", cycles_per_batch=1000,
                               cycles_per_packet=100), T_0=1000, T_1=100)
    splitter.connect(nf1, ogate=0)
    splitter.connect(nf2, ogate=1)
    batchy.add_flow(name="flow1", path=[{"task": t0, "path": [splitter, nf1]}],
                    delay_slo=55_000)
    batchy.add_flow(name="flow2", path=[{"task": t0, "path": [splitter, nf2]}],
                    delay_slo=100_000)
    batchy.add_source()
    batchy.add_sink()
    batchy.run(40, 0.05)
    batchy.plot("/tmp/simple_pipeline_stats.png")
    batchy.dump("/tmp/simple_pipeline_stats.txt")

Original-style scripts without imports (the ``batchy`` global, the module constructors
and ``get_arg`` predefined) run with ``python -m portus.batchy SCRIPT [k=v,k2=v2]``.

Every invalid input (unknown module type or parameter, unknown gate, cyclic graph,
unknown controller, ...) raises :class:`BatchyError`, a :class:`ValueError`, with the
message ``ccp batchy run`` prints for the same mistake in a TOML config.
"""

from __future__ import annotations

import json
import os
import runpy
import sys
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from . import _native
from ._native import BatchyError

__all__ = [
    "MODULE_CLASSES",
    "Batchy",
    "BatchyError",
    "Flow",
    "Module",
    "ModuleHandle",
    "ModuleSpec",
    "Task",
    "Worker",
    "get_arg",
    "main",
    "set_loglevel",
]  # plus the module constructors (Bypass, RandomSplit, ...), added below

#: Module classes of the engine (the ``type`` of a TOML ``[[module]]`` table).
MODULE_CLASSES = (
    "Bypass", "RandomSplit", "WeightedRandomSplit", "ExactMatch", "IPLookup", "ACL",
    "StaticNAT", "UpdateTTL", "Update", "IPChecksum", "VLANSplit", "VLANPop", "VLANPush",
    "VXLANEncap", "VXLANDecap", "IPEncap", "EtherEncap", "SetMetadata", "Split", "Merge",
    "Timestamp", "Sink", "Queue",
)

# Classes whose `gates` parameter is a count here and a list of gate numbers in BESS.
_GATE_LIST_CLASSES = ("RandomSplit", "VLANSplit", "Split")

# The original's task-level module roles (`t.add_module(..., type=...)`).
_MODULE_ROLES = (None, "ingress", "internal", "egress", "bess")


def set_loglevel(level: str) -> None:
    """``"INFO"``/``"DEBUG"``: log every control round and controller decision to stderr
    (the original's ``--loglevel INFO``); anything else: warnings only. ``PORTUS_LOG`` /
    ``RUST_LOG``, when set, take precedence."""
    _native._batchy_set_log(str(level).upper() in ("INFO", "DEBUG", "TRACE"))


class ModuleSpec:
    """A module to be added to a task: its class, an optional name and the class's
    parameters, built by the BESS-style constructors (``Bypass(name="nf1",
    cycles_per_batch=1000)``) or by :func:`Module`."""

    def __init__(self, type: str, name: str | None = None, **params: Any):
        if not isinstance(type, str):
            raise BatchyError(f"module type must be a class name string, got {type!r}")
        self.type = type
        self.name = name
        self.params = params

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.params.items())
        name = f"name={self.name!r}" + (", " if args else "") if self.name else ""
        return f"{self.type}({name}{args})"


def Module(type: str, name: str | None = None, **params: Any) -> ModuleSpec:  # noqa: N802
    """A module of class ``type`` (one of :data:`MODULE_CLASSES`) with parameters."""
    return ModuleSpec(type, name, **params)


def _constructor(cls: str):
    def make(name: str | None = None, **params: Any) -> ModuleSpec:
        return ModuleSpec(cls, name, **params)

    make.__name__ = make.__qualname__ = cls
    make.__doc__ = (f"A ``{cls}`` module (parameters as in a TOML ``[[module]]`` table "
                    f"with ``type = \"{cls}\"``; see docs/batchy.md).")
    return make


for _cls in MODULE_CLASSES:
    globals()[_cls] = _constructor(_cls)
    __all__.append(_cls)
del _cls


def _json_params(spec: ModuleSpec) -> str:
    params: dict[str, Any] = {}
    for k, v in spec.params.items():
        if isinstance(v, Task):  # Queue(to_task=t)
            v = v.name
        if k == "gates" and spec.type in _GATE_LIST_CLASSES and isinstance(v, (list, tuple)):
            if list(v) != list(range(len(v))):
                raise BatchyError(f"module {spec.name!r}: gates={v!r}: give the gate count "
                                  f"or the list 0..n-1")
            v = len(v)
        params[k] = v
    if "type" in params:
        raise BatchyError(f"module {spec.name!r}: the module class is given as the first "
                          f"argument, not as a 'type' parameter")
    try:
        return json.dumps({"type": spec.type, **params})
    except (TypeError, ValueError) as e:
        raise BatchyError(f"module {spec.name!r}: parameters: {e}") from None


class Worker:
    """A worker (one core). Made by :meth:`Batchy.add_worker`."""

    def __init__(self, bt: Batchy, wid: int, name: str):
        self.batchy = bt
        self.id = wid
        self.name = name
        self.tasks: list[Task] = []
        self._task_controller: str | None = None

    def __repr__(self) -> str:
        return f"<Worker {self.name!r}>"

    def add_task(self, name: str | None = None, type: str = "RTC",
                 controller: str | None = None) -> Task:
        """Add an RTC task (ingress queue + run-to-completion pipeline). ``controller``
        defaults to the worker's task controller (:meth:`set_task_controller`), else
        ``"null"``. The WFQ task type of the original is not supported."""
        if str(type).upper() != "RTC":
            raise BatchyError(f"task {name!r}: task type {type!r} is not supported "
                              f"(only 'RTC'; the WFQ baseline is not implemented)")
        if name is None:
            name = f"task{len(self.batchy._tasks)}"
        ctrl = controller or self._task_controller or "null"
        tid = self.batchy._core.add_task(self.id, name, ctrl)
        t = Task(self.batchy, tid, name, self)
        t.controller = ctrl
        self.tasks.append(t)
        self.batchy._tasks.append(t)
        return t

    def set_task_controller(self, controller: str) -> None:
        """Use ``controller`` for this worker's tasks (existing and later ones)."""
        self.batchy._core.check_controller(controller)
        self._task_controller = controller
        for t in self.tasks:
            t.set_controller(controller)


class Task:
    """A task: an ingress queue and the modules it runs to completion."""

    def __init__(self, bt: Batchy, tid: int, name: str, worker: Worker | None):
        self.batchy = bt
        self.id = tid
        self.name = name
        self.worker = worker
        self.modules: list[ModuleHandle] = []
        self.controller = "null"

    def __repr__(self) -> str:
        return f"<Task {self.name!r}>"

    def set_controller(self, controller: str) -> None:
        """Set the task controller: ``null``, ``max``, ``fix1``..``fix31``, ``onoff``,
        ``feasdir``, ``projgrad``/``projgradient`` (or the value of
        :meth:`Batchy.resolve_task_controller`)."""
        self.batchy._core.set_controller(self.id, controller)
        self.controller = controller

    def add_module(self, module: ModuleSpec | str, name: str | None = None, *,
                   T_0: float | None = None, T_1: float | None = None,  # noqa: N803
                   type: str | None = None, controlled: bool | None = None,
                   **params: Any) -> ModuleHandle:
        """Add a module: ``t.add_module(Bypass(name="nf1", cycles_per_batch=1000),
        T_0=400, T_1=40)`` or ``t.add_module("Bypass", "nf1", cycles_per_batch=1000)``.

        ``T_0``/``T_1`` are the per-batch/per-packet service times [ns] (else the
        profile's, else 0); ``controlled`` forces a fractional buffer in front of the
        module on or off (default: when its batchiness T_1/(T_0+T_1) <= 0.5);
        ``type="ingress"`` makes it the task's entry (default: the first module)."""
        if isinstance(module, str):
            module = ModuleSpec(module, name, **params)
        elif isinstance(module, ModuleSpec):
            if params:
                raise BatchyError(f"module {module.name or name!r}: give the parameters to "
                                  f"the module constructor, not to add_module: "
                                  f"{sorted(params)}")
            if name is not None:
                module = ModuleSpec(module.type, name, **module.params)
        else:
            raise BatchyError(f"add_module: expected a module (e.g. Bypass(...)) or a class "
                              f"name, got {module!r}")
        if type not in _MODULE_ROLES:
            raise BatchyError(f"module {module.name!r}: type={type!r}: expected one of "
                              f"'ingress', 'internal', 'egress', 'bess'")
        mname = module.name or self.batchy._auto_name(module.type)
        mid = self.batchy._core.add_module(
            self.id, mname, _json_params(ModuleSpec(module.type, mname, **module.params)),
            None if T_0 is None else float(T_0), None if T_1 is None else float(T_1),
            controlled, type == "ingress")
        m = ModuleHandle(self.batchy, mid, mname, module.type, self)
        self.modules.append(m)
        self.batchy._modules[mname] = m
        return m


class ModuleHandle:
    """A module added to a task (what ``add_module`` returns)."""

    def __init__(self, bt: Batchy, mid: int, name: str, cls: str, task: Task | None):
        self.batchy = bt
        self.id = mid
        self.name = name
        self.cls = cls
        self.task = task

    def __repr__(self) -> str:
        return f"<{self.cls} {self.name!r}>"

    @property
    def controlled(self) -> bool:
        """Whether the module gets a fractional buffer (is controlled)."""
        return self.batchy._core.is_controlled(self.id)

    def connect(self, next: ModuleHandle | str, ogate: int = 0,
                igate: int = 0) -> ModuleHandle:
        """Connect output gate ``ogate`` of this module to input gate ``igate`` of
        ``next`` (same task; cross tasks with a ``Queue(to_task=...)`` module). Returns
        ``next``, so chains read ``a.connect(b).connect(c)``."""
        nxt = self.batchy._module(next)
        self.batchy._core.connect(self.id, _gate(ogate, "ogate"), nxt.id,
                                  _gate(igate, "igate"))
        return nxt


def _gate(g: Any, what: str) -> int:
    if isinstance(g, bool) or not isinstance(g, int) or g < 0:
        raise BatchyError(f"{what} must be a non-negative integer, got {g!r}")
    return g


class Flow:
    """A flow: a path of modules from a task ingress to an egress, with SLOs."""

    def __init__(self, bt: Batchy, fid: int, name: str, path: list[ModuleHandle],
                 delay_slo: float | None, rate_slo: Mapping[str, float] | None):
        self.batchy = bt
        self.id = fid
        self.name = name
        self.path = path
        self._delay_slo = delay_slo
        self.rate_slo = rate_slo

    def __repr__(self) -> str:
        return f"<Flow {self.name!r}>"

    @property
    def delay_slo(self) -> float | None:
        """The p95 delay SLO [ns] (None: none). Settable between runs."""
        return self._delay_slo

    @delay_slo.setter
    def delay_slo(self, slo: float | None) -> None:
        self.batchy._core.set_delay_slo(self.id, None if slo is None else float(slo))
        self._delay_slo = slo


class Batchy:
    """A Batchy pipeline on the Rust engine (the original's global ``batchy`` object).

    Keyword settings (defaults are the engine's): ``clock`` (``"virtual"``:
    deterministic simulated time, modules cost T_0 + T_1·b ns; ``"real"``: worker
    threads really run the modules), ``seed``, ``warmup`` [s], ``tsc_ghz`` (Bypass cycles
    → ns), ``task_overhead_ns``, ``queue_size``, ``backpressure``, ``burst_size``,
    ``reference_compat`` (the reference controller's quirks), ``profile`` (profiler
    results: a JSON file path or ``{class: {"T_0": ns, "T_1": ns}}``)."""

    def __init__(self, clock: str | None = None, *, seed: int | None = None,
                 warmup: float | None = None, tsc_ghz: float | None = None,
                 task_overhead_ns: float | None = None, queue_size: int | None = None,
                 backpressure: bool | None = None, burst_size: int | None = None,
                 reference_compat: bool = False,
                 profile: str | os.PathLike | Mapping[str, Any] | None = None,
                 _core: Any = None):
        if _core is not None:
            self._core = _core
        else:
            given = {"clock": clock, "seed": seed, "warmup": warmup, "tsc_ghz": tsc_ghz,
                     "task_overhead_ns": task_overhead_ns, "queue_size": queue_size,
                     "backpressure": backpressure, "burst_size": burst_size}
            settings = {k: v for k, v in given.items() if v is not None}
            self._core = _native._Core(json.dumps(settings), bool(reference_compat))
        self.workers: list[Worker] = []
        self._tasks: list[Task] = []
        self._modules: dict[str, ModuleHandle] = {}
        self.flows: list[Flow] = []
        self._class_count: dict[str, int] = {}
        self._sources: list[tuple[list[Flow], Worker | None, int | None]] = []
        self._auto_sources = False
        self._sources_added = False
        if profile is not None:
            self.set_profile(profile)

    # -- loading ---------------------------------------------------------------------

    @classmethod
    def from_toml(cls, path: str | os.PathLike) -> Batchy:
        """Load a TOML pipeline (the ``ccp batchy run`` format). Its ``[run]`` rounds and
        period are in :attr:`rounds` and :attr:`period`; look objects up by name with
        :meth:`module`, :meth:`flow`."""
        core, rounds, period = _native._Core.from_toml(os.fspath(path))
        bt = cls(_core=core)
        bt.rounds = rounds
        bt.period = period
        return bt

    #: ``[run] rounds`` of a TOML config loaded with :meth:`from_toml`.
    rounds: int = 20
    #: ``[run] period`` [s] of a TOML config loaded with :meth:`from_toml`.
    period: float = 0.1

    @property
    def settings(self) -> dict[str, Any]:
        """The engine settings in effect."""
        return json.loads(self._core.settings())

    def set_profile(self, profile: str | os.PathLike | Mapping[str, Any]) -> None:
        """Use profiler results (``profiler_results.json`` format, or the parsed dict)
        for modules added without ``T_0``/``T_1``."""
        if not isinstance(profile, Mapping):
            with open(profile, encoding="utf-8") as f:
                profile = json.load(f)
        table = {}
        for cls_name, v in profile.items():
            try:
                table[str(cls_name)] = (float(v["T_0"]), float(v["T_1"]))
            except (KeyError, TypeError, ValueError):
                raise BatchyError(f"profile entry {cls_name!r}: expected "
                                  f"{{'T_0': ns, 'T_1': ns}}, got {v!r}") from None
        self._core.set_profile(table)

    # -- building --------------------------------------------------------------------

    def _auto_name(self, cls: str) -> str:
        while True:
            n = self._class_count.get(cls, 0)
            self._class_count[cls] = n + 1
            name = f"{cls.lower()}{n}"
            if self._core.module_id(name) is None:
                return name

    def add_worker(self, name: str | None = None, wid: int | None = None) -> Worker:
        """Add a worker (``wid``, the original's core id, is accepted and ignored)."""
        if name is None:
            name = f"worker{len(self.workers)}"
        w = Worker(self, self._core.add_worker(name), name)
        self.workers.append(w)
        return w

    def add_module(self, task: Task, module: ModuleSpec | str, *args: Any,
                   **kw: Any) -> ModuleHandle:
        """``task.add_module(module, ...)``."""
        return task.add_module(module, *args, **kw)

    def resolve_task_controller(self, name: str) -> str:
        """Check a task controller name and return it (for ``set_controller``)."""
        self._core.check_controller(name)
        return name

    def resolve_controller(self, name: str | None) -> str | None:
        """Worker-level (master) controllers: only ``None``/``"null"`` (none) here."""
        if name in (None, "null", "Null"):
            return None
        raise BatchyError(f"master controller {name!r} is not supported (only task "
                          f"controllers are: null, max, fixN, onoff, feasdir, projgrad)")

    def set_controller(self, controller: str | None) -> None:
        """Set the master controller (see :meth:`resolve_controller`)."""
        self.resolve_controller(controller)

    def _module(self, m: ModuleHandle | str) -> ModuleHandle:
        if isinstance(m, ModuleHandle):
            if m.batchy is not self:
                raise BatchyError(f"module {m.name!r} belongs to another Batchy pipeline")
            return m
        if isinstance(m, str):
            if m in self._modules:
                return self._modules[m]
            mid = self._core.module_id(m)
            if mid is None:
                raise BatchyError(f"unknown module {m!r}")
            h = ModuleHandle(self, mid, m, "?", None)
            self._modules[m] = h
            return h
        raise BatchyError(f"expected a module (from add_module) or a module name, got {m!r}")

    def module(self, name: str) -> ModuleHandle:
        """The module called ``name``."""
        return self._module(name)

    def flow(self, name: str) -> Flow:
        """The flow called ``name`` (also for pipelines loaded from TOML)."""
        for f in self.flows:
            if f.name == name:
                return f
        fid = self._core.flow_id(name)
        if fid is None:
            raise BatchyError(f"unknown flow {name!r}")
        f = Flow(self, fid, name, [], None, None)
        self.flows.append(f)
        return f

    def _path(self, name: str, path: Any) -> list[ModuleHandle]:
        if isinstance(path, (str, bytes)) or not isinstance(path, Iterable):
            raise BatchyError(f"flow {name!r}: path must be a list of modules or of "
                              f"{{'task': t, 'path': [modules]}} segments")
        out: list[ModuleHandle] = []
        for seg in path:
            if isinstance(seg, Mapping):
                unknown = set(seg) - {"task", "path"}
                if unknown or "path" not in seg:
                    raise BatchyError(f"flow {name!r}: a path segment is "
                                      f"{{'task': t, 'path': [modules]}}, got {dict(seg)!r}")
                task = seg.get("task")
                mods = [self._module(m) for m in seg["path"]]
                if task is not None:
                    tname = task.name if isinstance(task, Task) else str(task)
                    for m in mods:
                        if m.task is not None and m.task.name != tname:
                            raise BatchyError(f"flow {name!r}: module {m.name!r} is in task "
                                              f"{m.task.name!r}, not {tname!r}")
                out.extend(mods)
            else:
                out.append(self._module(seg))
        return out

    def add_flow(self, name: str | None = None, path: Sequence[Any] | None = None,
                 delay_slo: float | None = None,
                 rate_slo: Mapping[str, float] | None = None,
                 source_params: Mapping[str, Any] | None = None, *,
                 source: Mapping[str, Any] | None = None) -> Flow:
        """Add a flow. ``path``: modules from the task ingress to the egress, either a
        flat list or the original's ``[{'task': t, 'path': [m1, m2]}]`` segments;
        ``delay_slo``: p95 delay bound [ns]; ``rate_slo``: ``{'packet': pps}`` or
        ``{'bit': bps}`` (enforced as the source's rate limit); ``source_params`` (alias
        ``source``): ``templates`` (list of ``{dst_mac, src_mac, vlan, src_ip, dst_ip,
        sport, dport, size}``), ``weight``, ``burst``, ``limit`` [pps]."""
        if name is None:
            name = f"flow{len(self.flows) + 1}"
        if path is None:
            raise BatchyError(f"flow {name!r}: path is required")
        if source is not None and source_params is not None:
            raise BatchyError(f"flow {name!r}: give source_params or source, not both")
        src = source_params if source_params is not None else source
        mods = self._path(name, path)
        try:
            rs = None if rate_slo is None else json.dumps(dict(rate_slo))
            sp = None if src is None else json.dumps(dict(src))
        except (TypeError, ValueError) as e:
            raise BatchyError(f"flow {name!r}: {e}") from None
        fid = self._core.add_flow(name, [m.id for m in mods],
                                  None if delay_slo is None else float(delay_slo), rs, sp)
        f = Flow(self, fid, name, mods, delay_slo, rate_slo)
        self.flows.append(f)
        return f

    def set_delay_slo(self, flow: Flow | str, slo: float | None) -> None:
        """Change a flow's delay SLO [ns] between runs."""
        (flow if isinstance(flow, Flow) else self.flow(flow)).delay_slo = slo

    def _flows(self, flows: Any) -> list[Flow]:
        if isinstance(flows, (Flow, str)):
            flows = [flows]
        return [f if isinstance(f, Flow) else self.flow(f) for f in flows]

    def add_source(self, flows: Any = None, worker: Worker | None = None,
                   burst_size: int | None = None) -> None:
        """Traffic source (Source → Timestamp → the flows' ingress task queue). Without
        ``flows``: one source per ingress task for every flow no other source feeds.
        ``worker``: run the source there (default: its own worker in virtual time, the
        ingress task's worker with the real clock)."""
        if flows is None:
            self._auto_sources = True
            return
        self._sources.append((self._flows(flows), worker, burst_size))

    add_bulk_source = add_source
    add_qos_source = add_source
    add_multi_source = add_source

    def add_pcap_source(self, pcap: str | os.PathLike, worker: Worker | None = None,
                        task: Task | None = None, mode: str = "replicate",
                        flow: Flow | str | None = None) -> None:
        """Replay a pcap file in a loop as ``flow`` (default: the only flow). ``task`` is
        implied by the flow; only the ``replicate`` (in-memory loop) mode exists."""
        if mode != "replicate":
            raise BatchyError(f"pcap mode {mode!r} is not supported (only 'replicate')")
        if flow is None:
            if len(self.flows) != 1:
                raise BatchyError("add_pcap_source: name the flow (flow=...) the trace feeds")
            flow = self.flows[0]
        f = self._flows(flow)[0]
        self._core.add_pcap_source(os.fspath(pcap), f.id, None if worker is None else worker.id)

    def add_sink(self) -> None:
        """Sinks are implicit here (a Measure per egress and one Sink per task)."""

    def _install_sources(self) -> None:
        if self._sources_added:
            return
        self._sources_added = True
        covered: set[int] = set()
        for flows, worker, burst in self._sources:
            self._core.add_source([f.id for f in flows],
                                  None if worker is None else worker.id, burst)
            covered.update(f.id for f in flows)
        if self._auto_sources and self._sources:
            # Explicit sources replace the engine's default ones: add those for the rest.
            by_task: dict[int, list[Flow]] = {}
            for f in self.flows:
                if f.id not in covered and f.path and f.path[0].task is not None:
                    by_task.setdefault(f.path[0].task.id, []).append(f)
            for flows in by_task.values():
                self._core.add_source([f.id for f in flows], None, None)

    # -- running and results ---------------------------------------------------------

    def run(self, rounds: int, control_period: float = 0.5,
            warmup: bool = True) -> list[dict[str, Any]]:
        """Build the pipeline (first call) and run ``rounds`` control rounds of
        ``control_period`` seconds (virtual or real, per ``clock``). Returns the rounds
        run (see :attr:`history`). Can be called repeatedly, e.g. after changing SLOs.
        The GIL is released while the engine runs."""
        if isinstance(rounds, bool) or not isinstance(rounds, int) or rounds < 0:
            raise BatchyError(f"rounds must be a non-negative integer, got {rounds!r}")
        self._install_sources()
        return json.loads(self._core.run(rounds, float(control_period), bool(warmup)))

    @property
    def running(self) -> bool:
        """True while :meth:`run` runs the engine (in another thread)."""
        return self._core.running

    @property
    def history(self) -> list[dict[str, Any]]:
        """Every round so far: ``{"t", "modules": [{"name", "control", "x_v", "r_v",
        "b_v", "b_in"}], "flows": [{"name", "delay", "delay_estimate", "delay_slo",
        "pps"}], "tasks": [...], "sum_fpps", "round_fpps", "ctrlr_deadtime",
        "changed"}``."""
        return json.loads(self._core.history())

    def dump(self, path: str | os.PathLike) -> None:
        """Write the per-round statistics as CSV (the ``ccp batchy run`` columns:
        ``t``, ``<module>:control``, ``<flow>:delay``, ..., ``sum_fpps``)."""
        self._core.dump(os.fspath(path))

    def plot(self, path: str | os.PathLike) -> None:
        """Plot control values, flow p95 delays and flow rates per round (3-panel PNG)."""
        self._core.plot(os.fspath(path))


# -- script runner ---------------------------------------------------------------------

_ARGS: dict[str, str] = {}


def _parse_args(argv: Iterable[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for a in argv:
        for item in a.split(","):
            if not item:
                continue
            if "=" not in item:
                raise BatchyError(f"script argument {item!r}: expected name=value")
            k, v = item.split("=", 1)
            out[k.strip()] = v.strip()
    return out


def get_arg(name: str, default: Any = None, type: Any = str) -> Any:
    """The script argument ``name`` (``k=v,k2=v2`` on the command line) converted with
    ``type``, else ``default`` (the original's ``get_arg``). In a plain ``python
    script.py k=v`` run the arguments come from ``sys.argv``."""
    args = _ARGS if _ARGS else _parse_args(a for a in sys.argv[1:] if "=" in a)
    if name not in args:
        return default
    v = args[name]
    if type is bool:
        if v.lower() in ("1", "true", "yes", "on"):
            return True
        if v.lower() in ("0", "false", "no", "off"):
            return False
        raise BatchyError(f"argument {name}={v!r}: expected true or false")
    try:
        return type(v)
    except (TypeError, ValueError) as e:
        raise BatchyError(f"argument {name}={v!r}: {e}") from None


def main(argv: list[str] | None = None) -> int:
    """``python -m portus.batchy [-l LOGLEVEL] SCRIPT [k=v,k2=v2]``: run an
    original-style Batchy script, with ``batchy`` (a fresh :class:`Batchy`, virtual clock
    unless ``clock=real`` is given), the module constructors and ``get_arg`` as globals."""
    import argparse

    p = argparse.ArgumentParser(prog="python -m portus.batchy", description=main.__doc__)
    p.add_argument("-l", "--loglevel", default="WARNING")
    p.add_argument("script")
    p.add_argument("args", nargs="*", help="script arguments: name=value[,name=value]")
    a = p.parse_args(argv)
    set_loglevel(a.loglevel)
    try:
        _ARGS.clear()
        _ARGS.update(_parse_args(a.args))
        bt = Batchy(clock=_ARGS.get("clock", "virtual"))
        env: dict[str, Any] = {"batchy": bt, "get_arg": get_arg, "Module": Module,
                               "BatchyError": BatchyError}
        env.update({c: globals()[c] for c in MODULE_CLASSES})
        runpy.run_path(a.script, init_globals=env, run_name="__main__")
    except BatchyError as e:
        print(f"batchy: error: {e}", file=sys.stderr)
        return 2
    finally:
        _ARGS.clear()
    return 0


if __name__ == "__main__":
    # Delegate to the imported module so that scripts share its classes.
    from portus import batchy as _self

    sys.exit(_self.main())
