//! The CCP datapath-program language.
//!
//! * [`bytecode`] — libccp's instruction/event encoding, shared with the wire codec.
//! * Front end and compiler: [`parser`] (source → [`ast`]), [`compiler`] (type check,
//!   register allocation, code generation byte-identical to portus), [`scope`] (names →
//!   registers), [`error`] (located errors), [`listing`] (readable dump). Entry points:
//!   [`compile`] and [`compile_with_presets`].
//! * [`vm`] — the interpreter that runs a compiled program per ACK, as libccp does.
//!
//! This crate performs no I/O and reads no clock: time is always an argument.
#![forbid(unsafe_code)]

pub mod ast;
pub mod bytecode;
pub mod compiler;
pub mod error;
pub mod lexer;
pub mod listing;
pub mod parser;
pub mod scope;
pub mod span;
pub mod vm;

pub use compiler::{
    CompileWithPresetsError, CompiledProgram, PresetError, compile, compile_with_presets,
};
pub use error::{CompileError, ErrorKind, Warning};
pub use scope::{FieldError, Scope, Var, VarClass};
