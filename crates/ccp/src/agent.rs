//! `ccp agent`: run the CCP agent with a built-in algorithm.
//!
//! With `--ipc unix` (default) it binds `/tmp/ccp/<name>` (default `/tmp/ccp/portus`, where
//! portus binds, so existing datapaths find it); with `--ipc netlink` it joins the kernel
//! datapath's netlink group. Ctrl-C / SIGTERM stop it cleanly: the loop exits, every flow's
//! `close()` runs, the socket file is removed.

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use ccp_agent::{RunBuilder, RunSummary};
use ccp_ipc::Mode;
use clap::ValueEnum;

/// Transports `ccp agent` can listen on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum IpcKind {
    /// Unix datagram socket `/tmp/ccp/<name>`.
    Unix,
    /// Netlink (NETLINK_USERSOCK, group 22): the Linux kernel datapath.
    Netlink,
}

/// Arguments of `ccp agent`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Algorithm to run (built-in name; `reno`).
    #[arg(long)]
    pub alg: String,
    /// Transport to the datapaths.
    #[arg(long, value_enum, default_value_t = IpcKind::Unix)]
    pub ipc: IpcKind,
    /// Unix socket name: the agent binds `/tmp/ccp/<name>`.
    #[arg(long, default_value = "portus")]
    pub name: String,
    /// Log every message received and sent.
    #[arg(long)]
    pub log_messages: bool,
    /// Unix only: after each datagram keep polling the socket for this many microseconds
    /// (or `forever`) before sleeping. Saves the agent's wake-up on each round trip (lower
    /// latency, e.g. with a polling datapath) at the cost of CPU while traffic flows;
    /// adaptive (pauses when the machine is busy). Default: 0, or `$CCP_AGENT_SPIN_US`.
    #[arg(long, value_name = "US|forever", value_parser = parse_spin)]
    pub spin_us: Option<std::time::Duration>,
}

fn parse_spin(v: &str) -> Result<std::time::Duration, String> {
    ccp_agent::UnixTransport::parse_spin(v)
        .ok_or_else(|| format!("`{v}` is neither a number of microseconds nor `forever`"))
}

/// The built-in algorithm `name`, or the one-line error listing the known ones.
fn pick_alg(name: &str) -> Result<&'static ccp_algs::AlgEntry, String> {
    ccp_algs::by_name(name).ok_or_else(|| {
        let known: Vec<_> = ccp_algs::names().collect();
        format!(
            "error: unknown algorithm `{name}` (known algorithms: {})",
            known.join(", ")
        )
    })
}

