//! Parser: source text → [`Program`](crate::ast::Program) (spec §3.1–§3.2).
//!
//! Parsing happens in two steps: tokens are first grouped into a tree of lists (which
//! is where unbalanced parentheses are reported, at the offending parenthesis), then
//! the tree is read as a `def` block followed by `when` clauses.
//!
//! Deliberate differences from portus (all strictly more permissive or with clearer
//! errors; no program portus compiles correctly is read differently, except the
//! `volatileX` quirk noted below):
//! * comments are accepted anywhere;
//! * whitespace is free: `( def )`, `(def )`, `( when ...)` are accepted;
//! * operators, keywords and `true`/`false` are whole words: `trueish`, `maximum`
//!   are names, not `true`+`ish` or `max`+`imum`;
//! * a declaration `(volatileX 0)` declares the non-volatile variable `volatileX`
//!   (portus reads it as `volatile X`);
//! * an empty `(Report)` block and several `Report` blocks are accepted;
//! * rejected with a clear message where portus accepts something broken: a name as a
//!   default value, duplicate declarations, declarations that shadow built-in names,
//!   `(report)`/`(fallthrough)` used inside an expression.

use crate::ast::{BinOp, Decl, Expr, ExprKind, Literal, Program, When};
use crate::bytecode::{implicit, primitive};
use crate::error::{CompileError, ErrorKind};
use crate::lexer::{Token, tokenize};
use crate::span::Span;
use std::collections::HashSet;

/// Deepest list nesting accepted. Real programs need far less (a statement may use at
/// most 8 temporaries); the limit keeps the recursive passes' stack use bounded.
pub const MAX_DEPTH: usize = 200;

/// Parse a whole program.
pub fn parse(src: &str) -> Result<Program<'_>, CompileError> {
    let tokens = tokenize(src)?;
    let top = build_tree(src, tokens)?;
    Parser { src }.program(top)
}

/// A token tree: an atom or a parenthesised list.
#[derive(Debug)]
enum Sx<'a> {
    Atom(Token<'a>, Span),
    List(Vec<Sx<'a>>, Span),
}

impl<'a> Sx<'a> {
    fn span(&self) -> Span {
        match self {
            Sx::Atom(_, s) | Sx::List(_, s) => *s,
        }
    }

    fn word(&self) -> Option<&'a str> {
        match self {
            Sx::Atom(Token::Word(w), _) => Some(w),
            _ => None,
        }
    }

    /// Span of the opening parenthesis and the head atom of a list (for messages about
    /// the list as a whole), or the atom's own span.
    fn head_span(&self) -> Span {
        match self {
            Sx::List(items, s) => match items.first() {
                Some(Sx::Atom(_, hs)) => Span::new(s.start, hs.end),
                _ => Span::new(s.start, s.start + 1),
            },
            Sx::Atom(_, s) => *s,
        }
    }

    fn describe(&self) -> String {
        match self {
            Sx::Atom(t, _) => t.describe(),
            Sx::List(items, _) => match items.first() {
                Some(Sx::Atom(Token::Word(w) | Token::Sym(w), _)) => format!("`({w} ...)`"),
                _ => "a list".to_string(),
            },
        }
    }
}

fn build_tree<'a>(src: &str, tokens: Vec<(Token<'a>, Span)>) -> Result<Vec<Sx<'a>>, CompileError> {
    // Stack of open lists: (items so far, position of the `(`).
    let mut stack: Vec<(Vec<Sx<'a>>, usize)> = Vec::new();
    let mut top = Vec::new();
    for (tok, span) in tokens {
        match tok {
            Token::LParen => {
                if stack.len() >= MAX_DEPTH {
                    return Err(CompileError::new(ErrorKind::TooDeep(MAX_DEPTH), span, src));
                }
                stack.push((Vec::new(), span.start));
            }
            Token::RParen => {
                let Some((items, start)) = stack.pop() else {
                    return Err(CompileError::new(ErrorKind::UnmatchedCloseParen, span, src));
                };
                let list = Sx::List(items, Span::new(start, span.end));
                match stack.last_mut() {
                    Some((parent, _)) => parent.push(list),
                    None => top.push(list),
                }
            }
            tok => {
                let atom = Sx::Atom(tok, span);
                match stack.last_mut() {
                    Some((parent, _)) => parent.push(atom),
                    None => top.push(atom),
                }
            }
        }
    }
    if let Some((_, start)) = stack.last() {
        return Err(CompileError::new(
            ErrorKind::UnterminatedList,
            Span::new(*start, start + 1),
            src,
        ));
    }
    Ok(top)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Ctx {
    Statement,
    Condition,
    Operand,
}

struct Parser<'a> {
    src: &'a str,
}

