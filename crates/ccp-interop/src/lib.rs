//! Shared helpers for the interoperability tests and benchmarks against portus and
//! libccp.
//!
//! * [`libccp_ffi`] — a deterministic harness around the real C libccp (mock clock, own
//!   callbacks). Binaries using it must link the `libccp` crate (`use libccp as _;`).
//! * [`msg`] — small decoders/encoders for INSTALL, UPDATE_FIELDS, CHANGE_PROG and
//!   MEASURE used to replay agent messages into our VM.
//! * [`workload`] — deterministic per-ACK primitive streams and the Reno-style program.
//! * [`alloc_count`] — a counting global allocator for "does not allocate" tests.
#![deny(unsafe_code)]

pub mod alloc_count;
pub mod libccp_ffi;
pub mod msg;
pub mod workload;

// The unit tests of this library link the C libccp through the `libccp` crate.
#[cfg(test)]
use ::libccp as _;
