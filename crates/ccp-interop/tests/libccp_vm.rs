//! Differential test: our VM (`ccp_lang::vm`) against the real C libccp.
//!
//! For every program of `corpus/*.ccp` (plus a few built-in programs that stress aborts,
//! fallthrough, `Micros` writes and every operator), compiled by portus and installed
//! with portus's INSTALL serialization, we run ≥ 1,000 seeded random sequences of
//! operations against both implementations:
//!
//! * invocations with random primitives (zeros, small, large, losses, timeouts, rtt 0)
//!   after random clock advances (mock clock in µs);
//! * UPDATE_FIELDS to the program's control variables, `Cwnd`, `Rate`, other implicit
//!   registers (ignored) and invalid register types (−53);
//! * CHANGE_PROG to one of two installed programs (or an unknown uid) with initial
//!   values.
//!
//! The same message bytes go to libccp (`ccp_read_msg`) and — parsed by `ccp-wire` in
//! datapath mode — to our VM. Asserted identical: every return code, the sequence of
//! `set_cwnd`/`set_rate_abs` calls (our values truncated to u32 like libccp's C ABI) and
//! the MEASURE bytes (ours encoded by `ccp-wire`).
//!
//! `ccp-wire` rejects a whole UPDATE_FIELDS / CHANGE_PROG that contains an invalid
//! record type, with libccp's code (−53), while libccp has already staged the records
//! (and the program switch) before the bad one. The test checks the code and then
//! replays the raw records, as a libccp-exact datapath has to.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use ccp_interop::alloc_count::{CountingAlloc, allocations};
use ccp_interop::libccp_ffi::{Callback, Libccp, clock_us, set_clock_us};
use ccp_interop::msg::{Record, decode_change_prog, decode_install, decode_update_fields};
use ccp_interop::msg::{encode_install, encode_measure};
use ccp_interop::workload::{AckStream, RENO_PROGRAM};
use ccp_lang::bytecode::{Bin, RegKind};
use ccp_lang::vm::{Call, Flow, Primitives, Program};
use ccp_wire::{ChangeProg, Install, ParseOptions, UpdateField, UpdateFields};
use libccp as _;
use portus::lang::{Reg, Type};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

/// Sequences per program in CI.
const SEQUENCES: u64 = 1_000;
/// Operations per sequence.
const SEQ_LEN: usize = 48;

const BUILTIN_OPS: &str = "\
(def
    (Report
        (volatile sum 0)
        (volatile diff 0)
        (volatile prod 0)
        (volatile quot 0)
        (volatile avg 0)
        (wrapmax 0)
        (volatile lo +infinity)
        (volatile hi 0)
        (flag false)
        (volatile micros 0)
        (volatile now 0)
        (volatile sent 1073741823)
        (volatile cond 0)
    )
    (volatile acc 0)
    (weight 8)
    (target 0)
)
(when true
    (:= Report.sum (+ Report.sum Ack.bytes_acked))
    (:= Report.diff (- (max Ack.bytes_acked Ack.packets_acked) Ack.packets_acked))
    (:= Report.prod (* Ack.packets_acked Ack.ecn_packets))
    (:= Report.quot (/ Flow.rtt_sample_us (+ Ack.packets_acked 1)))
    (:= Report.avg (ewma weight Flow.rtt_sample_us))
    (:= Report.wrapmax (wrapped_max Report.wrapmax Ack.bytes_misordered))
    (:= Report.lo (min Report.lo Flow.rtt_sample_us))
    (:= Report.hi (max Report.hi Flow.rate_outgoing))
    (:= Report.flag (|| Flow.was_timeout (> Ack.lost_pkts_sample 0)))
    (:= Report.micros Micros)
    (:= Report.now Ack.now)
    (:= Report.cond (if Flow.was_timeout Flow.bytes_in_flight))
    (:= Report.hi (!if Ack.ecn_bytes Report.hi))
    (:= acc (+ acc 1))
    (fallthrough)
)
(when (&& (> target 0) (< Cwnd target))
    (:= Cwnd (+ Cwnd Ack.bytes_acked))
    (fallthrough)
)
(when (== acc 5)
    (report)
    (:= Micros 7)
)
(when (> Micros 100000)
    (:= Rate (/ Flow.rate_incoming 2))
    (:= Cwnd (max (- Cwnd (min Cwnd Ack.bytes_acked)) 2896))
    (report)
)
";

