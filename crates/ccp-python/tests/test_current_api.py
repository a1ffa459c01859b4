"""The current pyportus API against our datapath library (MockDatapath) over a unix
socket: set_program, update_field(s), report fields, Cwnd/Rate, close, error paths."""

import logging

import pytest

import portus
from conftest import drive, settle

PROG = """(def (Report (volatile acked 0) (volatile rtt 0) (volatile loss 0)) (step 1460))
(when true
    (:= Report.acked (+ Report.acked Ack.bytes_acked))
    (:= Report.rtt Flow.rtt_sample_us)
    (:= Report.loss (+ Report.loss Ack.lost_pkts_sample))
    (fallthrough))
(when (> Micros Report.rtt)
    (report)
    (:= Micros 0))"""

OTHER = """(def (Report (volatile acked 0)))
(when true
    (:= Report.acked (+ Report.acked Ack.bytes_acked))
    (report))"""


class Recorder(portus.AlgBase):
    """Grows the window by `step` per report; records what it sees."""

    def __init__(self, fail_on=()):
        self.flows = []
        self.infos = []
        self.fail_on = set(fail_on)

    def datapath_programs(self):
        return {"main": PROG, "other": OTHER}

    def new_flow(self, datapath, datapath_info):
        self.infos.append(datapath_info)
        f = RecFlow(datapath, datapath_info, self.fail_on)
        self.flows.append(f)
        return f


class RecFlow:
    def __init__(self, dp, info, fail_on):
        self.dp = dp
        self.cwnd = info.init_cwnd
        self.reports = []
        self.cwnd_seen = []
        self.closed = 0
        self.fail_on = fail_on
        self.calls = 0
        dp.set_program("main", [("Cwnd", self.cwnd)])

    def on_report(self, r):
        self.calls += 1
        if self.calls in self.fail_on:
            raise RuntimeError(f"failure on report {self.calls}")
        self.reports.append(r.as_dict())
        self.cwnd_seen.append(r.Cwnd)
        self.cwnd += 1460
        self.dp.update_field("Cwnd", self.cwnd)

    def close(self):
        self.closed += 1


def test_full_flow_lifetime(run_agent, mock_dp):
    alg = Recorder()
    agent = run_agent(alg)
    dp = mock_dp()
    sid = dp.create(mss=1460, init_cwnd=14600, src_ip=0x0100007F, src_port=5000,
                    dst_ip=0x0200007F, dst_port=80, alg="anything")
    dp.wait_until(lambda: dp.stats()["change_progs"] == 1)
    info = alg.infos[0]
    assert (info.sock_id, info.mss, info.init_cwnd) == (sid, 1460, 14600)
    assert (info.src_ip, info.src_port, info.dst_ip, info.dst_port) == (0x0100007F, 5000, 0x0200007F, 80)
    assert info.requested_alg == "anything"
    assert portus.util.ip_to_str(info.src_ip) == "127.0.0.1"

    drive(dp, sid, 100, every_us=1000, rtt_us=10_000)
    flow = alg.flows[0]
    # One report per RTT (10 ms of virtual time): 100 ACKs at 1 ms -> 9 or 10 reports.
    assert 8 <= len(flow.reports) <= 10, len(flow.reports)
    first = flow.reports[0]
    assert first["rtt"] == 10_000 and first["loss"] == 0
    # The program starts with ACK 1 (t = 1 ms); Micros > 10 ms first at ACK 12.
    assert first["acked"] == 1460 * 12
    # Cwnd/Rate come with every report (HELLO negotiated) and show our updates.
    assert flow.cwnd_seen[0] == 14600
    assert flow.cwnd_seen[1:] == [14600 + 1460 * (i + 1) for i in range(len(flow.cwnd_seen) - 1)]
    settle(dp, sid, lambda: dp.cwnd(sid) == flow.cwnd)
    assert dp.reports_cwnd_rate

    dp.close(sid)
    stats = agent.stop()
    assert flow.closed == 1
    assert stats["flows_created"] == 1 and stats["flows_closed"] == 1
    assert stats["reports"] == len(flow.reports)
    assert stats["callback_errors"] == 0


