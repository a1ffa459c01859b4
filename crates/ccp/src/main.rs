//! The `ccp` command-line tool.

fn main() {}