const BUILTIN_ABORTS: &str = "\
(def (Report (volatile a 0) (volatile b 0) (volatile c 0)) (n 0))
(when true
    (:= n (+ n 1))
    (:= Report.a (- Ack.bytes_acked Ack.packets_acked))
    (:= Report.b (/ Flow.rate_outgoing Ack.packets_acked))
    (:= Report.c (* Flow.rate_outgoing Flow.rate_incoming))
    (:= Report.c (+ Report.c Flow.rate_incoming))
    (fallthrough)
)
(when (> n 3)
    (:= n 0)
    (report)
)
";

const BUILTIN_EVENTS: &str = "\
(def (Report (volatile trace 0) (volatile pending 0)) (k 0) (volatile v 3))
(when (> Ack.bytes_acked 1000)
    (:= Report.trace (+ (* (min Report.trace 1000000) 10) 1))
)
(when (> Ack.packets_acked 2)
    (:= Report.trace (+ (* (min Report.trace 1000000) 10) 2))
    (fallthrough)
)
(when (== Ack.lost_pkts_sample 0)
    (:= Report.trace (+ (* (min Report.trace 1000000) 10) 3))
)
(when true
    (:= Report.trace (+ (* (min Report.trace 1000000) 10) 4))
    (:= Report.pending (+ Flow.bytes_pending v))
    (:= k (+ k 1))
    (:= v (+ v 1))
)
(when (> k 2)
    (report)
    (:= k 0)
)
";

/// One program compiled by portus, plus what the generators need to know about it.
struct Compiled {
    name: String,
    bin: portus::lang::Bin,
    /// Control registers the program uses: (register type 0 or 8, index).
    controls: Vec<(u8, u32)>,
}

impl Compiled {
    fn new(name: String, src: &str) -> Compiled {
        let (bin, _scope) = portus::lang::compile(src.as_bytes(), &[])
            .unwrap_or_else(|e| panic!("portus cannot compile {name}: {e:?}"));
        let mut c = Compiled {
            name,
            bin,
            controls: Vec::new(),
        };
        // Discover the control registers from our decoding of portus's bytes.
        let (_, ours) = decode_install(&c.install(1)).expect("portus INSTALL decodes");
        let mut controls: Vec<(u8, u32)> = ours
            .instrs
            .iter()
            .flat_map(|i| [i.result, i.left, i.right])
            .filter(|o| matches!(o.kind, RegKind::Control | RegKind::VolatileControl))
            .map(|o| (o.kind as u8, o.value))
            .collect();
        controls.sort_unstable();
        controls.dedup();
        c.controls = controls;
        c
    }

    /// portus's INSTALL message bytes for this program under `uid`.
    fn install(&self, uid: u32) -> Vec<u8> {
        let msg = portus::serialize::install::Msg {
            sid: 0,
            program_uid: uid,
            num_events: self.bin.events.len() as u32,
            num_instrs: self.bin.instrs.len() as u32,
            instrs: self.bin.clone(),
        };
        portus::serialize::serialize(&msg).expect("portus serializes INSTALL")
    }
}

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus")
}

/// Every `corpus/*.ccp` file (sorted) plus the built-in programs.
fn programs() -> Vec<Compiled> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(corpus_dir())
        .map(|rd| {
            rd.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "ccp"))
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    let mut out: Vec<Compiled> = files
        .iter()
        .map(|p| {
            let src = std::fs::read_to_string(p).expect("readable corpus file");
            let name = p
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            Compiled::new(name, &src)
        })
        .collect();
    for (name, src) in [
        ("builtin:reno", RENO_PROGRAM),
        ("builtin:ops", BUILTIN_OPS),
        ("builtin:aborts", BUILTIN_ABORTS),
        ("builtin:events", BUILTIN_EVENTS),
    ] {
        out.push(Compiled::new(name.to_string(), src));
    }
    out
}

