//! Compiled datapath programs: uid allocation, INSTALL messages, name lookups.

use std::collections::HashMap;
use std::sync::Arc;

use ccp_lang::{CompileError, Scope};
use ccp_wire::{Encode, EncodeError, Install};
use thiserror::Error;

use crate::alg::ErasedAlg;

/// One compiled program, as the agent knows it.
#[derive(Debug)]
pub struct Program {
    name: String,
    alg: String,
    uid: u32,
    scope: Scope,
    /// Report variable name (with and without `Report.`) → field index.
    report_index: rustc_hash::FxHashMap<Box<str>, usize>,
    num_reports: usize,
    install: Vec<u8>,
}

impl Program {
    /// The program's name (its key in the algorithm's [`Programs`](crate::Programs)).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The name of the algorithm that declared it.
    pub fn alg_name(&self) -> &str {
        &self.alg
    }

    /// The uid the agent allocated (1, 2, … in start-up order).
    pub fn uid(&self) -> u32 {
        self.uid
    }

    /// Names → registers.
    pub fn scope(&self) -> &Scope {
        &self.scope
    }

    /// Number of report variables (fields of a MEASURE from this program).
    pub fn num_reports(&self) -> usize {
        self.num_reports
    }

    /// Index of a report variable (`"acked"` or `"Report.acked"`) in a report.
    pub fn report_field_index(&self, name: &str) -> Option<usize> {
        self.report_index.get(name).copied()
    }

    /// The INSTALL message (sid 0).
    pub fn install_msg(&self) -> &[u8] {
        &self.install
    }
}

/// Why start-up failed.
#[derive(Debug, Error)]
pub enum StartError {
    /// No default algorithm was given.
    #[error("no default algorithm: call default_alg(...) before starting")]
    NoDefaultAlg,
    /// A datapath program did not compile.
    #[error("algorithm `{alg}`: datapath program `{program}` failed to compile:\n{error}")]
    Compile {
        /// Algorithm name.
        alg: String,
        /// Program name.
        program: String,
        /// The error (`LINE:COL: message`, source line, caret).
        #[source]
        error: Box<CompileError>,
    },
    /// A compiled program cannot be carried by an INSTALL message.
    #[error("algorithm `{alg}`: datapath program `{program}` cannot be encoded: {error}")]
    Encode {
        /// Algorithm name.
        alg: String,
        /// Program name.
        program: String,
        /// The encoder's error.
        #[source]
        error: EncodeError,
    },
    /// An algorithm declared more programs than uids can number.
    #[error("too many datapath programs")]
    TooManyPrograms,
}

/// All programs of all algorithms, indexed by uid (uid `u` at index `u − 1`).
#[derive(Debug, Default)]
pub(crate) struct ProgramTable {
    by_uid: Vec<Arc<Program>>,
}

impl ProgramTable {
    pub(crate) fn get(&self, uid: u32) -> Option<&Arc<Program>> {
        (uid as usize)
            .checked_sub(1)
            .and_then(|i| self.by_uid.get(i))
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = &Arc<Program>> {
        self.by_uid.iter()
    }

    pub(crate) fn len(&self) -> usize {
        self.by_uid.len()
    }
}

/// One algorithm's programs by name.
#[derive(Debug, Default)]
pub(crate) struct ProgramSet {
    by_name: HashMap<String, Arc<Program>>,
}

impl ProgramSet {
    pub(crate) fn get(&self, name: &str) -> Option<&Arc<Program>> {
        self.by_name.get(name)
    }
}

/// Compile every program of `algs` (in order; within an algorithm by name), allocating
/// uids 1, 2, ….
pub(crate) fn compile_all(
    algs: &[Box<dyn ErasedAlg>],
) -> Result<(ProgramTable, Vec<Arc<ProgramSet>>), StartError> {
    let mut table = ProgramTable::default();
    let mut sets = Vec::with_capacity(algs.len());
    for alg in algs {
        let alg_name = alg.name().to_owned();
        let mut set = ProgramSet::default();
        for (name, src) in alg.datapath_programs() {
            let uid =
                u32::try_from(table.by_uid.len() + 1).map_err(|_| StartError::TooManyPrograms)?;
            let compiled = ccp_lang::compile(&src, uid).map_err(|error| StartError::Compile {
                alg: alg_name.clone(),
                program: name.clone(),
                error: Box::new(error),
            })?;
            for w in &compiled.warnings {
                tracing::warn!(alg = %alg_name, program = %name, "{w}");
            }
            let install = Install {
                sid: 0,
                program_uid: uid,
                bin: compiled.bin,
            }
            .encode()
            .map_err(|error| StartError::Encode {
                alg: alg_name.clone(),
                program: name.clone(),
                error,
            })?;
            let scope = compiled.scope;
            let mut report_index = rustc_hash::FxHashMap::default();
            let reports = scope.reports();
            let num_reports = reports.len();
            for v in &reports {
                let i = v.index as usize;
                report_index.insert(v.name.clone().into_boxed_str(), i);
                report_index.insert(v.short_name().to_owned().into_boxed_str(), i);
            }
            let prog = Arc::new(Program {
                name: name.clone(),
                alg: alg_name.clone(),
                uid,
                scope,
                report_index,
                num_reports,
                install,
            });
            tracing::debug!(alg = %alg_name, program = %name, uid, "compiled datapath program");
            table.by_uid.push(prog.clone());
            set.by_name.insert(name, prog);
        }
        sets.push(Arc::new(set));
    }
    Ok((table, sets))
}