def test_exception_in_on_report_is_logged_and_the_flow_keeps_running(run_agent, mock_dp, caplog):
    caplog.set_level(logging.ERROR, logger="portus")
    alg = Recorder(fail_on={2, 3})
    agent = run_agent(alg)
    dp = mock_dp()
    sid = dp.create()
    dp.wait_until(lambda: dp.stats()["change_progs"] == 1)
    drive(dp, sid, 80, answered=False)
    flow = alg.flows[0]
    dp.wait_until(lambda: flow.calls >= 6)
    # Reports 2 and 3 raised; the others were handled and answered.
    assert len(flow.reports) == flow.calls - 2
    settle(dp, sid, lambda: dp.cwnd(sid) == flow.cwnd)
    errors = [r for r in caplog.records if r.name == "portus"]
    assert len(errors) == 2
    assert "RecFlow.on_report" not in errors[0].getMessage()  # labelled by the algorithm class
    assert "Recorder.on_report (flow 1) raised an exception (the flow keeps running)" in errors[0].getMessage()
    assert errors[0].exc_info[0] is RuntimeError
    assert "failure on report 2" in caplog.text
    assert "in on_report" in caplog.text  # the traceback
    assert agent.running
    # A second flow still works (its reports 2 and 3 fail the same way).
    sid2 = dp.create()
    dp.wait_until(lambda: len(alg.flows) == 2 and dp.stats()["change_progs"] == 2)
    drive(dp, sid2, 60, answered=False)
    dp.wait_until(lambda: alg.flows[1].calls >= 5)
    assert len(alg.flows[1].reports) == alg.flows[1].calls - 2
    assert agent.stop()["callback_errors"] == 4


def test_exception_in_new_flow_is_logged_and_the_agent_survives(run_agent, mock_dp, caplog):
    caplog.set_level(logging.ERROR, logger="portus")

    class Flaky(Recorder):
        def new_flow(self, datapath, datapath_info):
            if not self.infos:
                self.infos.append(datapath_info)
                raise KeyError("no flow for you")
            return super().new_flow(datapath, datapath_info)

    alg = Flaky()
    agent = run_agent(alg)
    dp = mock_dp()
    sid1 = dp.create()
    sid2 = dp.create()
    dp.wait_until(lambda: len(alg.flows) == 1 and dp.stats()["change_progs"] == 1)
    drive(dp, sid2, 30)
    assert drive(dp, sid1, 3, answered=False) == ["no-program"] * 3
    assert len(alg.flows[0].reports) >= 2
    assert dp.program_uid(sid1) is None
    assert "Flaky.new_flow (flow 1) raised an exception: the flow gets no callbacks" in caplog.text
    assert "no flow for you" in caplog.text
    agent.stop()


class Commands(portus.AlgBase):
    """Runs a scripted command on its first report and records the outcome."""

    def __init__(self, command):
        self.command = command
        self.outcome = []
        self.flows = []

    def datapath_programs(self):
        return {"main": PROG, "other": OTHER}

    def new_flow(self, datapath, datapath_info):
        alg = self

        class F:
            def __init__(self):
                self.dp = datapath

            def on_report(self, r):
                if alg.outcome:
                    return
                try:
                    alg.outcome.append(("ok", alg.command(self.dp, r)))
                except Exception as e:  # noqa: BLE001
                    alg.outcome.append((type(e), str(e)))

        datapath.set_program("main")
        f = F()
        self.flows.append(f)
        return f


def run_command(run_agent, mock_dp, command, **dp_kw):
    alg = Commands(command)
    agent = run_agent(alg)
    dp = mock_dp(**dp_kw)
    sid = dp.create()
    dp.wait_until(lambda: dp.stats()["change_progs"] == 1)
    drive(dp, sid, 15, answered=False)
    dp.wait_until(lambda: bool(alg.outcome))
    return alg, agent, dp, sid


