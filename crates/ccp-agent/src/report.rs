//! [`Report`]: one MEASURE from a datapath, decoded by name through its program's scope.

use std::time::Duration;

use ccp_lang::Scope;
use thiserror::Error;

use crate::programs::Program;

/// Why a field could not be read from a [`Report`].
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum ReportError {
    /// The program has no report variable of this name.
    #[error("program `{program}` has no report variable `{name}`")]
    UnknownField {
        /// The name asked for.
        name: String,
        /// The program that produced the report.
        program: String,
    },
    /// The datapath did not append Cwnd/Rate to its reports.
    #[error(
        "datapath does not report {0} (legacy libccp, or the REPORT_CWND_RATE capability was not negotiated): store it in a report variable"
    )]
    CwndNotReported(&'static str),
    /// The report carries fewer fields than the program declares.
    #[error("report has {received} fields, `{name}` is field {index}")]
    FieldMissing {
        /// The name asked for.
        name: String,
        /// Its field index.
        index: usize,
        /// Fields received.
        received: usize,
    },
}

/// A report from the datapath (MEASURE), borrowed from the agent's receive buffers: no
/// allocation per report. Copy out what you need to keep ([`Report::to_owned_report`]).
#[derive(Clone, Copy, Debug)]
pub struct Report<'a> {
    program: &'a Program,
    fields: &'a [u64],
    cwnd_rate: Option<(u64, u64)>,
    received_at: Duration,
}

impl<'a> Report<'a> {
    pub(crate) fn new(
        program: &'a Program,
        fields: &'a [u64],
        cwnd_rate: Option<(u64, u64)>,
        received_at: Duration,
    ) -> Report<'a> {
        Report {
            program,
            fields,
            cwnd_rate,
            received_at,
        }
    }

    /// uid of the program that produced the report.
    pub fn program_uid(&self) -> u32 {
        self.program.uid()
    }

    /// Name of the program that produced the report.
    pub fn program_name(&self) -> &'a str {
        self.program.name()
    }

    /// The program's scope (names → registers).
    pub fn scope(&self) -> &'a Scope {
        self.program.scope()
    }

    /// The report variables' values in register order (without the appended Cwnd/Rate).
    pub fn fields(&self) -> &'a [u64] {
        self.fields
    }

    /// A report variable by name, with or without the `Report.` prefix; `Cwnd` and `Rate`
    /// when the datapath appends them (see [`cwnd`](Self::cwnd)).
    pub fn get_field(&self, name: &str) -> Result<u64, ReportError> {
        match self.program.report_field_index(name) {
            Some(index) => {
                self.fields
                    .get(index)
                    .copied()
                    .ok_or_else(|| ReportError::FieldMissing {
                        name: name.to_owned(),
                        index,
                        received: self.fields.len(),
                    })
            }
            None => match name {
                "Cwnd" => self.cwnd(),
                "Rate" => self.rate(),
                _ => Err(ReportError::UnknownField {
                    name: name.to_owned(),
                    program: self.program.name().to_owned(),
                }),
            },
        }
    }

    /// The connection's congestion window (bytes) after the program ran, if the datapath
    /// appends it (capability `REPORT_CWND_RATE`, negotiated by HELLO; libccp does not).
    pub fn cwnd(&self) -> Result<u64, ReportError> {
        self.cwnd_rate
            .map(|(c, _)| c)
            .ok_or(ReportError::CwndNotReported("Cwnd"))
    }

    /// The connection's rate (bytes/s) after the program ran, if the datapath appends it.
    pub fn rate(&self) -> Result<u64, ReportError> {
        self.cwnd_rate
            .map(|(_, r)| r)
            .ok_or(ReportError::CwndNotReported("Rate"))
    }

    /// The `now` the agent was given when it handled this report (the driver's clock;
    /// virtual time under a simulator).
    pub fn received_at(&self) -> Duration {
        self.received_at
    }

    /// An owned copy: field names (short form) and values.
    pub fn to_owned_report(&self) -> OwnedReport {
        let mut fields: Vec<(String, u64)> = self
            .program
            .scope()
            .reports()
            .iter()
            .filter_map(|v| {
                self.fields
                    .get(v.index as usize)
                    .map(|&x| (v.short_name().to_owned(), x))
            })
            .collect();
        fields.sort_by_key(|(n, _)| self.program.report_field_index(n));
        OwnedReport {
            program_uid: self.program.uid(),
            program_name: self.program.name().to_owned(),
            fields,
            cwnd_rate: self.cwnd_rate,
            received_at: self.received_at,
        }
    }
}

/// An owned copy of a [`Report`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OwnedReport {
    /// uid of the program that produced it.
    pub program_uid: u32,
    /// Name of that program.
    pub program_name: String,
    /// Report variables (short names) and values, in register order.
    pub fields: Vec<(String, u64)>,
    /// Cwnd and Rate, if the datapath appends them.
    pub cwnd_rate: Option<(u64, u64)>,
    /// When the agent handled it.
    pub received_at: Duration,
}

impl OwnedReport {
    /// A field by short name (`Report.` prefix accepted).
    pub fn get(&self, name: &str) -> Option<u64> {
        let n = name.strip_prefix("Report.").unwrap_or(name);
        self.fields.iter().find(|(k, _)| k == n).map(|&(_, v)| v)
    }
}
