//! The example C datapath (`examples/c-datapath/mock_datapath.c`), compiled against the
//! generated header and the `ccp-datapath-ffi` static library, runs a whole flow lifetime
//! with the real portus 0.9 agent over unix sockets: READY → INSTALL → CREATE →
//! CHANGE_PROG → MEASURE → UPDATE_FIELDS (applied through `set_cwnd`) → close.

mod datapath_common;

use std::process::Command;

use datapath_common::*;

const NEW_CWND: u32 = 30_000;

const STEER: Scenario = Scenario {
    program: (
        "h7c",
        "(def (Report (volatile acked 0)))
         (when true
             (:= Report.acked (+ Report.acked Ack.bytes_acked))
             (report))",
    ),
    fields: &["Report.acked"],
    install: |dp| dp.set_program("h7c", None).ok(),
    on_report: |dp, sc, _| {
        let _ = dp.update_field(sc, &[("Cwnd", NEW_CWND)]);
    },
};

#[test]
fn c_example_whole_flow_with_portus() {
    let name = unique("c");
    let dir = std::env::temp_dir().join(&name);
    std::fs::create_dir_all(&dir).expect("temp dir");
    let exe = dir.join("mock_datapath");
    compile_c_example(&exe);

    let agent_sock =
        portus::ipc::unix::Socket::<portus::ipc::Blocking>::new(&name).expect("portus binds");
    let (agent, rx) = start_portus(agent_sock, STEER);
    let agent_path = ccp_ipc::agent_socket_path(&name);
    let own = format!("/tmp/ccp/{name}-c");
    let out = Command::new(&exe)
        .arg(&agent_path)
        .arg(&own)
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

    // The datapath side of the lifetime, as the C program saw it.
    for line in [
        "ccp_init rc=0",
        "connection sid=1",
        "read_msg type=2 len=",        // INSTALL
        "read_msg type=4 len=16 rc=0", // CHANGE_PROG
        "read_msg type=3 len=25 rc=0", // UPDATE_FIELDS (Cwnd)
        &format!("set_cwnd sid=1 cwnd={NEW_CWND}"),
        "freed",
    ] {
        assert!(stdout.contains(line), "C output lacks `{line}`:\n{stdout}");
    }
    assert!(stdout.contains("stats installs=1 "), "{stdout}");
    assert!(
        !stdout.contains("rc=-"),
        "a message was rejected:\n{stdout}"
    );

    // The agent side: CREATE, reports, close.
    let mut created = false;
    let mut reports = 0;
    loop {
        match next_event(&rx) {
            Event::Created(1) => created = true,
            Event::Report { sid: 1, fields } => {
                assert_eq!(fields.get("Report.acked"), Some(&1460));
                reports += 1;
            }
            Event::Closed(1) => break,
            e => panic!("unexpected {e:?}"),
        }
    }
    assert!(
        created && reports >= 1,
        "created {created}, {reports} reports"
    );
    agent.kill();
    agent.wait().expect("portus stops");
    let _ = std::fs::remove_dir_all(&dir);
}
