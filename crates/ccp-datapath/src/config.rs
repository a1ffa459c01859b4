//! Datapath configuration.

use thiserror::Error;

/// The built-in congestion controller that drives flows while the agent is away.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum FallbackAlg {
    /// RFC 5681 Reno: slow start, +1 MSS per window, halve on loss, 1 MSS after a timeout.
    #[default]
    Reno,
    /// RFC 9438 CUBIC (β = 0.7, C = 0.4) with its Reno-friendly region.
    Cubic,
}

/// Datapath-wide settings. Build with [`Config::new`] and adjust the public fields.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// The id carried by READY (`ccp_init(dp, id)`); agents do not use it.
    pub id: u32,
    /// How long the agent may stay unreachable after a failed send of CREATE/MEASURE
    /// before every flow enters fallback (libccp `fto_us`). Must be > 0.
    pub fallback_timeout_us: u64,
    /// Controller used in fallback.
    pub fallback_alg: FallbackAlg,
    /// Size of the program table (libccp `max_programs`; INSTALL into a full table is
    /// −81). Must be > 0; the default is 10 like libccp's users.
    pub max_programs: usize,
    /// Most simultaneous connections; `None` = no limit other than memory and the u32 sid
    /// space (sids are 1-based). libccp needs a fixed `max_connections`.
    pub max_connections: Option<u32>,
    /// First interval between READY+HELLO probes while in fallback (doubled after every
    /// probe up to [`max_probe_interval_us`](Self::max_probe_interval_us)). Must be > 0.
    pub probe_interval_us: u64,
    /// Longest interval between probes.
    pub max_probe_interval_us: u64,
    /// Optional extra silence rule, off by default: enter fallback when the datapath sent
    /// reports but heard nothing from the agent for this long. (An algorithm that never
    /// answers reports — e.g. a constant rate — would trip it, hence off by default.)
    pub silence_timeout_us: Option<u64>,
    /// Send HELLO after READY (this implementation's handshake; libccp and portus ignore
    /// it). Default `true`.
    pub handshake: bool,
}

impl Config {
    /// Defaults: fallback timeout 1 s, Reno, 10 programs, no connection limit, probes
    /// every 1 s at most (first after 250 ms), no silence rule, handshake on.
    pub fn new(id: u32) -> Config {
        Config {
            id,
            fallback_timeout_us: 1_000_000,
            fallback_alg: FallbackAlg::Reno,
            max_programs: 10,
            max_connections: None,
            probe_interval_us: 250_000,
            max_probe_interval_us: 1_000_000,
            silence_timeout_us: None,
            handshake: true,
        }
    }

    /// Check the settings ([`ConfigError`] corresponds to libccp's −11 `MISSING_ARG`).
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.fallback_timeout_us == 0 {
            return Err(ConfigError::ZeroFallbackTimeout);
        }
        if self.max_programs == 0 {
            return Err(ConfigError::ZeroPrograms);
        }
        if self.max_connections == Some(0) {
            return Err(ConfigError::ZeroConnections);
        }
        if self.probe_interval_us == 0 {
            return Err(ConfigError::ZeroProbeInterval);
        }
        Ok(())
    }
}

/// An invalid [`Config`] (libccp: −11 `MISSING_ARG`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Error)]
pub enum ConfigError {
    /// `fallback_timeout_us` is 0.
    #[error("the fallback timeout must be > 0")]
    ZeroFallbackTimeout,
    /// `max_programs` is 0.
    #[error("the program table needs at least one slot")]
    ZeroPrograms,
    /// `max_connections` is `Some(0)`.
    #[error("max_connections must be > 0 (or None for no limit)")]
    ZeroConnections,
    /// `probe_interval_us` is 0.
    #[error("the probe interval must be > 0")]
    ZeroProbeInterval,
}

impl ConfigError {
    /// libccp's code for a bad datapath description.
    pub fn libccp_code(self) -> i32 {
        ccp_wire::codes::MISSING_ARG
    }
}
