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
//! | `aimd` | [`aimd`] | additive increase / multiplicative decrease with tunable factors |
//! | `bbr` | [`bbr`] | BBR v1: bottleneck bandwidth and RTprop model, pacing-rate control with a window cap, Startup/Drain/ProbeBW/ProbeRTT |
//! | `const-cwnd` | [`constant`] | a fixed window (optionally paced) |
//! | `const-rate` | [`constant`] | a fixed pacing rate |
//! | `copa` | [`copa`] | Copa: delay-based target rate 1/(δ·d_q) with velocity |
//! | `cubic` | [`cubic`] | CUBIC (RFC 9438): per-ACK slow start in the datapath, cubic growth, fast convergence and the Reno-friendly region in the agent |
//! | `reno` | [`reno`] | TCP Reno, generic-cong-avoid style: per-RTT reports, AIMD in the agent |
//! | `vegas` | [`vegas`] | TCP Vegas: α..β packets queued, per-RTT adjustments from the base RTT |
//!
//! Every entry lists its [`Tunable`]s and can be built from name → number pairs
//! ([`AlgEntry::build_with`]), which is how `ccp sim` scenario files configure them.
//! [`testing::Harness`] drives any algorithm through the real agent core with synthetic
//! reports, for unit tests of its control law.
#![forbid(unsafe_code)]

use ccp_agent::BoxedAlg;

pub mod aimd;
pub mod bbr;
pub mod common;
pub mod constant;
pub mod copa;
pub mod cubic;
pub mod params;
pub mod reno;
pub mod testing;
pub mod vegas;
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
        name: aimd::NAME,
        description: "AIMD: +increase packets per RTT, ×decrease on loss (Reno's law by default)",
        tunables: aimd::TUNABLES,
        make: || BoxedAlg::new(aimd::Aimd::default()),
        configure: |p| aimd::Aimd::from_params(p).map(BoxedAlg::new),
    },
    AlgEntry {
        name: bbr::NAME,
        description: "BBR v1: paces at the estimated bottleneck bandwidth (gain cycling), window capped at 2 BDP",
        tunables: bbr::TUNABLES,
        make: || BoxedAlg::new(bbr::Bbr::default()),
        configure: |p| bbr::Bbr::from_params(p).map(BoxedAlg::new),
    },
    AlgEntry {
        name: constant::CWND_NAME,
        description: "a fixed window (params: cwnd_packets, rate_mbps)",
        tunables: constant::CWND_TUNABLES,
        make: || BoxedAlg::new(constant::ConstCwnd::default()),
        configure: |p| constant::ConstCwnd::from_params(p).map(BoxedAlg::new),
    },
    AlgEntry {
        name: constant::RATE_NAME,
        description: "a fixed pacing rate (params: rate_mbps, cwnd_packets)",
        tunables: constant::RATE_TUNABLES,
        make: || BoxedAlg::new(constant::ConstRate::default()),
        configure: |p| constant::ConstRate::from_params(p).map(BoxedAlg::new),
    },
    AlgEntry {
        name: copa::NAME,
        description: "Copa: delay-based, target rate 1/(δ·queueing delay) with velocity (δ = 0.5)",
        tunables: copa::TUNABLES,
        make: || BoxedAlg::new(copa::Copa::default()),
        configure: |p| copa::Copa::from_params(p).map(BoxedAlg::new),
    },
    AlgEntry {
        name: cubic::NAME,
        description: "CUBIC (RFC 9438): cubic growth and fast convergence in the agent, per-ACK slow start in the datapath",
        tunables: cubic::TUNABLES,
        make: || BoxedAlg::new(cubic::Cubic::default()),
        configure: |p| cubic::Cubic::from_params(p).map(BoxedAlg::new),
    },
    AlgEntry {
        name: reno::NAME,
        description: "TCP Reno (slow start, AIMD, halve on loss once per loss episode), reports once per RTT",
        tunables: RENO_TUNABLES,
        make: || BoxedAlg::new(reno::Reno::default()),
        configure: |p| reno_from_params(p).map(BoxedAlg::new),
    },
    AlgEntry {
        name: vegas::NAME,
        description: "TCP Vegas: keeps alpha..beta packets queued, per-RTT steps from the base RTT",
        tunables: vegas::TUNABLES,
        make: || BoxedAlg::new(vegas::Vegas::default()),
        configure: |p| vegas::Vegas::from_params(p).map(BoxedAlg::new),
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
        let mut sorted = names.clone();
        sorted.sort_unstable();
        assert_eq!(names, sorted, "registry in name order");
    }

    #[test]
    fn every_entry_builds_from_its_defaults_and_rejects_unknown_parameters() {
        for e in super::registry() {
            // Every tunable given explicitly at its default value builds.
            let defaults: super::Params = e
                .tunables
                .iter()
                .map(|t| (t.name.to_owned(), t.default))
                .collect();
            let alg = e
                .build_with(&defaults)
                .unwrap_or_else(|err| panic!("{}: {err}", e.name));
            assert_eq!(ccp_agent::CongAlg::name(&alg), e.name);
            let err = e
                .build_with(&super::Params::new().with("no_such_knob", 1.0))
                .unwrap_err();
            assert!(err.to_string().contains("no_such_knob"), "{err}");
            assert!(!e.description.is_empty());
        }
    }

    #[test]
    fn every_program_compiles_with_ccp_lang_and_installs() {
        // The agent compiles every program at start-up (ccp-lang) and encodes its INSTALL.
        let mut b = ccp_agent::AgentBuilder::new().default_alg(super::registry()[0].build());
        for e in &super::registry()[1..] {
            b = b.additional_alg(e.build());
        }
        let agent: ccp_agent::Agent<()> = b.build().expect("every program compiles");
        let programs: Vec<_> = agent.programs().map(|p| p.name().to_owned()).collect();
        for p in ["bbr", "constant", "copa", "reno", "vegas", "window"] {
            assert!(
                programs.iter().any(|n| n == p),
                "{p} missing from {programs:?}"
            );
        }
        for p in agent.programs() {
            assert!(p.install_msg().len() > 20);
            // portus's receive buffer is 1024 bytes and its reports carry ≤ 16 fields.
            assert!(p.num_reports() <= 16, "{}", p.name());
        }
    }
}
