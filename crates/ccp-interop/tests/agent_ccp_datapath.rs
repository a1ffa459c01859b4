//! Our agent (`ccp-agent`) ↔ our datapath library (`ccp-datapath`): the same six scenarios
//! of portus's integration suite as `agent_libccp.rs`, with the agent driven directly or in
//! its own thread over `ccp_ipc::chan`. Both sides speak HELLO, so reports also carry
//! Cwnd/Rate (`REPORT_CWND_RATE`): the `update` scenario checks that `Report::cwnd()`
//! works here (it cannot with libccp).

mod agent_common;

use std::time::Duration;

use agent_common::*;
use libccp as _;

#[test]
fn basic_direct() {
    basic::<RustSide, _>(direct);
}
#[test]
fn basic_chan() {
    basic::<RustSide, _>(threaded);
}
#[test]
fn preset_direct() {
    preset::<RustSide, _>(direct);
}
#[test]
fn preset_chan() {
    preset::<RustSide, _>(threaded);
}
#[test]
fn timing_direct() {
    let r = timing::<RustSide, _>(direct);
    assert_eq!(r[0].2.received_at, Duration::from_micros(r[0].0));
}
#[test]
fn timing_chan() {
    timing::<RustSide, _>(threaded);
}
#[test]
fn twoflow_direct() {
    twoflow::<RustSide, _>(direct);
}
#[test]
fn twoflow_chan() {
    twoflow::<RustSide, _>(threaded);
}
#[test]
fn update_direct() {
    update::<RustSide, _>(direct);
}
#[test]
fn update_chan() {
    update::<RustSide, _>(threaded);
}
#[test]
fn volatile_direct() {
    volatile::<RustSide, _>(direct);
}
#[test]
fn volatile_chan() {
    volatile::<RustSide, _>(threaded);
}

/// The algorithm a datapath names in CREATE is the one that runs the flow; an unknown name
/// or none gets the default.
#[test]
fn algorithm_selected_by_requested_name() {
    use ccp_agent::{AgentBuilder, CongAlg, Datapath, DatapathInfo, Flow, Programs, Report};
    use std::sync::mpsc;

    struct Named(
        &'static str,
        mpsc::Sender<(&'static str, u32, Option<String>)>,
    );
    struct Nop;
    impl Flow for Nop {
        fn on_report(&mut self, _: u32, _: Report<'_>) {}
    }
    impl CongAlg for Named {
        type Flow = Nop;
        fn name(&self) -> &str {
            self.0
        }
        fn datapath_programs(&self) -> Programs {
            Programs::from([(
                "p".to_owned(),
                "(def (Report (volatile acked 0))) (when true (:= Report.acked Ack.bytes_acked) (report))"
                    .to_owned(),
            )])
        }
        fn new_flow(&self, mut dp: Datapath, info: DatapathInfo) -> Nop {
            dp.set_program("p", None).expect("declared");
            let _ = self.1.send((self.0, info.sock_id, info.requested_alg));
            Nop
        }
    }
    let (tx, rx) = mpsc::channel();
    let mut agent: ccp_agent::Agent<()> = AgentBuilder::new()
        .default_alg(Named("base", tx.clone()))
        .additional_alg(Named("fancy", tx.clone()))
        .try_additional_alg(None::<Named>)
        .build()
        .expect("compiles");
    let mut dp = RustSide::init();
    let pump = |agent: &mut ccp_agent::Agent<()>, dp: &mut RustSide| {
        for m in dp.take_sent() {
            agent.handle(Duration::ZERO, &(), &m);
        }
        for (_, m) in agent.take_transmits() {
            assert!(dp.read_msg(&m) >= 0);
        }
    };
    pump(&mut agent, &mut dp);
    for name in [Some("fancy"), Some("unknown-alg"), None, Some("base")] {
        let info = ccp_datapath::DatapathInfo {
            init_cwnd: 14_600,
            mss: 1460,
            ..Default::default()
        };
        dp.0.connection_start(info, name, ()).expect("connection");
        pump(&mut agent, &mut dp);
    }
    let got: Vec<_> = rx.try_iter().collect();
    assert_eq!(
        got,
        vec![
            ("fancy", 1, Some("fancy".to_owned())),
            ("base", 2, Some("unknown-alg".to_owned())),
            ("base", 3, None),
            ("base", 4, Some("base".to_owned())),
        ]
    );
    assert_eq!(agent.stats().default_alg_fallbacks, 1);
    // Each flow runs its own algorithm's program: "fancy"'s p is uid 2, "base"'s p uid 1.
    // The switch applies at the next invocation.
    let uids: Vec<_> = (1..=4)
        .map(|sid| {
            assert_eq!(dp.invoke(sid, &prims(14_600, 0)), 0);
            dp.0.connection(sid).and_then(|c| c.program_uid)
        })
        .collect();
    assert_eq!(uids, vec![Some(2), Some(1), Some(1), Some(1)]);
}
