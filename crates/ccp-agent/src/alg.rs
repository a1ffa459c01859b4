//! The algorithm-facing traits: [`CongAlg`] (one per algorithm) and [`Flow`] (one per
//! connection), plus the connection description [`DatapathInfo`].

use std::collections::BTreeMap;

use crate::datapath::Datapath;
use crate::report::Report;

/// Datapath programs of an algorithm: program name → program source.
///
/// A `BTreeMap` so that iteration (and therefore uid allocation) is in name order.
pub type Programs = BTreeMap<String, String>;

/// A congestion-control algorithm (portus's `CongAlg`).
///
/// Differences from portus 0.9 (see the crate docs for the full list):
/// * [`name`](CongAlg::name) takes `&self` and returns a borrowed `&str`, so an algorithm
///   implemented at run time (e.g. in Python) can choose its name;
/// * [`datapath_programs`](CongAlg::datapath_programs) returns owned names;
/// * the trait is not generic over the transport: [`Datapath`] is one concrete type.
pub trait CongAlg: Send + 'static {
    /// The per-connection state this algorithm creates.
    type Flow: Flow;

    /// The name matched against the algorithm name a datapath requests in CREATE.
    fn name(&self) -> &str;

    /// Programs to compile at start-up and install on every datapath. A program that does
    /// not compile aborts start-up with its `LINE:COL: message` error.
    fn datapath_programs(&self) -> Programs;

    /// A new connection: `datapath` sends this flow's commands, `info` describes it.
    fn new_flow(&self, datapath: Datapath, info: DatapathInfo) -> Self::Flow;
}

/// One connection's algorithm state (portus's `Flow`).
///
/// `Send` so that a runtime (and the flows it owns) can move between threads, and so that
/// a Python layer can hold flows.
pub trait Flow: Send + 'static {
    /// A report (MEASURE) from the datapath for this flow, produced by the flow's current
    /// program. Reports produced by an earlier program are dropped before they get here.
    fn on_report(&mut self, sock_id: u32, report: Report<'_>);

    /// The flow ended: the datapath closed it, the datapath restarted (READY), a new
    /// CREATE reused its socket id, or the runtime stopped. Default: nothing.
    fn close(&mut self) {}
}

impl<F: Flow + ?Sized> Flow for Box<F> {
    fn on_report(&mut self, sock_id: u32, report: Report<'_>) {
        (**self).on_report(sock_id, report)
    }

    fn close(&mut self) {
        (**self).close()
    }
}

/// What a datapath told the agent about a new connection (CREATE, spec §2.5).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct DatapathInfo {
    /// The connection's socket id on its datapath.
    pub sock_id: u32,
    /// Initial congestion window, bytes.
    pub init_cwnd: u32,
    /// Maximum segment size, bytes.
    pub mss: u32,
    /// Source address (opaque datapath value; Linux: IPv4 in network byte order).
    pub src_ip: u32,
    /// Source port (opaque).
    pub src_port: u32,
    /// Destination address (opaque).
    pub dst_ip: u32,
    /// Destination port (opaque).
    pub dst_port: u32,
    /// The algorithm the datapath asked for, if any (the flow may be run by the default
    /// algorithm if no registered algorithm has this name).
    pub requested_alg: Option<String>,
}

/// Object-safe form of [`CongAlg`], so algorithms with different flow types live in one
/// runtime.
pub(crate) trait ErasedAlg: Send {
    fn name(&self) -> &str;
    fn datapath_programs(&self) -> Programs;
    fn new_flow(&self, datapath: Datapath, info: DatapathInfo) -> Box<dyn Flow>;
}

impl<T: CongAlg> ErasedAlg for T {
    fn name(&self) -> &str {
        CongAlg::name(self)
    }

    fn datapath_programs(&self) -> Programs {
        CongAlg::datapath_programs(self)
    }

    fn new_flow(&self, datapath: Datapath, info: DatapathInfo) -> Box<dyn Flow> {
        Box::new(CongAlg::new_flow(self, datapath, info))
    }
}

/// A type-erased algorithm: any [`CongAlg`] behind one concrete type, e.g. to pick
/// algorithms by name at run time (an algorithm registry) or to keep several in one `Vec`.
pub struct BoxedAlg(Box<dyn ErasedAlg>);

impl BoxedAlg {
    /// Erase `alg`'s type.
    pub fn new(alg: impl CongAlg) -> BoxedAlg {
        BoxedAlg(Box::new(alg))
    }
}

impl std::fmt::Debug for BoxedAlg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("BoxedAlg").field(&self.0.name()).finish()
    }
}

impl CongAlg for BoxedAlg {
    type Flow = Box<dyn Flow>;

    fn name(&self) -> &str {
        self.0.name()
    }

    fn datapath_programs(&self) -> Programs {
        self.0.datapath_programs()
    }

    fn new_flow(&self, datapath: Datapath, info: DatapathInfo) -> Box<dyn Flow> {
        self.0.new_flow(datapath, info)
    }
}
