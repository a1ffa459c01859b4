"""Checks made before the agent starts: signatures (inspect.signature), program
compilation, arguments."""

import os
import re

import pytest

import portus

GOOD = "(def (Report (volatile acked 0)))\n(when true\n    (:= Report.acked Ack.bytes_acked)\n    (report)\n)"


class Flow:
    def __init__(self, dp, info):
        pass

    def on_report(self, r):
        pass


class Good(portus.AlgBase):
    def datapath_programs(self):
        return {"p": GOOD}

    def new_flow(self, datapath, datapath_info):
        return Flow(datapath, datapath_info)


def test_start_wants_an_instance():
    with pytest.raises(TypeError, match=r"start\(\) takes an algorithm instance.*Good\(\)"):
        portus.start("unix", Good)


def test_missing_method_is_named():
    class NoNewFlow(portus.AlgBase):
        def datapath_programs(self):
            return {"p": GOOD}

    with pytest.raises(TypeError, match=r"NoNewFlow must define new_flow\(self, datapath, datapath_info\)"):
        portus.start("unix", NoNewFlow())


def test_wrong_signature_names_class_method_and_found_signature():
    class Bad(Good):
        def new_flow(self, datapath):
            return None

    with pytest.raises(TypeError) as e:
        portus.start("unix", Bad())
    msg = str(e.value)
    assert "Bad.new_flow" in msg
    assert "new_flow(self, datapath, datapath_info)" in msg
    assert "(datapath)" in msg


def test_flexible_signatures_are_accepted():
    class Flexible(Good):
        def new_flow(self, *args, **kwargs):
            return Flow(*args)

    # Checked (no TypeError) and started: stop at once through the thread helper.
    agent = portus.spawn("unix", Flexible(), name=f"pytest-{os.getpid()}-flex")
    assert agent.stop()["flows_created"] == 0


def test_programs_must_be_a_dict_of_strings():
    class ListPrograms(Good):
        def datapath_programs(self):
            return [GOOD]

    with pytest.raises(TypeError, match="must return a dict"):
        portus.start("unix", ListPrograms())

    class BytesProgram(Good):
        def datapath_programs(self):
            return {"p": GOOD.encode()}

    with pytest.raises(TypeError, match="must be str"):
        portus.start("unix", BytesProgram())


def test_program_that_does_not_compile_raises_at_start_with_line_and_col(tmp_path):
    class Broken(Good):
        def datapath_programs(self):
            return {"ok": GOOD, "broken": "(def (Report.x 0))\n(when true\n    (:= Report.x (+ 1 Flow.nope))\n)"}

    sock = tmp_path / "agent.sock"
    with pytest.raises(portus.CompileError) as e:
        portus.start("unix", Broken(), name=str(sock))
    msg = str(e.value)
    assert "Broken.datapath_programs(): program 'broken'" in msg
    assert re.search(r"\b3:\d+: ", msg), msg
    assert isinstance(e.value, Exception)
    assert not sock.exists(), "nothing was bound"


def test_unknown_ipc():
    with pytest.raises(ValueError, match="unknown ipc"):
        portus.start("carrier-pigeon", Good())
    with pytest.raises(ValueError, match="not supported"):
        portus.start("char", Good())


def test_connect_wants_the_per_flow_class():
    class Legacy(portus.AlgBase):
        def __init__(self, datapath, datapath_info):
            pass

        def on_report(self, r):
            pass

    with pytest.raises(TypeError, match=r"connect\(\) takes the per-flow class"):
        portus.connect("unix", Legacy(None, None))


def test_connect_checks_init_and_on_report():
    class BadInit(portus.AlgBase):
        def __init__(self, datapath):
            pass

        def on_report(self, r):
            pass

    with pytest.raises(TypeError, match=r"BadInit.__init__ has the wrong signature.*__init__\(self, datapath, datapath_info\)"):
        portus.connect("unix", BadInit)

    class NoReport(portus.AlgBase):
        def __init__(self, datapath, datapath_info):
            pass

    with pytest.raises(TypeError, match=r"NoReport must define on_report\(self, r\)"):
        portus.connect("unix", NoReport)

    class BadReport(portus.AlgBase):
        def __init__(self, datapath, datapath_info):
            pass

        def on_report(self):
            pass

    with pytest.raises(TypeError, match=r"BadReport.on_report has the wrong signature"):
        portus.connect("unix", BadReport)

    class BadCreate(NoReport):
        def on_report(self, r):
            pass

        def on_create(self, extra):
            pass

    with pytest.raises(TypeError, match=r"BadCreate.on_create has the wrong signature"):
        portus.connect("unix", BadCreate)
