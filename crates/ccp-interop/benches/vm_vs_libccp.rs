//! Per-ACK cost of our VM (`ccp_lang::vm`) vs the C libccp on the same Reno-style
//! program and the same primitive stream, measured in one run.
//!
//! ```text
//! cargo bench -p ccp-interop --bench vm_vs_libccp                  # wall-clock table
//! vm_vs_libccp --callgrind vm|libccp N [0]                         # N ACKs, one impl
//! ```
//!
//! The program is `examples/programs/reno.ccp` when present, otherwise
//! `ccp_interop::workload::RENO_PROGRAM`. Both implementations get the program from the
//! same portus INSTALL bytes, then one CHANGE_PROG; each ACK our side also consumes the
//! cwnd/rate calls and encodes the MEASURE bytes into a buffer (with `ccp-wire`), as
//! libccp does before its `send_msg` callback. The `--callgrind` mode is for
//! `crates/ccp-interop/scripts/callgrind_vm.sh` (instructions per ACK); with a trailing
//! `0` it generates the N ACKs but does not process them (the baseline).

use std::hint::black_box;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use ccp_interop::libccp_ffi::{Libccp, set_clock_us};
use ccp_interop::msg::{decode_install, encode_change_prog};
use ccp_interop::workload::{AckStream, RENO_PROGRAM};
use ccp_lang::vm::{Call, Flow, Primitives, Program};
use libccp as _;

const UID: u32 = 1;
const SID: u16 = 1;
/// Mock-clock value at `ccp_init` (libccp's time zero).
const T0: u64 = 1_000_000;

fn program_source() -> (String, String) {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/programs/reno.ccp");
    match std::fs::read_to_string(&p) {
        Ok(s) => ("examples/programs/reno.ccp".to_string(), s),
        Err(_) => (
            "workload::RENO_PROGRAM".to_string(),
            RENO_PROGRAM.to_string(),
        ),
    }
}

fn install_bytes(src: &str) -> Vec<u8> {
    let (bin, _) = portus::lang::compile(src.as_bytes(), &[]).expect("portus compiles");
    portus::serialize::serialize(&portus::serialize::install::Msg {
        sid: 0,
        program_uid: UID,
        num_events: bin.events.len() as u32,
        num_instrs: bin.instrs.len() as u32,
        instrs: bin,
    })
    .expect("portus serializes")
}

/// Counts both implementations must agree on.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Totals {
    reports: u64,
    calls: u64,
    errors: u64,
}

struct Ours {
    flow: Flow,
    buf: [u8; 900],
    sink: u64,
    totals: Totals,
}

impl Ours {
    fn new(install: &[u8]) -> Ours {
        let (uid, bin) = decode_install(install).expect("decodes");
        let prog = Arc::new(Program::new(uid, bin).expect("loads"));
        let mut flow = Flow::new();
        flow.stage_change_program(prog, []).expect("stages");
        Ours {
            flow,
            buf: [0; 900],
            sink: 0,
            totals: Totals::default(),
        }
    }

    #[inline(never)]
    fn ack(&mut self, p: &Primitives, now_us: u64) {
        let out = self.flow.invoke(p, now_us);
        for c in out.calls() {
            self.totals.calls += 1;
            match c {
                Call::SetCwnd(v) => self.sink ^= v,
                Call::SetRateAbs(v) => self.sink = self.sink.wrapping_add(v),
            }
        }
        if let Some(m) = out.report() {
            // Into a fixed buffer, like libccp's 900-byte stack buffer.
            let n = ccp_wire::encode_measure_to_slice(
                u32::from(SID),
                m.program_uid,
                m.fields,
                &mut self.buf,
            )
            .unwrap_or(0);
            self.sink = self.sink.wrapping_add(n as u64 + u64::from(self.buf[20]));
            self.totals.reports += 1;
        }
        if out.libccp_code() != 0 {
            self.totals.errors += 1;
        }
    }
}

struct Theirs {
    c: Libccp,
    base_sent: u64,
    base_calls: u64,
    errors: u64,
}

impl Theirs {
    fn new(install: &[u8]) -> Theirs {
        set_clock_us(T0);
        let mut c = Libccp::new(1, 2, 1, false).expect("ccp_init");
        assert_eq!(c.read_msg(install), Ok(0), "INSTALL");
        let sid = c.start_connection(14_480, 1_448).expect("connection");
        assert_eq!(sid, SID);
        assert_eq!(c.read_msg(&encode_change_prog(1, UID, &[])), Ok(0));
        let r = c.recorder();
        let (base_sent, base_calls) = (r.n_sent, r.n_calls);
        Theirs {
            c,
            base_sent,
            base_calls,
            errors: 0,
        }
    }

