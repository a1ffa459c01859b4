"""The package: both import names, helpers, compile checks."""

import re

import portus
import pyportus


def test_both_names_import_the_same_module():
    assert pyportus.AlgBase is portus.AlgBase
    assert pyportus.start is portus.start
    assert pyportus.connect is portus.connect
    assert pyportus.util.ip_to_str is portus.util.ip_to_str
    assert pyportus.CompileError is portus.CompileError
    assert pyportus.testing.MockDatapath is portus.testing.MockDatapath
    assert set(portus.__all__) <= set(dir(pyportus))
    assert portus.__version__ == pyportus.__version__


def test_exception_hierarchy():
    assert issubclass(portus.CompileError, portus.PortusError)
    assert issubclass(portus.DatapathError, portus.PortusError)
    assert issubclass(portus.PortusError, Exception)


def test_try_compile_reports_line_and_column():
    assert portus.try_compile("(def (Report.x 0))\n(when true (report))") == ""
    err = portus.try_compile("(def (Report.x 0))\n(when true\n  (:= Report.x (+ 1 Flow.nope)))")
    assert re.match(r"^3:\d+: ", err), err
    assert "Flow.nope" in err


def test_ip_helpers_convert_both_ways():
    # 127.0.0.1 as the Linux datapath reports it (network byte order in a LE u32).
    value = 0x0100007F
    assert portus.util.ip_to_str(value) == "127.0.0.1"
    assert portus.util.str_to_ip("127.0.0.1") == value
    # pyportus's swapped names keep working.
    assert portus.util.ip_to_str("10.1.2.3") == portus.util.str_to_ip("10.1.2.3")
    assert portus.util.str_to_ip(portus.util.ip_to_str(0xDEADBEEF)) == 0xDEADBEEF
