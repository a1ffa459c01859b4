//! CCP in the simulator: flows steered by the **real datapath library**
//! (`ccp-datapath`, invoked per ACK) talking to the **real agent** — the `ccp-agent` core
//! in-process on virtual time (default), or an external agent process over unix sockets.
//!
//! [`CcpFactory`] is the [`ControllerFactory`] behind `ccp sim`: every algorithm of
//! `ccp-algs` under its own name (agent-steered), plus the in-datapath references
//! `native-reno`, `native-cubic`, `native-const-cwnd`, `native-const-rate`.
//!
//! ```
//! use ccp_sim::ccp::{AgentMode, CcpFactory};
//! use ccp_sim::{Scenario, Simulation};
//!
//! let scenario = Scenario::builtin("fixed").unwrap()
//!     .with_algorithms(&["cubic".into(), "native-cubic".into()])
//!     .with_duration(2.0);
//! let mut factory = CcpFactory::new(AgentMode::InProcess);
//! let results = Simulation::new(&scenario, &mut factory).unwrap().run();
//! assert!(results.summary.utilization > 0.5);
//! let run = factory.last_run().unwrap();
//! assert!(run.agent.unwrap().reports > 10); // the agent steered flow 0
//! ```
//!
//! # How a flow is wired
//!
//! Per simulation, the first CCP flow creates one [`ccp_datapath::Datapath`] (the
//! libccp-equivalent library, on virtual time in µs) shared by all CCP flows, and the
//! control-plane components:
//!
//! * in-process: a **datapath component** (receives the agent's messages: `read_msg`) and
//!   an **agent component** (the sans-IO `ccp_agent::Agent`, given virtual time). The
//!   library's READY/HELLO/CREATE/MEASURE go from the flows (or the datapath component) to
//!   the agent through the event queue after the scenario's `ipc_delay_us`; the agent's
//!   INSTALL/CHANGE_PROG/UPDATE_FIELDS come back the same way. As in libccp, updates are
//!   staged and applied at the flow's next ACK.
//! * unix: only the datapath component; the library sends over the socket at once and the
//!   component waits for the replies in lock-step (see [`UnixOptions`]).
//!
//! Each CCP flow's controller calls `connection_start` when the flow starts (CREATE with
//! the algorithm name), `invoke` on every ACK and timeout with the sender's
//! [`Primitives`](crate::Primitives) (the datapath library's own type), applies the window and pacing
//! rate the library set, and `connection_free` when it stops.
//!
//! With the in-process agent, flows of one algorithm with different `params` get separate
//! agent algorithms (`cubic~1`, …) so each is configured as its scenario entry says. An
//! external agent decides by itself which algorithm runs (the name in CREATE is a request;
//! `ccp agent --alg X` runs X for every flow) and `params` cannot reach it.

mod hub;
mod inproc;
mod stats;
mod unix;

use std::cell::RefCell;
use std::rc::Rc;

use ccp_agent::BoxedAlg;
use ccp_algs::Params;
use ccp_datapath::{Config, Datapath};

pub use stats::RunStats;
pub use unix::{UnixOptions, UnixStats};

use crate::cc::{CongestionController, FlowInfo};
use crate::control::{ComponentId, Endpoint};
use crate::registry::{ControllerFactory, CreateError, Registry, Setup};
use crate::time::SimTime;
use hub::{CcpFlow, DatapathComponent, Hub, Route, SimCallbacks};
use inproc::{AgentComponent, AlgTable, Named};
use unix::UnixLink;

/// Where the agent runs.
#[derive(Clone, Debug, PartialEq, Default)]
pub enum AgentMode {
    /// The `ccp-agent` core inside the simulation, on virtual time (deterministic).
    #[default]
    InProcess,
    /// An external agent process reached over unix datagram sockets.
    Unix(UnixOptions),
}

/// Builds an agent-side algorithm from scenario parameters.
pub type AlgMaker = Box<dyn Fn(&Params) -> Result<BoxedAlg, String>>;

struct CcpAlg {
    name: String,
    description: String,
    make: AlgMaker,
}

/// Native controllers reachable through the factory: (our name, the native registry's
/// name, description).
const NATIVE: &[(&str, &str, &str)] = &[
    (
        "native-reno",
        "reno",
        "in-datapath reference Reno (per ACK, no agent)",
    ),
    (
        "native-cubic",
        "cubic",
        "in-datapath reference CUBIC, RFC 9438 (per ACK, no agent)",
    ),
    (
        "native-const-cwnd",
        "const-cwnd",
        "in-datapath fixed window (params: cwnd_packets, rate_mbps)",
    ),
    (
        "native-const-rate",
        "const-rate",
        "in-datapath fixed pacing rate (params: rate_mbps, cwnd_packets)",
    ),
];

