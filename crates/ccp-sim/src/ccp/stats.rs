//! Counters of the control plane after a run.

use serde::Serialize;

use crate::ccp::unix::UnixStats;

/// What the CCP control plane did during one simulation (see
/// [`CcpFactory::last_run`](crate::ccp::CcpFactory::last_run)).
#[derive(Clone, Debug, Default, Serialize)]
pub struct RunStats {
    /// The datapath library's counters (invocations, reports sent, messages received, …).
    #[serde(skip)]
    pub datapath: Option<ccp_datapath::Stats>,
    /// The in-process agent's counters (`None` with an external agent).
    #[serde(skip)]
    pub agent: Option<ccp_agent::Stats>,
    /// Messages from the agent handed to the library.
    pub agent_messages: u64,
    /// Of those, rejected by the library.
    pub read_errors: u64,
    /// Invocations that failed other than "no program yet" (e.g. an arithmetic error in a
    /// datapath program).
    pub invoke_errors: u64,
    /// Unix mode: the link's counters.
    pub unix: Option<UnixStats>,
}