    #[inline(never)]
    fn ack(&mut self, p: &Primitives, now_us: u64) {
        set_clock_us(T0 + now_us);
        if self.c.invoke(SID, p) != Ok(0) {
            self.errors += 1;
        }
    }

    fn totals(&mut self) -> Totals {
        let errors = self.errors;
        let (bs, bc) = (self.base_sent, self.base_calls);
        let r = self.c.recorder();
        Totals {
            reports: r.n_sent - bs,
            calls: r.n_calls - bc,
            errors,
        }
    }
}

fn run_ours(install: &[u8], acks: &[(Primitives, u64)]) -> (f64, Totals) {
    let mut o = Ours::new(install);
    let t = Instant::now();
    for (p, now) in acks {
        o.ack(p, *now);
    }
    let ns = t.elapsed().as_nanos() as f64 / acks.len() as f64;
    black_box(o.sink);
    (ns, o.totals)
}

fn run_theirs(install: &[u8], acks: &[(Primitives, u64)]) -> (f64, Totals) {
    let mut th = Theirs::new(install);
    let t = Instant::now();
    for (p, now) in acks {
        th.ack(p, *now);
    }
    let ns = t.elapsed().as_nanos() as f64 / acks.len() as f64;
    (ns, th.totals())
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn table(name: &str, install: &[u8]) {
    const ACKS: usize = 500_000;
    const ROUNDS: usize = 9;
    let acks = AckStream::new(42).take_acks(ACKS);
    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    let (mut t_ours, mut t_theirs) = (Totals::default(), Totals::default());
    for round in 0..ROUNDS {
        // Alternate the order so that drift on a shared machine hits both sides.
        if round % 2 == 0 {
            let (a, ta) = run_ours(install, &acks);
            let (b, tb) = run_theirs(install, &acks);
            ours.push(a);
            theirs.push(b);
            (t_ours, t_theirs) = (ta, tb);
        } else {
            let (b, tb) = run_theirs(install, &acks);
            let (a, ta) = run_ours(install, &acks);
            ours.push(a);
            theirs.push(b);
            (t_ours, t_theirs) = (ta, tb);
        }
    }
    assert_eq!(t_ours, t_theirs, "both implementations did the same work");
    let (mo, mt) = (median(&mut ours), median(&mut theirs));
    let (lo, lt) = (ours[0], theirs[0]);
    println!("program: {name}; {ACKS} ACKs per round, {ROUNDS} rounds (alternating order)");
    println!(
        "work per run: {} reports, {} cwnd/rate calls, {} errors",
        t_ours.reports, t_ours.calls, t_ours.errors
    );
    println!();
    println!("| implementation      | median ns/ACK | min ns/ACK |");
    println!("|---------------------|---------------|------------|");
    println!("| ccp_lang::vm (Rust) | {mo:>13.1} | {lo:>10.1} |");
    println!("| libccp 1.2 (C)      | {mt:>13.1} | {lt:>10.1} |");
    println!();
    println!(
        "ratio ours/libccp: {:.3} (median), {:.3} (min); goal <= 0.5",
        mo / mt,
        lo / lt
    );
}

/// Set up `which`, generate `n` ACKs, and feed them to it only if `process`.
fn callgrind(which: &str, n: usize, process: bool, install: &[u8]) {
    let all = AckStream::new(42).take_acks(n);
    let acks = if process { &all[..] } else { &all[..0] };
    match which {
        "vm" => {
            let mut o = Ours::new(install);
            for (p, now) in acks {
                o.ack(p, *now);
            }
            black_box(o.sink);
            eprintln!("vm: {n} ACKs, {:?}", o.totals);
        }
        "libccp" => {
            let mut th = Theirs::new(install);
            for (p, now) in acks {
                th.ack(p, *now);
            }
            eprintln!("libccp: {n} ACKs, {:?}", th.totals());
        }
        other => {
            eprintln!("unknown implementation {other:?} (vm|libccp)");
            std::process::exit(2);
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (name, src) = program_source();
    let install = install_bytes(&src);
    if let Some(i) = args.iter().position(|a| a == "--callgrind") {
        let which = args.get(i + 1).map(String::as_str).unwrap_or("vm");
        let n = args
            .get(i + 2)
            .and_then(|s| s.parse().ok())
            .unwrap_or(100_000);
        let process = args.get(i + 3).map(String::as_str) != Some("0");
        callgrind(which, n, process, &install);
        return;
    }
    // `cargo test --benches` runs bench binaries without `--bench`: keep that quick.
    if !args.iter().any(|a| a == "--bench") {
        let acks = AckStream::new(1).take_acks(2_000);
        let (_, a) = run_ours(&install, &acks);
        let (_, b) = run_theirs(&install, &acks);
        assert_eq!(a, b);
        println!("vm_vs_libccp smoke run ok ({a:?})");
        return;
    }
    table(&name, &install);
}