fn gen_u64(rng: &mut ChaCha8Rng) -> u64 {
    match rng.random_range(0..100) {
        0..15 => 0,
        15..40 => rng.random_range(1..100),
        40..65 => rng.random_range(100..1_000_000),
        65..85 => rng.random_range(0..=u64::from(u32::MAX)),
        85..95 => rng.random(),
        _ => u64::MAX - rng.random_range(0..1_000),
    }
}

fn gen_u32(rng: &mut ChaCha8Rng) -> u32 {
    match rng.random_range(0..100) {
        0..30 => 0,
        30..55 => rng.random_range(1..100),
        55..85 => rng.random_range(100..2_000_000),
        _ => rng.random(),
    }
}

fn gen_prims(rng: &mut ChaCha8Rng) -> Primitives {
    let small = rng.random_bool(0.6);
    let mut p = Primitives {
        bytes_acked: gen_u32(rng),
        packets_acked: gen_u32(rng),
        bytes_misordered: gen_u32(rng),
        packets_misordered: gen_u32(rng),
        ecn_bytes: gen_u32(rng),
        ecn_packets: gen_u32(rng),
        lost_pkts_sample: if rng.random_bool(0.8) {
            0
        } else {
            gen_u32(rng)
        },
        was_timeout: rng.random_bool(0.05),
        rtt_sample_us: if rng.random_bool(0.1) {
            0
        } else {
            gen_u64(rng)
        },
        rate_outgoing: gen_u64(rng),
        rate_incoming: gen_u64(rng),
        bytes_in_flight: gen_u32(rng),
        packets_in_flight: gen_u32(rng),
        snd_cwnd: gen_u32(rng),
        snd_rate: gen_u64(rng),
        bytes_pending: gen_u32(rng),
    };
    if small {
        // Mostly realistic magnitudes, so that programs also run to completion.
        p.bytes_acked %= 20_000;
        p.packets_acked %= 16;
        p.rate_outgoing %= 1 << 34;
        p.rate_incoming %= 1 << 34;
        p.rtt_sample_us %= 1 << 20;
        p.ecn_packets %= 8;
    }
    p
}

fn gen_advance(rng: &mut ChaCha8Rng) -> u64 {
    match rng.random_range(0..100) {
        0..5 => 0,
        5..45 => rng.random_range(1..100),
        45..75 => rng.random_range(100..50_000),
        75..95 => rng.random_range(50_000..2_000_000),
        _ => rng.random_range(1 << 32..1 << 40),
    }
}

/// A random update record (as a portus `Reg`) for a program with `controls`.
fn gen_record(rng: &mut ChaCha8Rng, controls: &[(u8, u32)]) -> (Reg, u64) {
    let num = || Type::Num(None);
    let reg = match rng.random_range(0..100) {
        0..55 if !controls.is_empty() => {
            let (t, i) = controls[rng.random_range(0..controls.len())];
            Reg::Control(i as u8, num(), t == 8)
        }
        0..70 => Reg::Implicit(4, num()),
        70..85 => Reg::Implicit(5, num()),
        85..90 => Reg::Implicit(rng.random_range(0..4), num()),
        90..95 => Reg::Control(rng.random_range(0..16), num(), rng.random_bool(0.5)),
        _ => match rng.random_range(0..4) {
            0 => Reg::Local(rng.random_range(0..6), num()),
            1 => Reg::Report(rng.random_range(0..16), num(), rng.random_bool(0.5)),
            2 => Reg::Tmp(rng.random_range(0..8), num()),
            _ => Reg::Primitive(rng.random_range(0..15), num()),
        },
    };
    (reg, gen_u64(rng))
}

/// What happened at one step, for failure reports (printed with `Debug`).
#[derive(Debug)]
#[allow(dead_code)]
enum Step {
    Invoke { now_us: u64, prims: Primitives },
    Update(Vec<Record>),
    ChangeProg(u32, Vec<Record>),
}

