//! Negative tests: every rejected program reports the exact line:column and message.

use ccp_lang::{CompileError, ErrorKind, compile};

fn err(src: &str) -> CompileError {
    match compile(src, 1) {
        Ok(p) => panic!("compiled unexpectedly: {:?}", p.bin),
        Err(e) => e,
    }
}

/// Assert the error's position and message.
fn check(src: &str, line: u32, col: u32, message: &str) {
    let e = err(src);
    assert_eq!(
        (e.line, e.col, e.message().as_str()),
        (line, col, message),
        "source:\n{src}"
    );
    // The rendered form always starts with `LINE:COL: message`.
    assert!(
        e.to_string()
            .starts_with(&format!("{line}:{col}: {message}\n"))
    );
}

const DEF: &str = "(def (Report (volatile acked 0) (volatile flag false)) (ctl 0))\n";

#[test]
fn assign_to_undeclared_report_variable() {
    check(
        &format!("{DEF}(when true\n    (:= Report.ackd 1))"),
        3,
        9,
        "report variable `Report.ackd` is not declared in the `(def ...)` block",
    );
}

#[test]
fn read_of_undeclared_report_variable() {
    check(
        &format!("{DEF}(when true (:= ctl Report.nope))"),
        2,
        20,
        "report variable `Report.nope` is not declared in the `(def ...)` block",
    );
}

#[test]
fn type_mismatch_num_operator() {
    check(
        &format!("{DEF}(when true\n  (:= Report.acked (+ Report.acked true)))"),
        3,
        36,
        "`+` expects Num operands, found Bool",
    );
}

#[test]
fn type_mismatch_bool_operator() {
    check(
        &format!("{DEF}(when (&& 1 true) (report))"),
        2,
        11,
        "`&&` expects Bool operands, found Num",
    );
    check(
        &format!("{DEF}(when (and Report.flag Report.acked) (report))"),
        2,
        24,
        "`and` expects Bool operands, found Num",
    );
}

#[test]
fn assignment_to_primitive() {
    check(
        &format!("{DEF}(when true\n\t(:= Ack.bytes_acked 5))"),
        3,
        6,
        "cannot assign to `Ack.bytes_acked`: primitives are read-only",
    );
}

#[test]
fn assignment_to_literal_or_expression() {
    check(
        &format!("{DEF}(when true (:= 5 3))"),
        2,
        16,
        "the target of `:=` must be a variable name",
    );
    check(
        &format!("{DEF}(when true (bind (+ 1 2) 3))"),
        2,
        18,
        "the target of `bind` must be a variable name",
    );
}

#[test]
fn too_many_instructions() {
    let mut src = String::from("(def (x 0))\n");
    for _ in 0..130 {
        src.push_str("(when true (:= x 1))\n");
    }
    // 1 DEF + 127 events × 2 = 255; the 128th event's condition is the 256th.
    check(
        &src,
        129,
        7,
        "program too large: 256 instructions exceed the limit of 255",
    );
}

#[test]
fn too_many_report_variables() {
    let mut src = String::from("(def (Report");
    for i in 0..17 {
        src.push_str(&format!("\n  (v{i} 0)"));
    }
    src.push_str("))\n(when true (report))");
    check(
        &src,
        18,
        4,
        "too many report variables: at most 16 are allowed",
    );
}

#[test]
fn too_many_control_variables() {
    let decls: String = (0..17).map(|i| format!("(c{i} 0)")).collect();
    let src = format!("(def {decls})\n(when true (report))");
    // `(c16 0)` starts after 16 decls of 6 (c0..c9) or 7 (c10..c15) bytes.
    let col = 6 + 10 * 6 + 6 * 7 + 1;
    check(
        &src,
        1,
        col as u32,
        "too many control variables: at most 16 are allowed",
    );
}

#[test]
fn too_many_locals() {
    let mut src = String::from("(def)\n(when true\n");
    for i in 0..7 {
        src.push_str(&format!("  (:= local{i} {i})\n"));
    }
    src.push(')');
    check(
        &src,
        9,
        7,
        "too many local variables: at most 6 are allowed (`local6` would be one more)",
    );
}

#[test]
fn too_many_temporaries() {
    // 9 arithmetic nodes in one statement.
    check(
        &format!(
            "{DEF}(when true\n  (:= ctl (+ (+ (+ (+ 1 2) (+ 3 4)) (+ (+ 5 6) (+ 7 8))) (+ 9 0))))"
        ),
        3,
        11,
        "expression too complex: a statement may use at most 8 temporaries",
    );
}

