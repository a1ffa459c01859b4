//! Errors of the VM's three operations: loading a program, staging work, invoking.

use thiserror::Error;

use crate::bytecode::{BinError, LIBCCP_REPORT_REGS, RegKind};

/// Why a [`Bin`](crate::bytecode::Bin) cannot be loaded as a [`Program`](super::Program).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Error)]
pub enum LoadError {
    /// The program violates the limits or event ranges checked by
    /// [`Bin::validate`](crate::bytecode::Bin::validate).
    #[error("invalid program: {0}")]
    Bin(#[from] BinError),
    /// An instruction writes an immediate or a primitive (libccp rejects the INSTALL
    /// with −34).
    #[error("instruction {instr}: result operand of kind {kind:?} is not writable")]
    ResultNotWritable {
        /// Index of the offending instruction.
        instr: usize,
        /// Its result operand kind.
        kind: RegKind,
    },
    /// The DEF prefix declares more report fields than a MEASURE can carry.
    #[error("{0} report fields exceed libccp's limit of {LIBCCP_REPORT_REGS}")]
    TooManyReportFields(usize),
}

/// Why an update could not be staged.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Error)]
pub enum StageError {
    /// Only control registers (types 0 and 8) and implicit registers (type 2) can be
    /// updated; libccp returns −53 (`UPDATE_INVALID_REG_TYPE`). Updates of the same
    /// message staged before this one stay staged, as in libccp.
    #[error("register type {0} cannot be updated")]
    InvalidRegType(u8),
}

impl StageError {
    /// The libccp return code for this error.
    pub fn libccp_code(self) -> i32 {
        match self {
            StageError::InvalidRegType(_) => -53,
        }
    }
}

/// Why an invocation did not run the program to completion.
///
/// On every error the program's cwnd/rate/report side effects are skipped, but calls
/// caused by staged `Cwnd`/`Rate` updates (made before the program ran) still happen:
/// see [`Outcome::calls`](super::Outcome::calls).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Error)]
pub enum InvokeError {
    /// `ADD` wrapped around (libccp −91).
    #[error("instruction {instr}: addition overflow")]
    AddOverflow {
        /// Index of the aborting instruction.
        instr: u16,
    },
    /// `DIV` by zero (libccp −92).
    #[error("instruction {instr}: division by zero")]
    DivByZero {
        /// Index of the aborting instruction.
        instr: u16,
    },
    /// `MUL` overflow as detected by libccp's incomplete test (libccp −93).
    #[error("instruction {instr}: multiplication overflow")]
    MulOverflow {
        /// Index of the aborting instruction.
        instr: u16,
    },
    /// `SUB` underflow (libccp −94).
    #[error("instruction {instr}: subtraction underflow")]
    SubUnderflow {
        /// Index of the aborting instruction.
        instr: u16,
    },
    /// No program is active yet: the agent has not sent CHANGE_PROG (libccp −96).
    #[error("no datapath program is active")]
    NoProgram,
}

impl InvokeError {
    /// The libccp return code for this error.
    pub fn libccp_code(self) -> i32 {
        match self {
            InvokeError::AddOverflow { .. } => -91,
            InvokeError::DivByZero { .. } => -92,
            InvokeError::MulOverflow { .. } => -93,
            InvokeError::SubUnderflow { .. } => -94,
            InvokeError::NoProgram => -96,
        }
    }
}
