//! CCP wire messages, byte-compatible with libccp and portus.
#![forbid(unsafe_code)]