struct Failure {
    program: String,
    seed: u64,
    step: usize,
    what: String,
    history: Vec<Step>,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "program {} seed {} step {}: {}",
            self.program, self.seed, self.step, self.what
        )?;
        for (i, s) in self.history.iter().enumerate() {
            writeln!(f, "  #{i}: {s:?}")?;
        }
        Ok(())
    }
}

/// Totals over a run, for the summary line.
#[derive(Default, Debug, Clone, Copy)]
struct Stats {
    sequences: u64,
    invokes: u64,
    reports: u64,
    aborts: u64,
    no_program: u64,
    calls: u64,
    updates: u64,
    change_progs: u64,
    stage_errors: u64,
}

impl std::ops::AddAssign for Stats {
    fn add_assign(&mut self, o: Stats) {
        self.sequences += o.sequences;
        self.invokes += o.invokes;
        self.reports += o.reports;
        self.aborts += o.aborts;
        self.no_program += o.no_program;
        self.calls += o.calls;
        self.updates += o.updates;
        self.change_progs += o.change_progs;
        self.stage_errors += o.stage_errors;
    }
}

const SID: u16 = 1;

/// ccp-wire's update records as `(type byte, index, value)`.
fn records(updates: &[UpdateField]) -> Vec<Record> {
    updates
        .iter()
        .map(|u| (u.kind as u8, u.index, u.value))
        .collect()
}

