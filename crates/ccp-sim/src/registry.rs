//! Creating controllers by name.
//!
//! The simulator asks a caller-supplied [`ControllerFactory`] for each flow's controller.
//! [`Registry`] is the ready-made factory: a list of named constructors, pre-filled with the
//! native ones by [`Registry::with_native`]; a caller (the CLI) registers more, e.g.
//! CCP-driven algorithms whose constructor adds the shared datapath and agent components
//! through [`Setup::add_component`] the first time it runs.

use thiserror::Error;

use crate::cc::{CongestionController, FlowInfo};
use crate::control::{ComponentId, ControlPlane};
use crate::controllers::{ConstCwnd, ConstRate, Cubic, Reno};
use crate::time::SimTime;

/// Why a controller could not be created.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum CreateError {
    /// No controller of that name is registered.
    #[error("unknown controller {name:?} (known: {known})")]
    Unknown {
        /// The name asked for.
        name: String,
        /// The names that exist, comma-separated.
        known: String,
    },
    /// A parameter has an unusable value.
    #[error("controller {name:?}: parameter {param}: {reason}")]
    BadParameter {
        /// Controller name.
        name: String,
        /// Parameter name.
        param: String,
        /// What is wrong.
        reason: String,
    },
    /// Any other failure of a constructor.
    #[error("controller {name:?}: {reason}")]
    Failed {
        /// Controller name.
        name: String,
        /// What went wrong.
        reason: String,
    },
}

/// What a constructor may do besides building the controller: add control-plane components
/// shared by flows (they get their `on_start` call at time zero).
pub struct Setup<'a> {
    components: &'a mut Vec<Box<dyn ControlPlane>>,
    seed: u64,
    ipc_delay: SimTime,
}

impl<'a> Setup<'a> {
    /// A setup context over a component list (the simulator builds this).
    pub fn new(
        components: &'a mut Vec<Box<dyn ControlPlane>>,
        seed: u64,
        ipc_delay: SimTime,
    ) -> Self {
        Setup {
            components,
            seed,
            ipc_delay,
        }
    }
    /// Add a component; its id is its position.
    pub fn add_component(&mut self, component: Box<dyn ControlPlane>) -> ComponentId {
        self.components.push(component);
        ComponentId((self.components.len() - 1) as u32)
    }
    /// Components added so far.
    pub fn component_count(&self) -> usize {
        self.components.len()
    }
    /// The scenario seed.
    pub fn seed(&self) -> u64 {
        self.seed
    }
    /// The scenario's IPC delay.
    pub fn ipc_delay(&self) -> SimTime {
        self.ipc_delay
    }
}

/// Creates controllers by name.
pub trait ControllerFactory {
    /// Whether `name` can be created (used to validate a scenario before running it).
    fn contains(&self, name: &str) -> bool;
    /// The names this factory knows, for error messages and `--help`.
    fn names(&self) -> Vec<String>;
    /// Create the controller for `info.alg`.
    fn create(
        &mut self,
        info: &FlowInfo,
        setup: &mut Setup<'_>,
    ) -> Result<Box<dyn CongestionController>, CreateError>;
}

/// A constructor stored in a [`Registry`].
pub type Constructor =
    Box<dyn FnMut(&FlowInfo, &mut Setup<'_>) -> Result<Box<dyn CongestionController>, CreateError>>;

struct Entry {
    name: String,
    description: String,
    make: Constructor,
}

/// A name → constructor table implementing [`ControllerFactory`]. Names are matched
/// exactly; registering an existing name replaces it.
#[derive(Default)]
pub struct Registry {
    entries: Vec<Entry>,
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Registry {
        Registry::default()
    }

    /// A registry holding the native controllers: `reno`, `cubic`, `const-cwnd`,
    /// `const-rate`, and the aliases `native-reno`, `native-cubic` (so the plain names can
    /// be re-registered for CCP-driven versions while the references stay reachable).
    pub fn with_native() -> Registry {
        let mut r = Registry::new();
        for (name, desc) in [
            ("reno", "in-datapath reference Reno"),
            ("native-reno", "in-datapath reference Reno"),
        ] {
            r.register(name, desc, |_, _| Ok(Box::new(Reno::new())));
        }
        for (name, desc) in [
            ("cubic", "in-datapath reference CUBIC (RFC 9438)"),
            ("native-cubic", "in-datapath reference CUBIC (RFC 9438)"),
        ] {
            r.register(name, desc, |_, _| Ok(Box::new(Cubic::new())));
        }
        r.register(
            "const-cwnd",
            "fixed window (params: cwnd_packets, rate_mbps)",
            |info, _| Ok(Box::new(ConstCwnd::from_info(info))),
        );
        r.register(
            "const-rate",
            "fixed pacing rate (params: rate_mbps, cwnd_packets)",
            |info, _| {
                let rate = info.param("rate_mbps", 10.0);
                if !(rate.is_finite() && rate > 0.0) {
                    return Err(CreateError::BadParameter {
                        name: info.alg.clone(),
                        param: "rate_mbps".into(),
                        reason: format!("must be a positive number, got {rate}"),
                    });
                }
                Ok(Box::new(ConstRate::from_info(info)))
            },
        );
        r
    }

    /// Register (or replace) a constructor.
    pub fn register<F>(&mut self, name: &str, description: &str, make: F)
    where
        F: FnMut(&FlowInfo, &mut Setup<'_>) -> Result<Box<dyn CongestionController>, CreateError>
            + 'static,
    {
        let entry = Entry {
            name: name.to_string(),
            description: description.to_string(),
            make: Box::new(make),
        };
        if let Some(e) = self.entries.iter_mut().find(|e| e.name == name) {
            *e = entry;
        } else {
            self.entries.push(entry);
        }
    }

    /// `(name, description)` of every registered controller, in registration order.
    pub fn describe(&self) -> Vec<(String, String)> {
        self.entries
            .iter()
            .map(|e| (e.name.clone(), e.description.clone()))
            .collect()
    }
}

impl ControllerFactory for Registry {
    fn contains(&self, name: &str) -> bool {
        self.entries.iter().any(|e| e.name == name)
    }

    fn names(&self) -> Vec<String> {
        self.entries.iter().map(|e| e.name.clone()).collect()
    }

    fn create(
        &mut self,
        info: &FlowInfo,
        setup: &mut Setup<'_>,
    ) -> Result<Box<dyn CongestionController>, CreateError> {
        let known = self.names().join(", ");
        match self.entries.iter_mut().find(|e| e.name == info.alg) {
            Some(e) => (e.make)(info, setup),
            None => Err(CreateError::Unknown {
                name: info.alg.clone(),
                known,
            }),
        }
    }
}
