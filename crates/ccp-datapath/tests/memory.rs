//! The per-ACK path allocates nothing once warmed up (program runs, reports, callbacks,
//! fallback), and the memory a connection costs is small and measured (the figure stated
//! in docs/datapath.md).

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use ccp_datapath::{Config, Datapath, DatapathInfo, Invoked, Primitives};
use ccp_lang::compile;
use ccp_wire::{ChangeProg, Encode, Install};
use common::Mock;

struct Counting;

thread_local! {
    /// Allocations made by this thread (other tests run on other threads).
    static ALLOCS: Cell<u64> = const { Cell::new(0) };
}

fn count() {
    let _ = ALLOCS.try_with(|c| c.set(c.get() + 1));
}

fn allocs() -> u64 {
    ALLOCS.with(Cell::get)
}

// SAFETY: forwards to the system allocator, only counting calls.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// generic-cong-avoid's per-interval report program shape: 6 report fields, 1 control.
const RENO_LIKE: &str = "(def (Report (volatile acked 0) (volatile sacked 0) (volatile loss 0)
                                (volatile timeout false) (volatile rtt 0) (volatile inflight 0))
                        (reportTime 0))
    (when true
        (:= Report.inflight Flow.packets_in_flight)
        (:= Report.rtt Flow.rtt_sample_us)
        (:= Report.acked (+ Report.acked Ack.bytes_acked))
        (:= Report.sacked (+ Report.sacked Ack.packets_misordered))
        (:= Report.loss Ack.lost_pkts_sample)
        (:= Report.timeout Flow.was_timeout)
        (fallthrough))
    (when (|| Report.timeout (> Report.loss 0))
        (report)
        (:= Micros 0))
    (when (> Micros reportTime)
        (report)
        (:= Micros 0))";

fn setup(flows: u32) -> Datapath<Mock> {
    let mut dp = Datapath::init(Config::new(1), Mock::default()).unwrap();
    let info = DatapathInfo {
        init_cwnd: 14_600,
        mss: 1460,
        ..DatapathInfo::default()
    };
    let p = compile(RENO_LIKE, 1).expect("compiles");
    let install = Install {
        sid: 0,
        program_uid: 1,
        bin: p.bin,
    };
    dp.read_msg(&install.encode().unwrap()).unwrap();
    for _ in 0..flows {
        let sid = dp.connection_start(info, Some("reno"), ()).unwrap();
        let cp = ChangeProg {
            sid,
            program_uid: 1,
            updates: vec![],
        };
        dp.read_msg(&cp.encode().unwrap()).unwrap();
    }
    dp
}

fn prims(i: u32) -> Primitives {
    Primitives {
        bytes_acked: 1460,
        packets_acked: 1,
        rtt_sample_us: 10_000 + u64::from(i % 7),
        packets_in_flight: 10,
        bytes_in_flight: 14_600,
        lost_pkts_sample: u32::from(i % 50 == 0),
        snd_cwnd: 14_600,
        ..Primitives::default()
    }
}

#[test]
fn ack_path_does_not_allocate() {
    let mut dp = setup(4);
    // Warm up: first invocation of each flow applies the program switch, buffers grow.
    for i in 0..100u32 {
        dp.callbacks_mut().now_us += 100;
        let _ = dp.invoke(1 + i % 4, &prims(i));
    }
    // The mock records sends and calls: give it room so only the library could allocate.
    dp.callbacks_mut().sent.reserve(100_000);
    dp.callbacks_mut().calls.reserve(100_000);
    dp.callbacks_mut().cwnd.reserve(16);
    let reports0 = dp.stats().reports_sent;
    let before = allocs();
    for i in 0..10_000u32 {
        dp.callbacks_mut().now_us += 100;
        let r = dp.invoke(1 + i % 4, &prims(i));
        assert!(matches!(r, Ok(Invoked::Ran { .. })));
    }
    let after = allocs();
    let reports = dp.stats().reports_sent - reports0;
    assert!(reports >= 200, "reports were sent ({reports})");
    // The mock itself copies each sent message into a Vec: one allocation per report.
    assert_eq!(
        after - before,
        reports,
        "allocations beyond the mock's own copies"
    );
}

#[test]
fn memory_per_flow_is_small() {
    let mut dp = setup(1000);
    for i in 0..2000u32 {
        dp.callbacks_mut().now_us += 100;
        let _ = dp.invoke(1 + i % 1000, &prims(i));
    }
    let per_flow = dp.connection_memory_bytes(1).unwrap();
    let info = dp.connection(1).unwrap();
    assert_eq!(info.memory_bytes, per_flow);
    println!("memory per flow (6-field Reno-like program, alg name \"reno\"): {per_flow} bytes");
    assert!(per_flow < 1024, "{per_flow} bytes per flow");
    // Programs are shared: 1000 flows do not hold 1000 copies of the program.
    assert_eq!(dp.programs().iter().flatten().count(), 1);
}