/// Run one random sequence on `target` (uid 1) with `alt` (uid 2) also installed.
fn run_sequence(
    target: &Compiled,
    alt: &Compiled,
    seed: u64,
    stats: &mut Stats,
) -> Result<(), Failure> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut history = Vec::new();
    let fail = |step: usize, what: String, history: Vec<Step>| Failure {
        program: target.name.clone(),
        seed,
        step,
        what,
        history,
    };

    set_clock_us(rng.random_range(0..1 << 40));
    let mut c =
        Libccp::new(4, 4, 7, true).map_err(|e| fail(0, format!("libccp init: {e}"), Vec::new()))?;
    let time_zero = c.time_zero();

    // Install both programs in libccp and in our program table, from the same bytes.
    let mut table: HashMap<u32, Arc<Program>> = HashMap::new();
    let mut controls: HashMap<u32, &[(u8, u32)]> = HashMap::new();
    for (uid, comp) in [(1u32, target), (2u32, alt)] {
        let bytes = comp.install(uid);
        let code = c.read_msg(&bytes);
        if code != Ok(0) {
            return Err(fail(
                0,
                format!("libccp INSTALL uid {uid}: {code:?}"),
                history,
            ));
        }
        let Install {
            program_uid: got_uid,
            bin,
            ..
        } = Install::parse_with(&bytes, &ParseOptions::DATAPATH)
            .map_err(|e| fail(0, format!("ccp-wire INSTALL: {e}"), Vec::new()))?;
        let ours: (u32, Bin) = decode_install(&bytes)
            .map_err(|e| fail(0, format!("decode INSTALL: {e}"), Vec::new()))?;
        assert_eq!(
            ours,
            (got_uid, bin.clone()),
            "ccp-wire and test decoder agree"
        );
        assert_eq!(encode_install(got_uid, &bin), bytes, "INSTALL re-encodes");
        let prog = Program::new(got_uid, bin)
            .map_err(|e| fail(0, format!("our load: {e}"), Vec::new()))?;
        table.insert(got_uid, Arc::new(prog));
        controls.insert(uid, &comp.controls);
    }
    let sid = c
        .start_connection(14_600, 1_460)
        .map_err(|e| fail(0, format!("start: {e}"), Vec::new()))?;
    assert_eq!(sid, SID);
    c.recorder().sent.clear();
    let mut flow = Flow::new();
    let mut current_uid = 1u32;
    stats.sequences += 1;

    for step in 0..SEQ_LEN {
        let roll = rng.random_range(0..100);
        if (step == 0 && roll < 70) || (step > 0 && roll < 8) {
            // CHANGE_PROG, with presets.
            let uid = match rng.random_range(0..20) {
                0 => 99,
                1..10 => 1,
                _ => 2,
            };
            let ctl = controls.get(&uid).copied().unwrap_or(&[]);
            let n = rng.random_range(0..4);
            let fields: Vec<(Reg, u64)> = (0..n).map(|_| gen_record(&mut rng, ctl)).collect();
            let bytes = portus::serialize::serialize(&portus::serialize::changeprog::Msg {
                sid: u32::from(SID),
                program_uid: uid,
                num_fields: fields.len() as u32,
                fields,
            })
            .expect("portus serializes CHANGE_PROG");
            let (_, uid2, raw) = decode_change_prog(&bytes).expect("decodes");
            history.push(Step::ChangeProg(uid2, raw.clone()));
            let recs = match ChangeProg::parse_with(&bytes, &ParseOptions::DATAPATH) {
                Ok(cp) => {
                    assert_eq!(cp.program_uid, uid2);
                    records(&cp.updates)
                }
                Err(e) => {
                    assert_eq!(e.libccp_code(), -53, "ccp-wire rejects {raw:?}: {e}");
                    raw
                }
            };
            let theirs = c.read_msg(&bytes).map_err(|e| {
                fail(
                    step,
                    format!("harness refused CHANGE_PROG: {e}"),
                    Vec::new(),
                )
            })?;
            let ours = match table.get(&uid2) {
                // A datapath answers an unknown uid the way libccp does (+8).
                None => 8,
                Some(p) => match flow.stage_change_program(Arc::clone(p), recs) {
                    Ok(()) => 0,
                    Err(e) => e.libccp_code(),
                },
            };
            if table.contains_key(&uid2) {
                current_uid = uid2;
            }
            stats.change_progs += 1;
            stats.stage_errors += u64::from(ours < 0);
            if theirs != ours {
                return Err(fail(
                    step,
                    format!("CHANGE_PROG code: libccp {theirs}, ours {ours}"),
                    history,
                ));
            }
        } else if roll < 20 {
            let ctl = controls.get(&current_uid).copied().unwrap_or(&[]);
            let n = rng.random_range(1..4);
            let fields: Vec<(Reg, u64)> = (0..n).map(|_| gen_record(&mut rng, ctl)).collect();
            let bytes = portus::serialize::serialize(&portus::serialize::update_field::Msg {
                sid: u32::from(SID),
                num_fields: fields.len() as u8,
                fields,
            })
            .expect("portus serializes UPDATE_FIELDS");
            let (_, raw) = decode_update_fields(&bytes).expect("decodes");
            history.push(Step::Update(raw.clone()));
            let recs = match UpdateFields::parse_with(&bytes, &ParseOptions::DATAPATH) {
                Ok(u) => records(&u.updates),
                Err(e) => {
                    assert_eq!(e.libccp_code(), -53, "ccp-wire rejects {raw:?}: {e}");
                    raw
                }
            };
            let theirs = c
                .read_msg(&bytes)
                .map_err(|e| fail(step, format!("harness refused UPDATE: {e}"), Vec::new()))?;
            let mut ours = 0;
            for (t, i, v) in recs {
                if let Err(e) = flow.stage_update(t, i, v) {
                    ours = e.libccp_code();
                    break;
                }
            }
            stats.updates += 1;
            stats.stage_errors += u64::from(ours < 0);
            if theirs != ours {
                return Err(fail(
                    step,
                    format!("UPDATE code: libccp {theirs}, ours {ours}"),
                    history,
                ));
            }
        } else {
            set_clock_us(clock_us() + gen_advance(&mut rng));
            let prims = gen_prims(&mut rng);
            let now_us = clock_us() - time_zero;
            history.push(Step::Invoke { now_us, prims });

            {
                let r = c.recorder();
                r.calls.clear();
                r.sent.clear();
            }
            let theirs = c
                .invoke(SID, &prims)
                .map_err(|e| fail(step, format!("harness invoke: {e}"), Vec::new()))?;
            let their_calls = std::mem::take(&mut c.recorder().calls);
            let their_sent = std::mem::take(&mut c.recorder().sent);

            let out = flow.invoke(&prims, now_us);
            let ours = out.libccp_code();
            let our_calls: Vec<Callback> = out
                .calls()
                .map(|c| match c {
                    Call::SetCwnd(v) => Callback::SetCwnd(v as u32),
                    Call::SetRateAbs(v) => Callback::SetRateAbs(v as u32),
                })
                .collect();
            let our_sent: Vec<Vec<u8>> = out
                .report()
                .map(|m| {
                    let mut buf = Vec::new();
                    ccp_wire::encode_measure_into(
                        u32::from(SID),
                        m.program_uid,
                        m.fields,
                        &mut buf,
                    )
                    .expect("ccp-wire encodes MEASURE");
                    assert_eq!(buf, encode_measure(u32::from(SID), m.program_uid, m.fields));
                    buf
                })
                .into_iter()
                .collect();

            stats.invokes += 1;
            stats.aborts += u64::from(ours < 0 && ours != -96);
            stats.no_program += u64::from(ours == -96);
            stats.reports += our_sent.len() as u64;
            stats.calls += our_calls.len() as u64;
            let mut diff = String::new();
            if theirs != ours {
                let _ = write!(diff, "code: libccp {theirs}, ours {ours}; ");
            }
            if their_calls != our_calls {
                let _ = write!(diff, "calls: libccp {their_calls:?}, ours {our_calls:?}; ");
            }
            if their_sent != our_sent {
                let _ = write!(diff, "MEASURE: libccp {their_sent:?}, ours {our_sent:?}");
            }
            if !diff.is_empty() {
                return Err(fail(step, diff, history));
            }
        }
    }
    Ok(())
}