#[test]
fn unterminated_list() {
    check(
        &format!("{DEF}(when true\n  (:= ctl (+ ctl 1))\n"),
        2,
        1,
        "unterminated list: this `(` is never closed",
    );
    check(
        "(def (x 0))\n(when true (:= x (+ x 1)",
        2,
        12,
        "unterminated list: this `(` is never closed",
    );
}

#[test]
fn unmatched_close_paren() {
    check(
        "(def (x 0)))\n(when true (report))",
        1,
        12,
        "unexpected `)` with no matching `(`",
    );
}

#[test]
fn bad_numbers() {
    check(
        &format!("{DEF}(when true (:= ctl 12abc))"),
        2,
        20,
        "invalid number `12abc`: numbers are plain decimal digits",
    );
    check(
        &format!("{DEF}(when true (:= ctl 1.5))"),
        2,
        20,
        "invalid number `1.5`: numbers are plain decimal digits",
    );
    check(
        &format!("{DEF}(when true (:= ctl (- 0 -5)))"),
        2,
        25,
        "negative numbers are not supported: values are unsigned 64-bit integers",
    );
    check(
        &format!("{DEF}(when true (:= ctl (+ 1 * 2)))"),
        2,
        25,
        "unexpected `*`: an operator must come right after `(`",
    );
    check(
        &format!("{DEF}(when true (:= ctl -))"),
        2,
        20,
        "unexpected `-`: an operator must come right after `(`",
    );
}

#[test]
fn literal_too_big() {
    check(
        &format!("{DEF}(when true (:= ctl 2147483648))"),
        2,
        20,
        "literal 2147483648 is too large: immediates must be below 2^31 (2147483648) or `+infinity`",
    );
    check(
        "(def (Report (big 4294967295)))\n(when true (report))",
        1,
        19,
        "literal 4294967295 is too large: immediates must be below 2^31 (2147483648) or `+infinity`",
    );
    check(
        &format!("{DEF}(when true (:= ctl 18446744073709551616))"),
        2,
        20,
        "number `18446744073709551616` does not fit in 64 bits",
    );
}

#[test]
fn reserved_names() {
    check(
        &format!("{DEF}(when true (:= __shouldReport true))"),
        2,
        16,
        "names beginning with `__` are reserved for internal use: `__shouldReport`",
    );
    check(
        "(def (__x 0))\n(when true (report))",
        1,
        7,
        "names beginning with `__` are reserved for internal use: `__x`",
    );
}

#[test]
fn reset_command_is_rejected() {
    check(
        &format!("{DEF}(when (> Micros 1000)\n    (report)\n    (reset))"),
        4,
        5,
        "`(reset)` was removed from the language; write `(:= Micros 0)` to restart the timer",
    );
}

#[test]
fn empty_when_body() {
    check(
        &format!("{DEF}(when true)"),
        2,
        1,
        "`when` clause has a condition but no body statements",
    );
    check(
        &format!("{DEF}(when)"),
        2,
        1,
        "`when` needs a condition and at least one body statement",
    );
}

#[test]
fn missing_def_block() {
    check(
        "(when true (report))",
        1,
        1,
        "a program must start with a `(def ...)` block",
    );
    check(
        "  # only a comment\n",
        1,
        1,
        "empty program: expected a `(def ...)` block",
    );
    check(
        "(def (x 0))",
        1,
        1,
        "the program has no `(when ...)` clause",
    );
    check(
        "(def)\n(when true (report))\n(def (y 0))",
        3,
        1,
        "only one `(def ...)` block is allowed, at the start of the program",
    );
    check(
        "(def)\n(when true (report))\nreport",
        3,
        1,
        "expected a `(when ...)` clause, found `report`",
    );
}

#[test]
fn non_bool_conditions() {
    check(
        &format!("{DEF}(when (+ 1 2) (report))"),
        2,
        7,
        "a `when` condition must be a Bool expression, found a Num expression",
    );
    check(
        &format!("{DEF}(when Report.acked (report))"),
        2,
        7,
        "a `when` condition must be a Bool expression, found the Num variable `Report.acked` (compare it, e.g. `(> Report.acked 0)`)",
    );
    check(
        &format!("{DEF}(when 1 (report))"),
        2,
        7,
        "a `when` condition must be a Bool expression, found a number",
    );
    check(
        &format!("{DEF}(when (:= ctl 1) (report))"),
        2,
        7,
        "a `when` condition must be a Bool expression, found an assignment",
    );
    check(
        &format!("{DEF}(when (report) (report))"),
        2,
        7,
        "`(report)` is a statement: it can only appear directly in a `when` body",
    );
}

