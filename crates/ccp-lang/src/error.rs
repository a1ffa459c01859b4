//! Compile errors and warnings that point at the source.

use crate::span::{Location, Span, locate, snippet};
use thiserror::Error;

/// What went wrong while compiling a program. The `Display` text of each variant is the
/// message shown after `LINE:COL:`.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum ErrorKind {
    // ---- lexical -------------------------------------------------------------------
    /// A character that cannot start any token.
    #[error("unexpected character `{0}`")]
    UnexpectedChar(char),
    /// A token that starts with a digit but is not all digits.
    #[error("invalid number `{0}`: numbers are plain decimal digits")]
    BadNumber(String),
    /// A number that does not fit in 64 bits.
    #[error("number `{0}` does not fit in 64 bits")]
    NumberOverflow(String),
    /// A name starting with `__`.
    #[error("names beginning with `__` are reserved for internal use: `{0}`")]
    ReservedName(String),

    // ---- structure -----------------------------------------------------------------
    /// A `(` that is never closed.
    #[error("unterminated list: this `(` is never closed")]
    UnterminatedList,
    /// A `)` without a matching `(`.
    #[error("unexpected `)` with no matching `(`")]
    UnmatchedCloseParen,
    /// Lists nested deeper than the parser allows.
    #[error("expression nested too deeply (more than {0} levels)")]
    TooDeep(usize),
    /// The source holds no program at all.
    #[error("empty program: expected a `(def ...)` block")]
    EmptyProgram,
    /// The first form is not a `(def ...)` block.
    #[error("a program must start with a `(def ...)` block")]
    MissingDef,
    /// A second `(def ...)` block.
    #[error("only one `(def ...)` block is allowed, at the start of the program")]
    DuplicateDef,
    /// A program with a `def` block but no `when` clause.
    #[error("the program has no `(when ...)` clause")]
    NoEvents,
    /// Something other than a `(when ...)` clause at top level.
    #[error("expected a `(when ...)` clause, found {0}")]
    ExpectedWhen(String),
    /// A `when` clause without a condition.
    #[error("`when` needs a condition and at least one body statement")]
    MissingCondition,
    /// A `when` clause with a condition but no body.
    #[error("`when` clause has a condition but no body statements")]
    EmptyWhenBody,
    /// `(def ...)` or `(when ...)` used inside an expression.
    #[error("`{0}` can only be used at the top level of a program")]
    MisplacedKeyword(String),
    /// `()`.
    #[error("empty expression `()`")]
    EmptyList,
    /// An operator position holding something that is not an operator.
    #[error("unknown operator `{0}`")]
    UnknownOperator(String),
    /// An unknown operator that looks like a common mistake.
    #[error("unknown operator `{op}`: {hint}")]
    UnknownOperatorHint {
        /// The operator as written.
        op: String,
        /// What to write instead.
        hint: &'static str,
    },
    /// A list whose first element is itself a list.
    #[error("expected an operator after `(`, found a list")]
    ListInOperatorPosition,
    /// An operator with the wrong number of operands.
    #[error("operator `{op}` takes exactly 2 operands, found {found}")]
    WrongArity {
        /// The operator as written.
        op: String,
        /// How many operands were given.
        found: usize,
    },
    /// A symbol such as `-` where a value was expected.
    #[error("unexpected `{0}`: an operator must come right after `(`")]
    StrayOperator(String),
    /// `-5` and the like.
    #[error("negative numbers are not supported: values are unsigned 64-bit integers")]
    NegativeNumber,
    /// `(reset)`, removed from the language in 2018.
    #[error("`(reset)` was removed from the language; write `(:= Micros 0)` to restart the timer")]
    ResetRemoved,
    /// `(report 1)` and the like.
    #[error("`({0})` takes no arguments")]
    CommandArgs(&'static str),
    /// `(report)`/`(fallthrough)` inside an expression or as a condition.
    #[error("`({0})` is a statement: it can only appear directly in a `when` body")]
    CommandNotStatement(&'static str),

    // ---- declarations --------------------------------------------------------------
    /// A malformed declaration.
    #[error("a declaration must look like `(name default)` or `(volatile name default)`")]
    BadDecl,
    /// A declaration whose default is not a literal.
    #[error("the default value of `{0}` must be a number, `+infinity`, `true` or `false`")]
    DeclDefaultNotLiteral(String),
    /// A declaration name that cannot be used as a variable.
    #[error("`{0}` cannot be used as a variable name: {1}")]
    InvalidDeclName(String, &'static str),
    /// Two declarations of the same name.
    #[error("variable `{0}` is declared twice")]
    DuplicateVar(String),
    /// A declaration named like a primitive or implicit register.
    #[error("`{0}` is a built-in name and cannot be declared")]
    ShadowsBuiltin(String),
    /// `(Report ...)` inside `(Report ...)`.
    #[error("`(Report ...)` blocks cannot be nested")]
    NestedReport,
    /// More than 16 report variables.
    #[error("too many report variables: at most {0} are allowed")]
    TooManyReportVars(usize),
    /// More than 16 control variables.
    #[error("too many control variables: at most {0} are allowed")]
    TooManyControlVars(usize),

    // ---- names and types -----------------------------------------------------------
    /// Use of an undeclared `Report.*` name.
    #[error("report variable `{0}` is not declared in the `(def ...)` block")]
    UndeclaredReport(String),
    /// Use of an unknown `Ack.*`/`Flow.*` name.
    #[error("unknown primitive `{0}`")]
    UnknownPrimitive(String),
    /// A local read before any assignment.
    #[error("variable `{0}` is used before it is assigned")]
    UseBeforeAssign(String),
    /// Operand of the wrong type.
    #[error("`{op}` expects {expected} operands, found {found}")]
    TypeMismatch {
        /// The operator as written.
        op: String,
        /// Expected type.
        expected: &'static str,
        /// Actual type.
        found: &'static str,
    },
    /// A `when` condition that is not Bool.
    #[error("a `when` condition must be a Bool expression, found {0}")]
    ConditionNotBool(String),
    /// `:=` into a primitive.
    #[error("cannot assign to `{0}`: primitives are read-only")]
    AssignToPrimitive(String),
    /// `:=` into something that is not a variable name.
    #[error("the target of `{0}` must be a variable name")]
    AssignToNonVariable(String),
    /// `if`/`!if`/`ewma` not directly under `:=`.
    #[error("`{0}` can only be used as the value of `:=`, e.g. `(:= Report.x ({0} a b))`")]
    ConditionalOutsideBind(String),
    /// `if`/`!if`/`ewma` assigned to something other than a report/control variable.
    #[error(
        "the result of `{op}` can only be assigned to a report or control variable, not to `{target}`"
    )]
    ConditionalBadTarget {
        /// The operator as written.
        op: String,
        /// The target name.
        target: String,
    },

    // ---- limits --------------------------------------------------------------------
    /// A literal the wire encoding cannot carry.
    #[error("literal {0} is too large: immediates must be below 2^31 (2147483648) or `+infinity`")]
    ImmediateTooLarge(u64),
    /// More than 6 locals.
    #[error("too many local variables: at most {max} are allowed (`{name}` would be one more)")]
    TooManyLocals {
        /// The limit.
        max: usize,
        /// The name that would exceed it.
        name: String,
    },
    /// More than 8 temporaries in one statement.
    #[error("expression too complex: a statement may use at most {0} temporaries")]
    TooManyTemporaries(usize),
    /// More than 255 instructions.
    #[error("program too large: {0} instructions exceed the limit of {1}")]
    TooManyInstructions(usize, usize),
    /// More than 256 events.
    #[error("too many `when` clauses: at most {0} are allowed")]
    TooManyEvents(usize),
}