/// Run `sequences` sequences for every program, on two threads; panic on the first
/// mismatch with a replayable description.
fn run_all(sequences: u64) -> Stats {
    let progs = programs();
    assert!(progs.len() >= 4, "built-in programs present");
    let n = progs.len();
    let (tx, rx) = std::sync::mpsc::channel::<(String, Stats)>();
    let progs = &progs;
    std::thread::scope(|s| {
        for worker in 0..2usize {
            let tx = tx.clone();
            s.spawn(move || {
                for (k, target) in progs.iter().enumerate() {
                    if k % 2 != worker {
                        continue;
                    }
                    let alt = &progs[(k + 1) % n];
                    let mut stats = Stats::default();
                    for case in 0..sequences {
                        let seed = (k as u64) << 32 | case;
                        if let Err(f) = run_sequence(target, alt, seed, &mut stats) {
                            panic!("libccp and our VM differ:\n{f}");
                        }
                    }
                    let _ = tx.send((target.name.clone(), stats));
                }
            });
        }
    });
    drop(tx);
    let mut total = Stats::default();
    let mut per: Vec<(String, Stats)> = rx.into_iter().collect();
    per.sort_by(|a, b| a.0.cmp(&b.0));
    for (name, st) in &per {
        eprintln!(
            "{name}: {} sequences, {} invokes ({} reports, {} aborts, {} before any \
             program, {} callbacks), {} updates, {} change_progs ({} staging errors)",
            st.sequences,
            st.invokes,
            st.reports,
            st.aborts,
            st.no_program,
            st.calls,
            st.updates,
            st.change_progs,
            st.stage_errors
        );
        total += *st;
    }
    assert_eq!(per.len(), n, "every program ran");
    eprintln!("total over {n} programs: {total:?}");
    total
}

#[test]
fn vm_matches_libccp_on_random_sequences() {
    let total = run_all(SEQUENCES);
    // The generators must actually exercise the interesting paths.
    assert!(total.reports > 0 && total.aborts > 0 && total.stage_errors > 0);
    assert!(total.no_program > 0);
    assert!(total.calls > total.invokes / 2);
}