type PResult<T> = Result<T, CompileError>;

fn is_builtin(name: &str) -> bool {
    primitive::index(name).is_some() || implicit::index(name).is_some()
}

impl<'a> Parser<'a> {
    fn err<T>(&self, kind: ErrorKind, span: Span) -> Result<T, CompileError> {
        Err(CompileError::new(kind, span, self.src))
    }

    fn program(&self, top: Vec<Sx<'a>>) -> PResult<Program<'a>> {
        let mut it = top.into_iter();
        let Some(first) = it.next() else {
            return self.err(ErrorKind::EmptyProgram, Span::new(0, 0));
        };
        let (decls, def_span) = match first {
            Sx::List(items, span) if items.first().and_then(Sx::word) == Some("def") => {
                (self.def_block(items)?, span)
            }
            other => return self.err(ErrorKind::MissingDef, other.head_span()),
        };
        let mut events = Vec::new();
        for sx in it {
            match sx {
                Sx::List(items, span) if items.first().and_then(Sx::word) == Some("when") => {
                    events.push(self.when_clause(items, span)?);
                }
                ref l @ Sx::List(ref items, _)
                    if items.first().and_then(Sx::word) == Some("def") =>
                {
                    return self.err(ErrorKind::DuplicateDef, l.head_span());
                }
                other => {
                    return self.err(ErrorKind::ExpectedWhen(other.describe()), other.head_span());
                }
            }
        }
        if events.is_empty() {
            return self.err(
                ErrorKind::NoEvents,
                Span::new(def_span.start, def_span.start + 4),
            );
        }
        Ok(Program {
            decls,
            def_span,
            events,
        })
    }

    fn def_block(&self, items: Vec<Sx<'a>>) -> PResult<Vec<Decl>> {
        let mut decls = Vec::new();
        let mut seen = HashSet::new();
        for item in items.into_iter().skip(1) {
            match item {
                Sx::List(inner, span)
                    if inner.first().and_then(Sx::word) == Some("Report")
                        && (inner.len() == 1 || matches!(inner.get(1), Some(Sx::List(..)))) =>
                {
                    let _ = span;
                    for d in inner.into_iter().skip(1) {
                        match d {
                            Sx::List(di, dspan) => {
                                if di.first().and_then(Sx::word) == Some("Report")
                                    && matches!(di.get(1), Some(Sx::List(..)))
                                {
                                    return self.err(
                                        ErrorKind::NestedReport,
                                        Sx::List(di, dspan).head_span(),
                                    );
                                }
                                decls.push(self.decl(di, dspan, true, &mut seen)?);
                            }
                            atom => return self.err(ErrorKind::BadDecl, atom.span()),
                        }
                    }
                }
                Sx::List(inner, span) => decls.push(self.decl(inner, span, false, &mut seen)?),
                atom => return self.err(ErrorKind::BadDecl, atom.span()),
            }
        }
        Ok(decls)
    }

    fn decl(
        &self,
        items: Vec<Sx<'a>>,
        span: Span,
        in_report_block: bool,
        seen: &mut HashSet<String>,
    ) -> Result<Decl, CompileError> {
        let (volatile, name_sx, default_sx) = match items.as_slice() {
            [v, n, d] if v.word() == Some("volatile") => (true, n, d),
            [n, d] => (false, n, d),
            _ => return self.err(ErrorKind::BadDecl, span),
        };
        let Some(written) = name_sx.word() else {
            return self.err(ErrorKind::BadDecl, name_sx.span());
        };
        let name_span = name_sx.span();
        if written.starts_with("__") {
            return self.err(ErrorKind::ReservedName(written.to_string()), name_span);
        }
        if written.starts_with(|c: char| c.is_ascii_digit()) {
            return self.err(
                ErrorKind::InvalidDeclName(written.to_string(), "names cannot start with a digit"),
                name_span,
            );
        }
        if matches!(written, "true" | "false" | "volatile") {
            return self.err(
                ErrorKind::InvalidDeclName(written.to_string(), "it is a keyword"),
                name_span,
            );
        }
        let name = if in_report_block {
            format!("Report.{written}")
        } else {
            written.to_string()
        };
        if is_builtin(&name) {
            return self.err(ErrorKind::ShadowsBuiltin(name), name_span);
        }
        if !seen.insert(name.clone()) {
            return self.err(ErrorKind::DuplicateVar(name), name_span);
        }
        let default_span = default_sx.span();
        let default = match default_sx {
            Sx::Atom(Token::Infinity, _) => Literal::Num(u64::MAX),
            Sx::Atom(Token::Word(w), s) => match *w {
                "true" => Literal::Bool(true),
                "false" => Literal::Bool(false),
                w if w.starts_with(|c: char| c.is_ascii_digit()) => {
                    Literal::Num(self.number(w, *s)?)
                }
                _ => return self.err(ErrorKind::DeclDefaultNotLiteral(name), default_span),
            },
            _ => return self.err(ErrorKind::DeclDefaultNotLiteral(name), default_span),
        };
        Ok(Decl {
            name,
            name_span,
            volatile,
            default,
            default_span,
            in_report_block,
            span,
        })
    }

    fn number(&self, w: &str, span: Span) -> Result<u64, CompileError> {
        if !w.bytes().all(|b| b.is_ascii_digit()) {
            return self.err(ErrorKind::BadNumber(w.to_string()), span);
        }
        w.parse::<u64>()
            .or_else(|_| self.err(ErrorKind::NumberOverflow(w.to_string()), span))
    }

    fn when_clause(&self, items: Vec<Sx<'a>>, span: Span) -> PResult<When<'a>> {
        let head = Span::new(
            span.start,
            items.first().map_or(span.start + 1, |h| h.span().end),
        );
        let mut it = items.into_iter().skip(1);
        let Some(cond_sx) = it.next() else {
            return self.err(ErrorKind::MissingCondition, head);
        };
        let cond = self.expr(cond_sx, Ctx::Condition)?;
        let body = it
            .map(|sx| self.expr(sx, Ctx::Statement))
            .collect::<Result<Vec<_>, _>>()?;
        if body.is_empty() {
            return self.err(ErrorKind::EmptyWhenBody, head);
        }
        Ok(When { cond, body, span })
    }

    fn expr(&self, sx: Sx<'a>, ctx: Ctx) -> PResult<Expr<'a>> {
        match sx {
            Sx::Atom(tok, span) => {
                let kind = match tok {
                    Token::Infinity => ExprKind::Num(u64::MAX),
                    Token::Word(w) => match w {
                        "true" => ExprKind::Bool(true),
                        "false" => ExprKind::Bool(false),
                        s if s.starts_with(|c: char| c.is_ascii_digit()) => {
                            ExprKind::Num(self.number(s, span)?)
                        }
                        s if s.starts_with("__") => {
                            return self.err(ErrorKind::ReservedName(w.to_string()), span);
                        }
                        _ => ExprKind::Name(w),
                    },
                    Token::Sym(s) => {
                        return self.err(ErrorKind::StrayOperator(s.to_string()), span);
                    }
                    Token::LParen | Token::RParen => {
                        return self.err(ErrorKind::UnmatchedCloseParen, span);
                    }
                };
                Ok(Expr { kind, span })
            }
            Sx::List(items, span) => self.list_expr(items, span, ctx),
        }
    }

    fn list_expr(&self, items: Vec<Sx<'a>>, span: Span, ctx: Ctx) -> PResult<Expr<'a>> {
        let mut it = items.into_iter();
        let Some(head) = it.next() else {
            return self.err(ErrorKind::EmptyList, span);
        };
        let head_span = head.span();
        let text = match head {
            Sx::Atom(Token::Word(w) | Token::Sym(w), _) => w,
            Sx::Atom(Token::Infinity, _) => {
                return self.err(ErrorKind::UnknownOperator("+infinity".into()), head_span);
            }
            Sx::Atom(..) | Sx::List(..) => {
                return self.err(ErrorKind::ListInOperatorPosition, head_span);
            }
        };
        let rest: Vec<Sx> = it.collect();
        let command = match text {
            "report" => Some(("report", ExprKind::Report)),
            "fallthrough" => Some(("fallthrough", ExprKind::Fallthrough)),
            "reset" => return self.err(ErrorKind::ResetRemoved, span),
            "def" | "when" => {
                return self.err(ErrorKind::MisplacedKeyword(text.to_string()), head_span);
            }
            _ => None,
        };
        if let Some((name, kind)) = command {
            if !rest.is_empty() {
                return self.err(ErrorKind::CommandArgs(name), span);
            }
            if ctx != Ctx::Statement {
                return self.err(ErrorKind::CommandNotStatement(name), span);
            }
            return Ok(Expr { kind, span });
        }
        let Some(op) = BinOp::from_spelling(text) else {
            let hint = match text {
                ">=" | "<=" => {
                    Some("the language has no `>=`/`<=`; combine `>`/`<` and `==` with `||`")
                }
                "!=" => Some("the language has no `!=`; write `(|| (< a b) (> a b))`"),
                "=" => Some("assignment is `:=` and comparison is `==`"),
                "!" | "not" => {
                    Some("there is no negation operator; use `!if` or invert the comparison")
                }
                _ => None,
            };
            return match hint {
                Some(hint) => self.err(
                    ErrorKind::UnknownOperatorHint {
                        op: text.to_string(),
                        hint,
                    },
                    head_span,
                ),
                None => self.err(ErrorKind::UnknownOperator(text.to_string()), head_span),
            };
        };
        // A stray symbol among the operands (`(- 0 -5)`) is a better thing to report
        // than the operand count it causes.
        for (k, sx) in rest.iter().enumerate() {
            if let Sx::Atom(Token::Sym(s), sspan) = sx {
                let negative = *s == "-"
                    && matches!(rest.get(k + 1), Some(Sx::Atom(Token::Word(w), wspan))
                        if wspan.start == sspan.end && w.starts_with(|c: char| c.is_ascii_digit()));
                return if negative {
                    self.err(ErrorKind::NegativeNumber, sspan.to(rest[k + 1].span()))
                } else {
                    self.err(ErrorKind::StrayOperator(s.to_string()), *sspan)
                };
            }
        }
        if rest.len() != 2 {
            return self.err(
                ErrorKind::WrongArity {
                    op: text.to_string(),
                    found: rest.len(),
                },
                span,
            );
        }
        let mut ops = rest.into_iter();
        let (Some(l), Some(r)) = (ops.next(), ops.next()) else {
            return self.err(
                ErrorKind::WrongArity {
                    op: text.to_string(),
                    found: 0,
                },
                span,
            );
        };
        let left = self.expr(l, Ctx::Operand)?;
        let right = self.expr(r, Ctx::Operand)?;
        Ok(Expr {
            kind: ExprKind::Op {
                op,
                op_text: text,
                op_span: head_span,
                left: Box::new(left),
                right: Box::new(right),
            },
            span,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_def_block_and_events() {
        let p = parse(
            "(def (Bar 0) (Report (Foo 0) (volatile Baz true)) (Qux +infinity) (volatile Report.old 3))\n\
             (when true (:= Report.Foo 4) (report))",
        )
        .unwrap();
        let names: Vec<_> = p.decls.iter().map(|d| d.name.as_str()).collect();
        assert_eq!(
            names,
            ["Bar", "Report.Foo", "Report.Baz", "Qux", "Report.old"]
        );
        assert!(p.decls[2].volatile && p.decls[2].in_report_block);
        assert_eq!(p.decls[2].default, Literal::Bool(true));
        assert_eq!(p.decls[3].default, Literal::Num(u64::MAX));
        assert!(p.decls[4].is_report() && !p.decls[4].in_report_block && p.decls[4].volatile);
        assert_eq!(p.events.len(), 1);
        assert_eq!(p.events[0].cond.kind, ExprKind::Bool(true));
        assert_eq!(p.events[0].body[1].kind, ExprKind::Report);
    }

    #[test]
    fn whitespace_and_word_boundaries_are_sane() {
        // `(def )` and `( def` are rejected by portus; we accept them.
        assert!(parse("( def )(when true (report))").is_ok());
        // `trueish` is a name, not `true` followed by garbage.
        let p = parse("(def)(when true (:= trueish 1))").unwrap();
        match &p.events[0].body[0].kind {
            ExprKind::Op { left, .. } => assert_eq!(left.kind, ExprKind::Name("trueish")),
            other => panic!("unexpected {other:?}"),
        }
        // `volatileX` is a plain (non-volatile) variable named `volatileX`.
        let p = parse("(def (volatileX 0))(when true (report))").unwrap();
        assert_eq!(p.decls[0].name, "volatileX");
        assert!(!p.decls[0].volatile);
    }

    #[test]
    fn all_operator_spellings_parse() {
        for (sp, op) in BinOp::SPELLINGS {
            let src = format!("(def)(when true (:= x ({sp} 1 2)))");
            let p = parse(&src).unwrap();
            match &p.events[0].body[0].kind {
                ExprKind::Op { right, .. } => match &right.kind {
                    ExprKind::Op { op: got, .. } => assert_eq!(*got, op, "{sp}"),
                    other => panic!("{other:?}"),
                },
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn comments_anywhere() {
        let src = "# head\n(def # in def\n (Report (x 0)) # after\n)\n(when # c\n true # c\n (:= Report.x 1) # c\n) # end";
        assert_eq!(parse(src).unwrap().events.len(), 1);
    }
}
