//! Public counters.

/// Counters of everything the datapath library did and rejected. Cheap to copy; read with
/// [`Datapath::stats`](crate::Datapath::stats).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Messages given to `read_msg`.
    pub msgs_received: u64,
    /// Programs installed.
    pub installs: u64,
    /// UPDATE_FIELDS messages staged.
    pub updates: u64,
    /// CHANGE_PROG messages staged.
    pub change_progs: u64,
    /// HELLOs from an agent accepted.
    pub hellos: u64,
    /// Messages rejected as malformed (header, lengths, counts, instructions, programs,
    /// update records, HELLO).
    pub malformed: u64,
    /// Messages of a type a datapath does not accept.
    pub unknown_type: u64,
    /// UPDATE_FIELDS / CHANGE_PROG for a sid that is not live.
    pub unknown_connection: u64,
    /// CHANGE_PROG to a uid that is not installed.
    pub unknown_program: u64,
    /// INSTALLs rejected because the table was full.
    pub prog_table_full: u64,
    /// Program-table wipes by an INSTALL with uid 1 (a new agent).
    pub table_wipes: u64,
    /// `invoke` calls on live connections.
    pub invocations: u64,
    /// Of those, invocations driven by the fallback controller.
    pub fallback_invocations: u64,
    /// Invocations whose program aborted (−91 … −94).
    pub program_errors: u64,
    /// MEASURE reports sent successfully.
    pub reports_sent: u64,
    /// CREATE messages sent successfully (initial, retries and re-announcements).
    pub creates_sent: u64,
    /// Sends that failed (any message type).
    pub send_failures: u64,
    /// Times the datapath entered fallback.
    pub fallback_entries: u64,
    /// Times an agent came back after fallback.
    pub agent_returns: u64,
    /// INSTALL uid 1 from an agent after another agent had talked to this datapath.
    pub new_agents: u64,
    /// Flows re-announced with CREATE to a returning / new agent.
    pub reannounced: u64,
    /// Flows handed back to the agent by a CHANGE_PROG after fallback.
    pub handbacks: u64,
    /// READY(+HELLO) probes sent while in fallback.
    pub probes_sent: u64,
}
