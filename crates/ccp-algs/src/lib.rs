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
//! | `cubic` | [`cubic`] | CUBIC (RFC 9438): per-ACK slow start in the datapath, cubic growth, fast convergence and the Reno-friendly region in the agent |
//! | `aimd` | [`aimd`] | additive increase / multiplicative decrease with tunable factors |
//!
//! Every entry lists its [`Tunable`]s and can be built from name → number pairs
//! ([`AlgEntry::build_with`]), which is how `ccp sim` scenario files configure them.
//! [`testing::Harness`] drives any algorithm through the real agent core with synthetic
//! reports, for unit tests of its control law.
#![forbid(unsafe_code)]

use ccp_agent::BoxedAlg;

pub mod aimd;
pub mod common;
pub mod cubic;
pub mod params;
pub mod reno;
pub mod testing;
pub mod window;

pub use params::{ParamError, ParamReader, Params, Tunable};

/// One registered algorithm.
#[derive(Clone, Copy, Debug)]
pub struct AlgEntry {
    /// The name (what datapaths request in CREATE and `--alg` takes).
    pub name: &'static str,
    /// One-line description.
    pub description: &'static str,
    /// Its settings and their defaults.
    pub tunables: &'static [Tunable],
    make: fn() -> BoxedAlg,
    configure: fn(&Params) -> Result<BoxedAlg, ParamError>,
}

impl AlgEntry {
    /// A new instance with default settings.
    pub fn build(&self) -> BoxedAlg {
        (self.make)()
    }

    /// A new instance with `params` overriding the defaults of its [`tunables`](Self::tunables);
    /// an unknown name or a value out of range is an error.
    pub fn build_with(&self, params: &Params) -> Result<BoxedAlg, ParamError> {
        (self.configure)(params)
    }
}

/// Reno's tunables (its settings are fields of [`reno::Reno`]).
const RENO_TUNABLES: &[Tunable] = &[
    Tunable {
        name: "init_cwnd",
        default: 0.0,
        description: "initial window in bytes (0: the datapath's)",
    },
    Tunable {
        name: "ssthresh",
        default: 0.0,
        description: "initial slow-start threshold in bytes (0: unbounded)",
    },
];

fn reno_from_params(p: &Params) -> Result<reno::Reno, ParamError> {
    let r = ParamReader::new(reno::NAME, RENO_TUNABLES, p)?;
    Ok(reno::Reno {
        init_cwnd: r.optional_integer("init_cwnd", 1, u64::from(u32::MAX))?,
        ssthresh: r
            .optional_integer("ssthresh", 1, u64::from(u32::MAX))?
            .unwrap_or(u64::MAX),
    })
}

static REGISTRY: &[AlgEntry] = &[
    AlgEntry {
        name: reno::NAME,
        description: "TCP Reno (slow start, AIMD, halve on loss once per RTT), reports once per RTT",
        tunables: RENO_TUNABLES,
        make: || BoxedAlg::new(reno::Reno::default()),
        configure: |p| reno_from_params(p).map(BoxedAlg::new),
    },
    AlgEntry {
        name: cubic::NAME,
        description: "CUBIC (RFC 9438): cubic growth and fast convergence in the agent, per-ACK slow start in the datapath",
        tunables: cubic::TUNABLES,
        make: || BoxedAlg::new(cubic::Cubic::default()),
        configure: |p| cubic::Cubic::from_params(p).map(BoxedAlg::new),
    },
    AlgEntry {
        name: aimd::NAME,
        description: "AIMD: +increase packets per RTT, ×decrease on loss (Reno's law by default)",
        tunables: aimd::TUNABLES,
        make: || BoxedAlg::new(aimd::Aimd::default()),
        configure: |p| aimd::Aimd::from_params(p).map(BoxedAlg::new),
    },
];

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
