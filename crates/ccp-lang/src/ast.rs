//! Abstract syntax of a datapath program (spec §3.2), with source spans.

use crate::span::Span;

/// A parsed program: the `def` block and the `when` clauses in source order. Names in
/// expressions borrow from the source text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Program<'a> {
    /// Declarations in source order (the `Report` block's entries where they appear).
    pub decls: Vec<Decl>,
    /// Span of the whole `(def ...)` block.
    pub def_span: Span,
    /// The `when` clauses in source order.
    pub events: Vec<When<'a>>,
}

/// One variable declaration of the `def` block.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decl {
    /// Full variable name (`Report.` is prepended to entries of the `Report` block).
    pub name: String,
    /// Span of the name as written.
    pub name_span: Span,
    /// Declared `volatile` (reset to the default after every report).
    pub volatile: bool,
    /// Default value.
    pub default: Literal,
    /// Span of the default value.
    pub default_span: Span,
    /// The declaration sits inside a `(Report ...)` block.
    pub in_report_block: bool,
    /// Span of the whole declaration.
    pub span: Span,
}

impl Decl {
    /// Whether this declares a report variable (inside the `Report` block, or an
    /// old-style `Report.x` declaration).
    pub fn is_report(&self) -> bool {
        self.in_report_block || self.name.starts_with("Report.")
    }
}

/// A literal default value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Literal {
    /// A number (`+infinity` is `u64::MAX`).
    Num(u64),
    /// `true` or `false`.
    Bool(bool),
}

/// One `(when condition body...)` clause.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct When<'a> {
    /// The condition.
    pub cond: Expr<'a>,
    /// Body statements, at least one.
    pub body: Vec<Expr<'a>>,
    /// Span of the whole clause.
    pub span: Span,
}

/// An expression with its span.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Expr<'a> {
    /// What it is.
    pub kind: ExprKind<'a>,
    /// Where it is.
    pub span: Span,
}

/// The expression forms.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ExprKind<'a> {
    /// A number (`+infinity` is `u64::MAX`).
    Num(u64),
    /// `true` / `false`.
    Bool(bool),
    /// A variable, primitive or implicit register name.
    Name(&'a str),
    /// A binary operation `(op left right)`.
    Op {
        /// The operator.
        op: BinOp,
        /// The operator as written (`+` or `add`, …), for messages.
        op_text: &'a str,
        /// Span of the operator token.
        op_span: Span,
        /// Left operand.
        left: Box<Expr<'a>>,
        /// Right operand.
        right: Box<Expr<'a>>,
    },
    /// `(report)`.
    Report,
    /// `(fallthrough)`.
    Fallthrough,
}

/// Binary operators of the language (spec §3.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BinOp {
    /// `+`, `add`.
    Add,
    /// `&&`, `and`.
    And,
    /// `:=`, `bind`.
    Bind,
    /// `/`, `div`.
    Div,
    /// `==`, `eq`.
    Equiv,
    /// `ewma`.
    Ewma,
    /// `>`, `gt`.
    Gt,
    /// `if`.
    If,
    /// `<`, `lt`.
    Lt,
    /// `max`.
    Max,
    /// `wrapped_max`.
    MaxWrap,
    /// `min`.
    Min,
    /// `*`, `mul`.
    Mul,
    /// `!if`.
    NotIf,
    /// `||`, `or`.
    Or,
    /// `-`, `sub`.
    Sub,
}

impl BinOp {
    /// Every spelling of every operator.
    pub const SPELLINGS: [(&'static str, BinOp); 26] = [
        ("+", BinOp::Add),
        ("add", BinOp::Add),
        ("&&", BinOp::And),
        ("and", BinOp::And),
        (":=", BinOp::Bind),
        ("bind", BinOp::Bind),
        ("if", BinOp::If),
        ("/", BinOp::Div),
        ("div", BinOp::Div),
        ("==", BinOp::Equiv),
        ("eq", BinOp::Equiv),
        ("ewma", BinOp::Ewma),
        (">", BinOp::Gt),
        ("gt", BinOp::Gt),
        ("<", BinOp::Lt),
        ("lt", BinOp::Lt),
        ("wrapped_max", BinOp::MaxWrap),
        ("max", BinOp::Max),
        ("min", BinOp::Min),
        ("*", BinOp::Mul),
        ("mul", BinOp::Mul),
        ("||", BinOp::Or),
        ("or", BinOp::Or),
        ("!if", BinOp::NotIf),
        ("-", BinOp::Sub),
        ("sub", BinOp::Sub),
    ];

    /// The operator spelled exactly `s`, if any.
    pub fn from_spelling(s: &str) -> Option<BinOp> {
        BinOp::SPELLINGS
            .iter()
            .find(|(sp, _)| *sp == s)
            .map(|&(_, op)| op)
    }
}