@pytest.mark.parametrize(
    "command, exc, text",
    [
        (lambda dp, r: dp.set_program("nope"), portus.DatapathError, "no datapath program named `nope`"),
        (lambda dp, r: dp.update_field("nope", 1), portus.DatapathError, "nope"),
        (lambda dp, r: dp.update_field("Report.acked", 1), portus.DatapathError, "Report.acked"),
        (lambda dp, r: dp.update_field("Cwnd", -1), OverflowError, "Cwnd"),
        (lambda dp, r: dp.update_field("Cwnd", "big"), TypeError, "expected an int"),
        (lambda dp, r: dp.update_fields("Cwnd"), TypeError, "list of (name, value) pairs"),
        (lambda dp, r: r.nope, AttributeError, "report has no field `nope`"),
        (lambda dp, r: dp.install("(def (x"), portus.CompileError, "1:6: unterminated list"),
    ],
)
def test_command_errors_raise_python_exceptions(run_agent, mock_dp, command, exc, text):
    alg, agent, dp, sid = run_command(run_agent, mock_dp, command)
    kind, msg = alg.outcome[0]
    assert kind is exc, alg.outcome
    assert text in msg
    assert agent.stop()["callback_errors"] == 0


def test_update_fields_accepts_lists_dicts_and_floats(run_agent, mock_dp):
    def command(dp, r):
        dp.update_fields([("step", 7), ("Cwnd", 20000.9)])
        dp.update_fields({"Rate": 125000})
        return (r.acked, r.get("missing", -1), "rtt" in r, r.program_name, r.program_uid)

    alg, agent, dp, sid = run_command(run_agent, mock_dp, command)
    kind, (acked, missing, has_rtt, pname, puid) = alg.outcome[0]
    assert kind == "ok" and acked > 0 and missing == -1 and has_rtt
    assert (pname, puid) == ("main", 1)
    settle(dp, sid, lambda: dp.rate(sid) == 125000)
    assert dp.cwnd(sid) == 20000
    agent.stop()


def test_update_before_set_program_raises_reference_error(run_agent, mock_dp):
    seen = []

    class Early(portus.AlgBase):
        def datapath_programs(self):
            return {"main": PROG}

        def new_flow(self, datapath, datapath_info):
            datapath.update_field("Cwnd", 30000)  # Cwnd/Rate: allowed before a program
            try:
                datapath.update_field("step", 1)
            except ReferenceError as e:
                seen.append(str(e))
            datapath.set_program("main")
            return Flow()

    class Flow:
        def on_report(self, r):
            pass

    agent = run_agent(Early())
    dp = mock_dp()
    sid = dp.create()
    dp.wait_until(lambda: dp.stats()["change_progs"] == 1)
    dp.ack(sid)
    assert dp.program_uid(sid) == 1
    assert seen and "set_program" in seen[0]
    agent.stop()


def test_switching_programs_delivers_only_the_current_programs_reports(run_agent, mock_dp):
    def command(dp, r):
        dp.set_program("other", {"Cwnd": 50000})
        return dp.program

    alg, agent, dp, sid = run_command(run_agent, mock_dp, command)
    assert alg.outcome[0] == ("ok", "other")

    names = []
    flow = alg.flows[0]
    flow.on_report = lambda r: names.append((r.program_name, sorted(r.as_dict())))
    drive(dp, sid, 5, answered=False)
    dp.wait_until(lambda: len(names) >= 3)
    assert {n for n, _ in names} == {"other"}
    assert names[-1][1] == ["Cwnd", "Rate", "acked"]
    assert dp.cwnd(sid) == 50000
    agent.stop()


def test_cwnd_on_a_legacy_datapath_raises_attribute_error_explaining_why(run_agent, mock_dp):
    alg, agent, dp, sid = run_command(run_agent, mock_dp, lambda dp, r: r.Cwnd, handshake=False)
    kind, msg = alg.outcome[0]
    assert kind is AttributeError
    assert "does not append Cwnd/Rate" in msg and "(:= Report.cwnd Cwnd)" in msg
    agent.stop()


def test_commands_on_a_closed_flow_raise(run_agent, mock_dp):
    alg, agent, dp, sid = run_command(run_agent, mock_dp, lambda dp, r: dp.attached)
    assert alg.outcome[0] == ("ok", True)
    handle = alg.flows[0].dp
    before = agent.stop()
    assert before["flows_created"] == 1
    assert not handle.attached
    with pytest.raises(portus.DatapathError, match="no longer exists"):
        handle.update_field("Cwnd", 1)
    with pytest.raises(portus.DatapathError, match="no longer exists"):
        handle.install(OTHER)
