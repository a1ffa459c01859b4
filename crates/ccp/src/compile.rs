//! `ccp compile FILE [--uid N] [--format listing|hex] [--set NAME=VALUE]...`

use ccp_lang::{CompileWithPresetsError, CompiledProgram, compile_with_presets};
use clap::ValueEnum;
use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;
use thiserror::Error;
use tracing::debug;

/// Exit status for unreadable input, compile errors and bad presets.
const EXIT_FAILURE: u8 = 2;

/// Arguments of `ccp compile`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Program source file (`-` reads standard input).
    pub file: PathBuf,
    /// Program uid to compile for (the agent allocates these; uid 1 makes libccp wipe
    /// its program table).
    #[arg(long, default_value_t = 1)]
    pub uid: u32,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Listing)]
    pub format: Format,
    /// Preset the default of a declared variable (repeatable), like portus
    /// `compile(src, updates)`.
    #[arg(long = "set", value_name = "NAME=VALUE", value_parser = parse_preset)]
    pub presets: Vec<(String, u64)>,
}

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Variables, events and instructions, readably.
    Listing,
    /// The whole INSTALL message (sid 0) as one line of lowercase hex.
    Hex,
}

fn parse_preset(s: &str) -> Result<(String, u64), String> {
    let (name, value) = s
        .split_once('=')
        .ok_or_else(|| format!("expected NAME=VALUE, got `{s}`"))?;
    let value = match value.trim() {
        "+infinity" => u64::MAX,
        v => v
            .parse()
            .map_err(|e| format!("bad value `{v}` for `{name}`: {e}"))?,
    };
    Ok((name.trim().to_string(), value))
}