/// The components and the shared library of one simulation.
struct Session {
    hub: Rc<RefCell<Hub>>,
    route: Route,
    table: Option<Rc<RefCell<AlgTable>>>,
    /// (algorithm, parameters) → name registered with the in-process agent.
    registered: Vec<(String, Params, String)>,
}

/// Why the CCP wiring could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum CcpError {
    /// The datapath library rejected its configuration.
    #[error("datapath library: {0}")]
    Datapath(#[from] ccp_datapath::ConfigError),
    /// The simulator's unix socket could not be bound.
    #[error("cannot bind the simulator's socket: {0}")]
    Bind(#[from] ccp_ipc::IpcError),
}

/// The [`ControllerFactory`] for CCP: `ccp-algs` algorithms (agent-steered through the
/// datapath library and the agent) and the native references. See the
/// [module docs](self).
pub struct CcpFactory {
    mode: AgentMode,
    algs: Vec<CcpAlg>,
    native: Registry,
    session: Option<Session>,
    last: Rc<RefCell<RunStats>>,
    poll_interval: SimTime,
}

impl CcpFactory {
    /// Every `ccp-algs` algorithm plus the native references, with the agent where `mode`
    /// says.
    pub fn new(mode: AgentMode) -> CcpFactory {
        let mut f = CcpFactory {
            mode,
            algs: Vec::new(),
            native: Registry::with_native(),
            session: None,
            last: Rc::new(RefCell::new(RunStats::default())),
            poll_interval: SimTime::from_millis(1),
        };
        for e in ccp_algs::registry() {
            f.register_alg(
                e.name,
                e.description,
                Box::new(move |p: &Params| e.build_with(p).map_err(|err| err.to_string())),
            );
        }
        f
    }

    /// Add (or replace) an agent-side algorithm, e.g. one defined at run time.
    pub fn register_alg(&mut self, name: &str, description: &str, make: AlgMaker) {
        let entry = CcpAlg {
            name: name.to_owned(),
            description: description.to_owned(),
            make,
        };
        match self.algs.iter_mut().find(|a| a.name == name) {
            Some(a) => *a = entry,
            None => self.algs.push(entry),
        }
    }

    /// `(name, description)` of every controller: agent-steered ones first, then the
    /// native references.
    pub fn describe(&self) -> Vec<(String, String)> {
        let mut v: Vec<(String, String)> = self
            .algs
            .iter()
            .map(|a| (a.name.clone(), a.description.clone()))
            .collect();
        v.extend(
            NATIVE
                .iter()
                .map(|(n, _, d)| ((*n).to_owned(), (*d).to_owned())),
        );
        v
    }

    /// Where the agent runs.
    pub fn mode(&self) -> &AgentMode {
        &self.mode
    }

    /// The counters of the control plane of the last simulation built with this factory,
    /// once it has run (`None` before, or if it had no CCP flow).
    pub fn last_run(&self) -> Option<RunStats> {
        let s = self.last.borrow();
        (s.datapath.is_some()).then(|| s.clone())
    }

    /// The simulator's socket path in unix mode, once a simulation created it.
    pub fn socket_path(&self) -> Option<std::path::PathBuf> {
        let s = self.session.as_ref()?;
        let hub = s.hub.borrow();
        hub.dp
            .callbacks()
            .link
            .as_ref()
            .map(|l| l.path().to_path_buf())
    }

    fn session(&mut self, setup: &mut Setup<'_>) -> Result<&mut Session, CcpError> {
        let s = match self.session.take() {
            Some(s) => s,
            None => self.new_session(setup)?,
        };
        Ok(self.session.insert(s))
    }

    fn new_session(&mut self, setup: &mut Setup<'_>) -> Result<Session, CcpError> {
        {
            // Each simulation counts into its own stats (a simulation built earlier and
            // run later keeps its own).
            self.last = Rc::new(RefCell::new(RunStats::default()));
            let link = match &self.mode {
                AgentMode::InProcess => None,
                AgentMode::Unix(opts) => Some(Rc::new(UnixLink::bind(opts.clone())?)),
            };
            let cb = SimCallbacks {
                now_us: 0,
                out: Vec::new(),
                link: link.clone(),
                cwnd: None,
                rate: None,
            };
            let mut cfg = Config::new(1);
            // Every parameter variant of every algorithm is a separate set of programs.
            cfg.max_programs = 256;
            let dp = Datapath::init(cfg, cb)?;
            let hub = Rc::new(RefCell::new(Hub {
                dp,
                stats: self.last.clone(),
            }));
            let dp_id = ComponentId(setup.component_count() as u32);
            let agent_id = ComponentId(dp_id.0 + 1);
            let in_process = link.is_none();
            let added = setup.add_component(Box::new(DatapathComponent {
                hub: hub.clone(),
                agent: in_process.then_some(agent_id),
                poll_interval: self.poll_interval,
            }));
            debug_assert_eq!(added, dp_id);
            let (route, table) = if in_process {
                let table = Rc::new(RefCell::new(AlgTable::default()));
                setup.add_component(Box::new(AgentComponent {
                    table: table.clone(),
                    agent: None,
                    datapath: dp_id,
                    stats: self.last.clone(),
                }));
                (
                    Route {
                        to: Endpoint::Component(agent_id),
                    },
                    Some(table),
                )
            } else {
                (
                    Route {
                        to: Endpoint::Component(dp_id),
                    },
                    None,
                )
            };
            Ok(Session {
                hub,
                route,
                table,
                registered: Vec::new(),
            })
        }
    }

    fn create_ccp(
        &mut self,
        info: &FlowInfo,
        setup: &mut Setup<'_>,
    ) -> Result<Box<dyn CongestionController>, CreateError> {
        let failed = |reason: String| CreateError::Failed {
            name: info.alg.clone(),
            reason,
        };
        let params = Params::from(info.params.clone());
        let Some(alg) = self.algs.iter().position(|a| a.name == info.alg) else {
            return Err(CreateError::Unknown {
                name: info.alg.clone(),
                known: self.names().join(", "),
            });
        };
        // Build once now: bad parameters and programs that do not compile are errors of
        // the scenario, reported before anything runs.
        let probe = (self.algs[alg].make)(&params).map_err(failed)?;
        ccp_agent::AgentBuilder::new()
            .default_alg(probe)
            .build::<()>()
            .map_err(|e| failed(e.to_string()))?;
        let inner = (self.algs[alg].make)(&params).map_err(failed)?;
        let in_process = self.mode == AgentMode::InProcess;
        let session = self.session(setup).map_err(|e| failed(e.to_string()))?;
        let request = if in_process {
            match session
                .registered
                .iter()
                .find(|(a, p, _)| *a == info.alg && *p == params)
            {
                Some((_, _, n)) => n.clone(),
                None => {
                    let n = session
                        .registered
                        .iter()
                        .filter(|(a, _, _)| *a == info.alg)
                        .count();
                    let name = if n == 0 {
                        info.alg.clone()
                    } else {
                        format!("{}~{n}", info.alg)
                    };
                    if let Some(t) = &session.table {
                        t.borrow_mut().entries.push(Named {
                            name: name.clone(),
                            inner,
                        });
                    }
                    session
                        .registered
                        .push((info.alg.clone(), params, name.clone()));
                    name
                }
            }
        } else {
            if !params.is_empty() {
                tracing::warn!(
                    flow = info.flow.0,
                    "params of `{}` are not sent to an external agent",
                    info.alg
                );
            }
            info.alg.clone()
        };
        Ok(Box::new(CcpFlow {
            hub: session.hub.clone(),
            route: session.route,
            request,
            label: info.alg.clone(),
            sid: None,
        }))
    }
}

impl ControllerFactory for CcpFactory {
    fn contains(&self, name: &str) -> bool {
        self.algs.iter().any(|a| a.name == name) || NATIVE.iter().any(|(n, _, _)| *n == name)
    }

    fn names(&self) -> Vec<String> {
        self.describe().into_iter().map(|(n, _)| n).collect()
    }

    fn create(
        &mut self,
        info: &FlowInfo,
        setup: &mut Setup<'_>,
    ) -> Result<Box<dyn CongestionController>, CreateError> {
        if info.flow.0 == 0 {
            // A new simulation: new library, new components.
            self.session = None;
        }
        if let Some((_, native, _)) = NATIVE.iter().find(|(n, _, _)| *n == info.alg) {
            let mut renamed = info.clone();
            renamed.alg = (*native).to_owned();
            return self.native.create(&renamed, setup).map_err(|e| match e {
                CreateError::BadParameter { param, reason, .. } => CreateError::BadParameter {
                    name: info.alg.clone(),
                    param,
                    reason,
                },
                other => other,
            });
        }
        self.create_ccp(info, setup)
    }
}