#[test]
fn if_and_ewma_outside_assignment() {
    check(
        &format!("{DEF}(when true (:= ctl (+ 1 (if true 2))))"),
        2,
        25,
        "`if` can only be used as the value of `:=`, e.g. `(:= Report.x (if a b))`",
    );
    check(
        &format!("{DEF}(when true (ewma 2 Ack.now))"),
        2,
        12,
        "`ewma` can only be used as the value of `:=`, e.g. `(:= Report.x (ewma a b))`",
    );
}

#[test]
fn if_and_ewma_into_local_or_implicit() {
    check(
        &format!("{DEF}(when true (:= Cwnd (!if Report.flag 10)))"),
        2,
        12,
        "the result of `!if` can only be assigned to a report or control variable, not to `Cwnd`",
    );
    check(
        &format!("{DEF}(when true (:= avg (ewma 2 Flow.rtt_sample_us)))"),
        2,
        12,
        "the result of `ewma` can only be assigned to a report or control variable, not to `avg`",
    );
}

#[test]
fn unknown_operators() {
    check(
        &format!("{DEF}(when true (:= ctl (foo 1 2)))"),
        2,
        21,
        "unknown operator `foo`",
    );
    check(
        &format!("{DEF}(when (>= 1 2) (report))"),
        2,
        8,
        "unknown operator `>=`: the language has no `>=`/`<=`; combine `>`/`<` and `==` with `||`",
    );
    // No prefix matching: `maximum` is not `max` followed by `imum`.
    check(
        &format!("{DEF}(when true (:= ctl (maximum 1 2)))"),
        2,
        21,
        "unknown operator `maximum`",
    );
}

#[test]
fn wrong_arity() {
    check(
        &format!("{DEF}(when true (:= ctl (+ 1 2 3)))"),
        2,
        20,
        "operator `+` takes exactly 2 operands, found 3",
    );
    check(
        &format!("{DEF}(when true (report 1))"),
        2,
        12,
        "`(report)` takes no arguments",
    );
    check(
        &format!("{DEF}(when true ())"),
        2,
        12,
        "empty expression `()`",
    );
}

#[test]
fn declaration_errors() {
    check(
        "(def (x 1) (x 2))\n(when true (report))",
        1,
        13,
        "variable `x` is declared twice",
    );
    check(
        "(def (Report (a 0)) (Report.a 1))\n(when true (report))",
        1,
        22,
        "variable `Report.a` is declared twice",
    );
    check(
        "(def (x foo))\n(when true (report))",
        1,
        9,
        "the default value of `x` must be a number, `+infinity`, `true` or `false`",
    );
    check(
        "(def (Cwnd 0))\n(when true (report))",
        1,
        7,
        "`Cwnd` is a built-in name and cannot be declared",
    );
    check(
        "(def (x))\n(when true (report))",
        1,
        6,
        "a declaration must look like `(name default)` or `(volatile name default)`",
    );
    check(
        "(def (Report (Report (x 0))))\n(when true (report))",
        1,
        14,
        "`(Report ...)` blocks cannot be nested",
    );
    check(
        "(def (true 0))\n(when true (report))",
        1,
        7,
        "`true` cannot be used as a variable name: it is a keyword",
    );
}

#[test]
fn names_that_must_resolve() {
    check(
        &format!("{DEF}(when true (:= ctl (+ y 1)))"),
        2,
        23,
        "variable `y` is used before it is assigned",
    );
    check(
        &format!("{DEF}(when (> Flow.rtt 0) (report))"),
        2,
        10,
        "unknown primitive `Flow.rtt`",
    );
}

#[test]
fn lexical_errors() {
    check(
        &format!("{DEF}(when true (:= ctl \"5\"))"),
        2,
        20,
        "unexpected character `\"`",
    );
    let deep = format!("{DEF}(when true {}", "(".repeat(300));
    check(
        &deep,
        2,
        211,
        "expression nested too deeply (more than 200 levels)",
    );
}

#[test]
fn rendering_with_source_line_and_caret() {
    let e = err("(def (Report (volatile acked 0)))\n(when true\n\t(:= Report.acked (+ 1 true)))");
    assert_eq!(
        e.kind,
        ErrorKind::TypeMismatch {
            op: "+".into(),
            expected: "Num",
            found: "Bool",
        }
    );
    assert_eq!(
        e.to_string(),
        "3:24: `+` expects Num operands, found Bool\n\t(:= Report.acked (+ 1 true)))\n\t                      ^^^^\n"
    );
    assert_eq!(e.render_with_path("prog.ccp"), format!("prog.ccp:{e}"));
    assert!(
        e.render_with_path("prog.ccp")
            .starts_with("prog.ccp:3:24: `+` expects")
    );
}