/// Why `ccp compile` failed.
#[derive(Debug, Error)]
pub enum CompileCmdError {
    /// The source could not be read.
    #[error("{path}: cannot read: {source}")]
    Read {
        /// The file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The source does not compile (message already located).
    #[error("{0}")]
    Compile(String),
}

/// Run `ccp compile`: print the result on stdout, diagnostics on stderr.
pub fn run(args: &Args) -> ExitCode {
    match compile_file(args) {
        Ok((program, path)) => {
            for w in &program.warnings {
                eprintln!("{path}:{w}");
            }
            match args.format {
                Format::Listing => print!("{}", ccp_lang::listing::listing(&program)),
                Format::Hex => match install_message(&program) {
                    Ok(msg) => println!("{}", hex(&msg)),
                    Err(e) => {
                        eprintln!("{path}: cannot encode the INSTALL message: {e}");
                        return ExitCode::from(EXIT_FAILURE);
                    }
                },
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprint!("{e}");
            if !e.to_string().ends_with('\n') {
                eprintln!();
            }
            ExitCode::from(EXIT_FAILURE)
        }
    }
}

fn compile_file(args: &Args) -> Result<(CompiledProgram, String), CompileCmdError> {
    let path = args.file.display().to_string();
    let src = if path == "-" {
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .map_err(|source| CompileCmdError::Read {
                path: "<stdin>".into(),
                source,
            })?;
        s
    } else {
        std::fs::read_to_string(&args.file).map_err(|source| CompileCmdError::Read {
            path: path.clone(),
            source,
        })?
    };
    let presets: Vec<(&str, u64)> = args.presets.iter().map(|(n, v)| (n.as_str(), *v)).collect();
    let program = compile_with_presets(&src, args.uid, &presets).map_err(|e| match e {
        CompileWithPresetsError::Compile(e) => CompileCmdError::Compile(e.render_with_path(&path)),
        CompileWithPresetsError::Preset(e) => CompileCmdError::Compile(format!("{path}: {e}")),
    })?;
    debug!(
        uid = program.uid,
        events = program.bin.events.len(),
        instrs = program.bin.instrs.len(),
        "compiled {path}"
    );
    Ok((program, path))
}

/// The INSTALL message (spec §2.7) for `p`, addressed to sid 0 as portus sends it.
fn install_message(p: &CompiledProgram) -> Result<Vec<u8>, ccp_wire::EncodeError> {
    use ccp_wire::Encode;
    ccp_wire::Install {
        sid: 0,
        program_uid: p.uid,
        bin: p.bin.clone(),
    }
    .encode()
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn install_message_matches_spec_example_layout() {
        // Spec §2.7 example, but with sid 0 as `ccp compile` emits it.
        let p = ccp_lang::compile(
            "(def (Report (volatile foo 0)))\n(when true\n    (bind Report.foo 4)\n)\n",
            7,
        )
        .unwrap();
        let expected: Vec<u8> = [
            &[2, 0, 84, 0, 0, 0, 0, 0][..],        // INSTALL, len 84, sid 0
            &[7, 0, 0, 0, 1, 0, 0, 0, 3, 0, 0, 0], // uid 7, 1 event, 3 instrs
            &[1, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 1, 0, 0, 0], // event
            &[2, 5, 0, 0, 0, 0, 5, 0, 0, 0, 0, 1, 0, 0, 0, 0], // DEF vrep0 <- 0
            &[1, 2, 0, 0, 0, 0, 2, 0, 0, 0, 0, 1, 1, 0, 0, 0], // BIND impl0 <- 1
            &[1, 5, 0, 0, 0, 0, 5, 0, 0, 0, 0, 1, 4, 0, 0, 0], // BIND vrep0 <- 4
        ]
        .concat();
        let msg = install_message(&p).unwrap();
        assert_eq!(msg, expected);
        assert_eq!(msg.len(), p.install_len());
        assert_eq!(hex(&msg), hex(&expected));
        assert!(hex(&expected).starts_with("0200540000000000070000000100"));
    }

    fn args(file: &str) -> Args {
        Args {
            file: PathBuf::from(file),
            uid: 1,
            format: Format::Listing,
            presets: vec![],
        }
    }

    #[test]
    fn unreadable_file_is_a_clear_error() {
        let e = compile_file(&args("/nonexistent/dir/x.ccp")).unwrap_err();
        assert!(matches!(e, CompileCmdError::Read { .. }));
        assert!(
            e.to_string()
                .starts_with("/nonexistent/dir/x.ccp: cannot read: "),
            "{e}"
        );
    }

    #[test]
    fn compile_errors_are_located_with_the_path() {
        let path = std::env::temp_dir().join(format!("ccp-cli-test-{}.ccp", std::process::id()));
        std::fs::write(
            &path,
            "(def (Report (x 0)))\n(when true\n  (:= Report.x (+ 1 true)))\n",
        )
        .unwrap();
        let shown = path.display().to_string();
        let e = compile_file(&args(&shown)).unwrap_err();
        let _ = std::fs::remove_file(&path);
        assert_eq!(
            e.to_string(),
            format!(
                "{shown}:3:21: `+` expects Num operands, found Bool\n  (:= Report.x (+ 1 true)))\n                    ^^^^\n"
            )
        );
    }

    #[test]
    fn presets_are_applied_and_checked() {
        let path = std::env::temp_dir().join(format!("ccp-cli-preset-{}.ccp", std::process::id()));
        std::fs::write(&path, "(def (t 0))\n(when (> Micros t) (report))\n").unwrap();
        let mut a = args(&path.display().to_string());
        a.presets = vec![("t".into(), 5000)];
        let ok = compile_file(&a);
        a.presets = vec![("nope".into(), 1)];
        let bad = compile_file(&a);
        let _ = std::fs::remove_file(&path);
        let (p, _) = ok.unwrap();
        assert_eq!(
            p.bin.instrs[0].right,
            ccp_lang::bytecode::Operand::imm(5000)
        );
        assert!(
            bad.unwrap_err()
                .to_string()
                .ends_with("preset for unknown variable `nope`")
        );
    }

    #[test]
    fn preset_parsing() {
        assert_eq!(parse_preset("x=5"), Ok(("x".to_string(), 5)));
        assert_eq!(
            parse_preset("Report.y=+infinity"),
            Ok(("Report.y".to_string(), u64::MAX))
        );
        assert!(parse_preset("x").is_err());
        assert!(parse_preset("x=-1").is_err());
    }
}
