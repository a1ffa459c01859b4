//! Tutorial: a new congestion-control algorithm in Rust, registered with the simulator and
//! run on the `fixed` link alone and against CUBIC (see "Write a new algorithm in Rust" in
//! the README).
//!
//! `cargo run --release -p ccp-algs --example gentle`
//!
//! **Gentle** grows the window by `step` packets per RTT while the RTT stays within 10 %
//! of the smallest RTT it has seen, and shrinks it by 10 % when the RTT grows beyond that
//! or a packet is lost.

use std::time::Duration;

use ccp_agent::{BoxedAlg, CongAlg, Datapath, DatapathInfo, Flow, Programs, Report};
use ccp_algs::{ParamReader, Params, Tunable};
use ccp_sim::ccp::{AgentMode, CcpFactory};
use ccp_sim::{Scenario, Simulation};

/// 1. The datapath program: runs on every ACK in the datapath. It sums what was acked and
///    lost, keeps the smallest RTT sample, and reports once per (minimum) RTT, or at once
///    on a loss.
const PROGRAM: &str = "(def
    (Report
        (volatile acked 0)
        (volatile loss 0)
        (volatile minrtt +infinity)
    )
)
(when true
    (:= Report.acked (+ Report.acked Ack.bytes_acked))
    (:= Report.loss (+ Report.loss Ack.lost_pkts_sample))
    (:= Report.minrtt (min Report.minrtt Flow.rtt_sample_us))
    (fallthrough)
)
(when (|| (> Report.loss 0) (> Micros Report.minrtt))
    (report)
    (:= Micros 0)
)";

/// 2. The algorithm: its settings, its programs, and a flow per connection.
#[derive(Clone, Copy, Debug)]
struct Gentle {
    /// Packets added per RTT while the RTT is low.
    step: f64,
}

const TUNABLES: &[Tunable] = &[Tunable {
    name: "step",
    default: 2.0,
    description: "packets added per RTT while the RTT is within 10 % of the minimum",
}];

impl Gentle {
    fn from_params(p: &Params) -> Result<Gentle, ccp_algs::ParamError> {
        let r = ParamReader::new("gentle", TUNABLES, p)?;
        Ok(Gentle {
            step: r.above("step", 0.0, 1000.0)?,
        })
    }
}

impl CongAlg for Gentle {
    type Flow = GentleFlow;

    fn name(&self) -> &str {
        "gentle"
    }

    fn datapath_programs(&self) -> Programs {
        [("gentle".to_owned(), PROGRAM.to_owned())]
            .into_iter()
            .collect()
    }

    fn new_flow(&self, mut datapath: Datapath, info: DatapathInfo) -> GentleFlow {
        let mss = f64::from(info.mss.max(1));
        let cwnd = f64::from(info.init_cwnd) / mss;
        // Install the program, starting from the datapath's initial window.
        if let Err(e) = datapath.set_program("gentle", Some(&[("Cwnd", u64::from(info.init_cwnd))]))
        {
            eprintln!("gentle: {e}");
        }
        GentleFlow {
            datapath,
            step: self.step,
            mss,
            cwnd: cwnd.max(2.0),
            base_rtt: None,
        }
    }
}

/// 3. The per-connection state: react to each report with a new window.
struct GentleFlow {
    datapath: Datapath,
    step: f64,
    mss: f64,
    cwnd: f64,
    base_rtt: Option<Duration>,
}

impl Flow for GentleFlow {
    fn on_report(&mut self, _sock_id: u32, r: Report<'_>) {
        let (Ok(loss), Ok(rtt_us)) = (r.get_field("loss"), r.get_field("minrtt")) else {
            return;
        };
        if rtt_us == 0 || rtt_us >= u64::from(u32::MAX) {
            return; // no RTT sample in this interval
        }
        let rtt = Duration::from_micros(rtt_us);
        let base = *self.base_rtt.get_or_insert(rtt);
        self.base_rtt = Some(base.min(rtt));
        if loss > 0 || rtt > base.mul_f64(1.1) {
            self.cwnd = (self.cwnd * 0.9).max(2.0);
        } else {
            self.cwnd += self.step;
        }
        let bytes = (self.cwnd * self.mss) as u64;
        if let Err(e) = self.datapath.update_field("Cwnd", bytes) {
            eprintln!("gentle: {e}");
        }
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // 4. Register it with the simulator's controller factory (next to every built-in
    //    algorithm) and run it: the real datapath library runs the program per ACK, the
    //    real agent runs `GentleFlow::on_report`.
    let mut factory = CcpFactory::new(AgentMode::InProcess);
    factory.register_alg(
        "gentle",
        "tutorial: +step per RTT while the RTT is low, -10 % otherwise",
        Box::new(|p: &Params| {
            Gentle::from_params(p)
                .map(BoxedAlg::new)
                .map_err(|e| e.to_string())
        }),
    );
    // Alone on the link: it fills it with a short queue.
    let alone = Scenario::builtin("fixed")
        .ok_or("built-in scenario")?
        .with_algorithms(&["gentle".into()])
        .with_duration(30.0);
    print!("{}", Simulation::new(&alone, &mut factory)?.run().summary);
    // Against CUBIC: a delay-based algorithm yields to a loss-based one.
    let shared = alone.with_algorithms(&["gentle".into(), "cubic".into()]);
    let results = Simulation::new(&shared, &mut factory)?.run();
    print!("{}", results.summary);
    let out = std::env::temp_dir().join("gentle-vs-cubic");
    for p in results
        .write_csv(&out)?
        .into_iter()
        .chain(results.write_plots(&out)?)
    {
        println!("wrote {}", p.display());
    }
    Ok(())
}
