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
