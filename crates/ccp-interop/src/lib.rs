//! Shared helpers for the interoperability tests against portus and libccp.
