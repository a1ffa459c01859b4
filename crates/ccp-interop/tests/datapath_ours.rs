//! Our agent (`ccp-agent`) and our datapath library together: the example C datapath runs
//! a whole flow lifetime with `ccp-agent` over unix sockets (READY → INSTALL → CREATE →
//! CHANGE_PROG → MEASURE → UPDATE_FIELDS → close), and since both sides speak HELLO and
//! `REPORT_CWND_RATE`, the agent reads the datapath's `Cwnd` from every report.

mod datapath_common;

use std::process::Command;

use ccp_agent::{CongAlg, Datapath, DatapathInfo, Flow, Programs, Report, RunBuilder};
use crossbeam_channel::Sender;
use datapath_common::{WAIT, compile_c_example, unique};

const NEW_CWND: u64 = 30_000;

#[derive(Debug)]
enum Ev {
    Created(u32, Option<String>),
    Report { acked: u64, cwnd: Option<u64> },
    Closed(u32),
}

struct Alg(Sender<Ev>);

struct F {
    dp: Datapath,
    sid: u32,
    tx: Sender<Ev>,
}

impl CongAlg for Alg {
    type Flow = F;
    fn name(&self) -> &str {
        "h7-ours"
    }
    fn datapath_programs(&self) -> Programs {
        Programs::from([(
            "h7ours".to_owned(),
            "(def (Report (volatile acked 0)))
             (when true
                 (:= Report.acked (+ Report.acked Ack.bytes_acked))
                 (report))"
                .to_owned(),
        )])
    }
    fn new_flow(&self, mut dp: Datapath, info: DatapathInfo) -> F {
        dp.set_program("h7ours", None).expect("program installed");
        let _ = self
            .0
            .send(Ev::Created(info.sock_id, info.requested_alg.clone()));
        F {
            dp,
            sid: info.sock_id,
            tx: self.0.clone(),
        }
    }
}

impl Flow for F {
    fn on_report(&mut self, _sid: u32, r: Report<'_>) {
        let _ = self.dp.update_field("Cwnd", NEW_CWND);
        let _ = self.tx.send(Ev::Report {
            acked: r.get_field("Report.acked").unwrap_or(0),
            cwnd: r.get_field("Cwnd").ok(),
        });
    }
    fn close(&mut self) {
        let _ = self.tx.send(Ev::Closed(self.sid));
    }
}

#[test]
fn c_example_whole_flow_with_our_agent() {
    let name = unique("ours");
    let dir = std::env::temp_dir().join(&name);
    std::fs::create_dir_all(&dir).expect("temp dir");
    let exe = dir.join("mock_datapath");
    compile_c_example(&exe);

    let sock = ccp_ipc::unix::UnixSocket::agent(
        &name,
        ccp_ipc::Mode::Blocking(std::time::Duration::from_millis(50)),
    )
    .expect("agent binds");
    let (tx, rx) = crossbeam_channel::unbounded();
    let agent = RunBuilder::new(sock)
        .default_alg(Alg(tx))
        .spawn_thread()
        .expect("agent starts");
    let out = Command::new(&exe)
        .arg(ccp_ipc::agent_socket_path(&name))
        .arg(format!("/tmp/ccp/{name}-c"))
        .arg("300")
        .arg(NEW_CWND.to_string())
        .output()
        .expect("run the C example");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "C example failed: {:?}\n{stdout}",
        out.status
    );
    for line in [
        "ccp_init rc=0",
        "read_msg type=2 len=",
        "read_msg type=72 len=64 rc=0", // the agent's HELLO
        "read_msg type=4 len=16 rc=0",
        "read_msg type=3 len=25 rc=0",
        &format!("set_cwnd sid=1 cwnd={NEW_CWND}"),
        "freed",
    ] {
        assert!(stdout.contains(line), "C output lacks `{line}`:\n{stdout}");
    }
    assert!(
        !stdout.contains("rc=-"),
        "a message was rejected:\n{stdout}"
    );

    let mut created = false;
    let mut cwnds = vec![];
    loop {
        match rx.recv_timeout(WAIT).expect("agent event") {
            Ev::Created(1, alg) => {
                assert_eq!(alg.as_deref(), Some("c-example"));
                created = true;
            }
            Ev::Report { acked, cwnd } => {
                assert_eq!(acked, 1460);
                cwnds.push(cwnd.expect("REPORT_CWND_RATE: the agent reads Cwnd"));
            }
            Ev::Closed(1) => break,
            e => panic!("unexpected {e:?}"),
        }
    }
    assert!(created);
    assert_eq!(
        cwnds.first(),
        Some(&14_600),
        "first report: the initial window"
    );
    assert_eq!(
        cwnds.last(),
        Some(&NEW_CWND),
        "later reports: the agent's window"
    );
    agent.kill();
    agent.wait().expect("agent stops");
    let _ = std::fs::remove_dir_all(&dir);
}