/// Run the agent until Ctrl-C / SIGTERM.
pub fn run(args: &Args) -> ExitCode {
    let entry = match pick_alg(&args.alg) {
        Ok(e) => e,
        Err(line) => {
            eprintln!("{line}");
            return ExitCode::from(2);
        }
    };
    if args.spin_us.is_some() && args.ipc != IpcKind::Unix {
        eprintln!("error: --spin-us applies to --ipc unix only");
        return ExitCode::from(2);
    }
    let running = Arc::new(AtomicBool::new(true));
    let flag = running.clone();
    if let Err(e) = ctrlc::set_handler(move || flag.store(false, Ordering::SeqCst)) {
        eprintln!("error: cannot install the Ctrl-C/SIGTERM handler: {e}");
        return ExitCode::FAILURE;
    }
    let result = match args.ipc {
        IpcKind::Unix => {
            let sock = match ccp_ipc::unix::UnixSocket::agent(&args.name, Mode::Nonblocking) {
                Ok(s) => s,
                Err(e) => {
                    eprintln!("error: {e}");
                    return ExitCode::FAILURE;
                }
            };
            eprintln!(
                "ccp agent: algorithm {} on unix socket {}",
                entry.name,
                sock.path().display()
            );
            let spin = args
                .spin_us
                .unwrap_or_else(ccp_agent::UnixTransport::spin_from_env);
            RunBuilder::new(ccp_agent::UnixTransport::new(sock, spin))
                .default_alg(entry.build())
                .log_messages(args.log_messages)
                .with_stop_handle(running)
                .run()
        }
        IpcKind::Netlink => {
            let sock = match ccp_ipc::netlink::NetlinkSocket::agent(Mode::default()) {
                Ok(s) => s,
                Err(e) => {
                    eprintln!("error: {e}");
                    return ExitCode::FAILURE;
                }
            };
            eprintln!("ccp agent: algorithm {} on netlink", entry.name);
            RunBuilder::new(sock)
                .default_alg(entry.build())
                .log_messages(args.log_messages)
                .with_stop_handle(running)
                .run()
        }
    };
    match result {
        Ok(RunSummary {
            stats, send_errors, ..
        }) => {
            eprintln!(
                "ccp agent: stopped ({} flows created, {} reports, {} messages sent, {} dropped, {} send errors)",
                stats.creates,
                stats.reports,
                stats.sent,
                stats.dropped(),
                send_errors
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        args: Args,
    }

    #[test]
    fn unknown_algorithm_is_one_line_listing_the_known_ones() {
        let e = pick_alg("no-such-algorithm").unwrap_err();
        assert_eq!(e.lines().count(), 1);
        assert!(
            e.contains("`no-such-algorithm`") && e.contains("reno"),
            "{e}"
        );
        assert_eq!(pick_alg("reno").map(|a| a.name), Ok("reno"));
        // The exit path does not need a socket or a signal handler.
        let args = Cli::try_parse_from(["x", "--alg", "no-such-algorithm"])
            .unwrap()
            .args;
        assert_eq!(run(&args), ExitCode::from(2));
    }

    #[test]
    fn arguments_and_defaults() {
        let a = Cli::try_parse_from(["x", "--alg", "reno"]).unwrap().args;
        assert_eq!(
            (a.ipc, a.name.as_str(), a.log_messages),
            (IpcKind::Unix, "portus", false)
        );
        let a = Cli::try_parse_from([
            "x",
            "--alg",
            "reno",
            "--ipc",
            "netlink",
            "--name",
            "t1",
            "--log-messages",
        ])
        .unwrap()
        .args;
        assert_eq!(
            (a.ipc, a.name.as_str(), a.log_messages),
            (IpcKind::Netlink, "t1", true)
        );
        assert!(Cli::try_parse_from(["x", "--alg", "reno", "--ipc", "char"]).is_err());
        assert!(Cli::try_parse_from(["x"]).is_err());
        assert_eq!(a.spin_us, None);
        let spin = |v: &str| {
            Cli::try_parse_from(["x", "--alg", "reno", "--spin-us", v]).map(|c| c.args.spin_us)
        };
        assert_eq!(
            spin("50").unwrap(),
            Some(std::time::Duration::from_micros(50))
        );
        assert_eq!(
            spin("forever").unwrap(),
            Some(ccp_agent::UnixTransport::SPIN_FOREVER)
        );
        let err = spin("fast").unwrap_err().to_string();
        assert!(err.contains("`fast` is neither"), "{err}");
        // Spinning is a unix-socket option: with netlink it is refused before binding.
        let a = Cli::try_parse_from(["x", "--alg", "reno", "--ipc", "netlink", "--spin-us", "5"])
            .unwrap()
            .args;
        assert_eq!(run(&a), ExitCode::from(2));
    }

    /// The whole command in-process: binds `/tmp/ccp/<name>`, answers a datapath, and on
    /// SIGTERM closes its flows, removes the socket and returns success. (The only test of
    /// this binary that installs the signal handler.)
    #[test]
    fn runs_until_sigterm_then_cleans_up() {
        use std::os::unix::net::UnixDatagram;
        use std::time::{Duration, Instant};

        let name = format!("h6-cli-test-{}", std::process::id());
        let agent_path = ccp_ipc::agent_socket_path(&name);
        let dp_path = ccp_ipc::default_socket_dir().join(format!("{name}-dp"));
        let args = Cli::try_parse_from(["x", "--alg", "reno", "--name", &name])
            .unwrap()
            .args;
        let agent = std::thread::spawn(move || run(&args));
        // The socket appears once the signal handler is installed and the agent bound.
        let deadline = Instant::now() + Duration::from_secs(20);
        while !agent_path.exists() {
            assert!(Instant::now() < deadline, "agent socket never appeared");
            std::thread::yield_now();
        }
        let _ = std::fs::remove_file(&dp_path);
        let dp = UnixDatagram::bind(&dp_path).unwrap();
        dp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut buf = [0u8; 4096];
        let ready = ccp_wire::Ready { id: 1 }.to_bytes();
        // The path also exists for a few µs while the agent's reply sockets are bound
        // (see `UnixSocket`): a send in a gap between them fails as if no agent were
        // there yet, so retry (bounded); one that reaches a reply socket is handled.
        while let Err(e) = dp.send_to(&ready, &agent_path) {
            assert!(Instant::now() < deadline, "agent never reachable: {e}");
            std::thread::yield_now();
        }
        let mut types = Vec::new();
        for _ in 0..2 {
            let n = dp.recv(&mut buf).unwrap();
            types.push(u16::from_le_bytes([buf[0], buf[1]]));
            assert!(n >= 8);
        }
        assert_eq!(types, vec![2, 0x48], "INSTALL then HELLO");
        let create = ccp_wire::Encode::encode(&ccp_wire::Create {
            sid: 1,
            init_cwnd: 14_600,
            mss: 1460,
            cong_alg: Some("reno".into()),
            ..ccp_wire::Create::default()
        })
        .unwrap();
        dp.send_to(&create, &agent_path).unwrap();
        let n = dp.recv(&mut buf).unwrap();
        assert_eq!(u16::from_le_bytes([buf[0], buf[1]]), 4, "CHANGE_PROG");
        assert!(n >= 16);
        nix::sys::signal::kill(nix::unistd::Pid::this(), nix::sys::signal::Signal::SIGTERM)
            .unwrap();
        assert_eq!(agent.join().unwrap(), ExitCode::SUCCESS);
        assert!(!agent_path.exists(), "socket removed at shutdown");
        let _ = std::fs::remove_file(&dp_path);
    }
}
