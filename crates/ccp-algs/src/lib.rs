//! Congestion-control algorithms for the CCP agent (`ccp-agent`), selectable by name.
//!
//! Each algorithm is a [`CongAlg`](ccp_agent::CongAlg) in its own module; the
//! [`registry`] lists them by name so a command line (`ccp agent --alg NAME`) or a
//! configuration can pick one at run time:
//!
//! ```
//! let alg = ccp_algs::by_name("reno").expect("reno is built in").build();
//! assert_eq!(ccp_agent::CongAlg::name(&alg), "reno");
//! assert!(ccp_algs::by_name("nope").is_none());
//! ```
//!
//! | name | module | what it does |
//! |---|---|---|
//! | `reno` | [`reno`] | TCP Reno, generic-cong-avoid style: per-RTT reports, AIMD in the agent |
#![forbid(unsafe_code)]

use ccp_agent::BoxedAlg;

pub mod reno;

/// One registered algorithm.
#[derive(Clone, Copy, Debug)]
pub struct AlgEntry {
    /// The name (what datapaths request in CREATE and `--alg` takes).
    pub name: &'static str,
    /// One-line description.
    pub description: &'static str,
    make: fn() -> BoxedAlg,
}

impl AlgEntry {
    /// A new instance with default settings.
    pub fn build(&self) -> BoxedAlg {
        (self.make)()
    }
}

static REGISTRY: &[AlgEntry] = &[AlgEntry {
    name: reno::NAME,
    description: "TCP Reno (slow start, AIMD, halve on loss once per RTT), reports once per RTT",
    make: || BoxedAlg::new(reno::Reno::default()),
}];

/// Every built-in algorithm, in name order.
pub fn registry() -> &'static [AlgEntry] {
    REGISTRY
}

/// The algorithm called `name`.
pub fn by_name(name: &str) -> Option<&'static AlgEntry> {
    REGISTRY.iter().find(|a| a.name == name)
}

/// Names of the built-in algorithms, in registry order.
pub fn names() -> impl Iterator<Item = &'static str> {
    REGISTRY.iter().map(|a| a.name)
}

#[cfg(test)]
mod tests {
    #[test]
    fn registry_names_are_unique_and_build_matching_algorithms() {
        let names: Vec<_> = super::names().collect();
        let mut dedup = names.clone();
        dedup.sort_unstable();
        dedup.dedup();
        assert_eq!(names.len(), dedup.len());
        for e in super::registry() {
            assert_eq!(ccp_agent::CongAlg::name(&e.build()), e.name);
        }
        assert!(super::by_name("reno").is_some());
        assert!(super::by_name("Reno").is_none());
    }
}
