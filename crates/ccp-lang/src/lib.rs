//! The CCP datapath-program language.
//!
//! * [`bytecode`] — libccp's instruction/event encoding, shared with the wire codec.
//!
//! This crate performs no I/O and reads no clock: time is always an argument.
#![forbid(unsafe_code)]

pub mod bytecode;