/// A compile error with its position in the source.
///
/// `Display` renders `LINE:COL: message`, then the offending source line, then a caret
/// line under the error's span.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
#[error("{}", self.render())]
pub struct CompileError {
    /// What went wrong.
    pub kind: ErrorKind,
    /// The offending bytes of the source.
    pub span: Span,
    /// 1-based line of `span.start`.
    pub line: u32,
    /// 1-based column (in characters) of `span.start`.
    pub col: u32,
    snippet: String,
}

impl CompileError {
    /// Build an error for `span` of `src`.
    pub fn new(kind: ErrorKind, span: Span, src: &str) -> CompileError {
        let Location { line, col } = locate(src, span.start);
        CompileError {
            kind,
            span,
            line,
            col,
            snippet: snippet(src, span),
        }
    }

    /// The message without position (`Display` of [`ErrorKind`]).
    pub fn message(&self) -> String {
        self.kind.to_string()
    }

    /// `LINE:COL: message` followed by the source line and the caret line.
    pub fn render(&self) -> String {
        format!(
            "{}:{}: {}\n{}",
            self.line, self.col, self.kind, self.snippet
        )
    }

    /// Like [`render`](Self::render), prefixed with a file name:
    /// `PATH:LINE:COL: message`, source line, caret line.
    pub fn render_with_path(&self, path: &str) -> String {
        format!("{path}:{}", self.render())
    }
}

/// A non-fatal diagnostic: the program compiles, but probably not as intended (or not
/// portably to portus).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Warning {
    /// The bytes the warning is about.
    pub span: Span,
    /// 1-based line of `span.start`.
    pub line: u32,
    /// 1-based column of `span.start`.
    pub col: u32,
    /// The message.
    pub message: String,
}

impl Warning {
    /// A warning about `span` of `src`.
    pub fn new(message: String, span: Span, src: &str) -> Warning {
        let Location { line, col } = locate(src, span.start);
        Warning {
            span,
            line,
            col,
            message,
        }
    }
}

impl std::fmt::Display for Warning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}: warning: {}", self.line, self.col, self.message)
    }
}