#[test]
#[ignore = "stress: run with --ignored"]
fn vm_matches_libccp_stress() {
    let n = std::env::var("CCP_VM_STRESS_SEQUENCES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(50_000);
    run_all(n);
}

#[test]
fn harness_reproduces_libccp_ready_create_and_close_bytes() {
    set_clock_us(1_000);
    let mut c = Libccp::new(2, 2, 0xAA, true).expect("init");
    assert_eq!(
        c.recorder().sent,
        vec![vec![5, 0, 12, 0, 0, 0, 0, 0, 0xAA, 0, 0, 0]],
        "READY (spec §2.4)"
    );
    let sid = c.start_connection(100, 10).expect("start");
    assert_eq!(sid, 1);
    let create = c.recorder().sent[1].clone();
    assert_eq!(
        &create[..16],
        &[0, 0, 96, 0, 1, 0, 0, 0, 100, 0, 0, 0, 10, 0, 0, 0]
    );
    assert_eq!(create.len(), 96);
    // No program yet: −96, and no callbacks.
    assert_eq!(c.invoke(sid, &Primitives::default()), Ok(-96));
    c.free_connection(sid).expect("free");
    assert_eq!(
        c.recorder().sent.last(),
        Some(&vec![1, 0, 16, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
        "close MEASURE (spec §2.6)"
    );
}

#[test]
fn harness_refuses_inputs_outside_libccp_defined_behaviour() {
    set_clock_us(0);
    let mut c = Libccp::new(1, 2, 1, true).expect("init");
    // INSTALL whose counts exceed the buffer.
    let mut short = vec![2, 0, 20, 0, 0, 0, 0, 0, 5, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0];
    assert!(c.read_msg(&short).is_err());
    // A program reading tmp register 9.
    let bin = Bin {
        events: vec![ccp_lang::bytecode::Event {
            cond_start: 0,
            cond_len: 1,
            body_start: 1,
            body_len: 0,
        }],
        instrs: vec![ccp_lang::bytecode::Instr {
            op: ccp_lang::bytecode::Op::Bind,
            result: ccp_lang::bytecode::Operand::new(RegKind::Implicit, 0),
            left: ccp_lang::bytecode::Operand::new(RegKind::Implicit, 0),
            right: ccp_lang::bytecode::Operand::new(RegKind::Tmp, 9),
        }],
    };
    assert!(c.read_msg(&encode_install(5, &bin)).is_err());
    // Unknown message types are passed through (libccp answers −32).
    short[0] = 9;
    assert_eq!(c.read_msg(&short), Ok(-32));
}

#[test]
fn vm_invoke_does_not_allocate() {
    let progs = [
        Compiled::new("reno".into(), RENO_PROGRAM),
        Compiled::new("ops".into(), BUILTIN_OPS),
    ];
    let table: Vec<Arc<Program>> = progs
        .iter()
        .enumerate()
        .map(|(k, c)| {
            let (uid, bin) = decode_install(&c.install(k as u32 + 1)).expect("decodes");
            Arc::new(Program::new(uid, bin).expect("loads"))
        })
        .collect();
    let acks = AckStream::new(3).take_acks(20_000);
    let mut flow = Flow::new();
    let (mut reports, mut calls) = (0u64, 0u64);
    let mut invoke_allocs = 0;
    for (i, (p, now)) in acks.iter().enumerate() {
        // Staging (the IPC side) may allocate; applying it in `invoke` must not.
        if i % 1_000 == 0 {
            let prog = Arc::clone(&table[(i / 1_000) % 2]);
            flow.stage_change_program(prog, [(2, 4, 20_000), (0, 1, 50_000)])
                .expect("stages");
        } else if i % 97 == 0 {
            flow.stage_update(2, 5, 1_000_000).expect("stages");
        }
        let before = allocations();
        let out = flow.invoke(p, *now);
        reports += u64::from(out.report().is_some());
        calls += out.calls().count() as u64;
        invoke_allocs += allocations() - before;
    }
    assert_eq!(invoke_allocs, 0, "allocations inside Flow::invoke");
    assert!(
        reports > 10 && calls >= acks.len() as u64,
        "{reports} {calls}"
    );
    // The counter works: an allocation on this thread is seen.
    let before = allocations();
    let v = std::hint::black_box(vec![1u8; 10]);
    assert!(allocations() > before && v.len() == 10);
}
