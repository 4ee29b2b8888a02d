//! The tour: what the framework does for a caller, against a real dependency over real sockets.
//!
//! ```sh
//! cargo run --release --example tour            # about 40 s
//! cargo run --release --example tour -- --quick --check
//! ```
//!
//! Two lanes run at once, each with its own in-process HTTP fault server driven by the same
//! seeded fault script, and the same seeded open-loop arrivals: one calls the dependency bare,
//! the other through the README's recommended stack of attributes (see `load.rs`). The tour
//! prints, per phase of the script, what each lane's users got, what the dependency received,
//! and checks that a skeptic can rerun with `--check`.

mod cached;
mod fault_server;
mod load;
mod report;
mod script;
mod storm;
mod transitions;

use std::process::ExitCode;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::load::{CAPACITY, LaneResult, PER_TENANT_LIMIT, STACK};
use crate::script::{DEPENDENCY_RATE, OVERLOAD_FACTOR, SIDE_RATE, Script, TENANTS, WORK, WORKERS};

const USAGE: &str = "\
usage: cargo run --release --example tour -- [options]

  --seed N   seed of the arrivals and of the fault script (default 42)
  --quick    halve every phase: about 20 s instead of 40 s
  --check    exit with status 1 if any check fails
  --json     print the report as one JSON document instead of tables
  --help     print this help";

/// The command line.
#[derive(Debug)]
struct Args {
    seed: u64,
    quick: bool,
    check: bool,
    json: bool,
}

/// Parses the command line; `Err` holds what to print (the help, or what is wrong) and whether
/// that is an error.
fn parse_args(args: impl IntoIterator<Item = String>) -> Result<Args, (String, bool)> {
    let mut parsed = Args {
        seed: 42,
        quick: false,
        check: false,
        json: false,
    };
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let (name, inline) = match arg.split_once('=') {
            Some((name, value)) => (name.to_string(), Some(value.to_string())),
            None => (arg.clone(), None),
        };
        match name.as_str() {
            "--seed" => {
                let value = inline
                    .or_else(|| args.next())
                    .ok_or_else(|| ("--seed needs a value, e.g. --seed 7".to_string(), true))?;
                parsed.seed = value.parse().map_err(|_| {
                    (
                        format!("--seed takes a non-negative integer, not `{value}`"),
                        true,
                    )
                })?;
            }
            "--quick" => parsed.quick = true,
            "--check" => parsed.check = true,
            "--json" => parsed.json = true,
            "--help" | "-h" => return Err((USAGE.to_string(), false)),
            _ => return Err((format!("unknown option `{arg}`\n\n{USAGE}"), true)),
        }
    }
    Ok(parsed)
}

fn header(script: &Script, args: &Args) -> String {
    let phases: Vec<String> = script
        .phases
        .iter()
        .map(|p| {
            format!(
                "{} {}s ({})",
                p.kind.name(),
                (p.end - p.start).as_secs_f64(),
                p.kind.describe()
            )
        })
        .collect();
    format!(
        "resilience tour: seed {}, {} s{}. Two lanes under the same seeded open-loop load, \
         each calling its own fault server on 127.0.0.1.\n\
         \x20 unprotected lane: a bare hyper GET, no timeout, no retry.\n\
         \x20 protected lane:   the same GET under {STACK},\n\
         \x20                   with {PER_TENANT_LIMIT}\n\
         \x20 both lanes: {DEPENDENCY_RATE:.0} dependency calls/s from {} tenants ({:.0}/s when \
         overloaded) + \
         {SIDE_RATE:.0} calls/s to a healthy side service, Poisson arrivals, latency from the \
         scheduled send; at most {CAPACITY} calls in flight (more are refused: \"caller full\").\n\
         \x20 dependency: {WORKERS} workers x {} ms of work; script: {}.",
        script.seed,
        script.end().as_secs_f64(),
        if args.quick { " (--quick)" } else { "" },
        TENANTS.len(),
        DEPENDENCY_RATE * OVERLOAD_FACTOR,
        WORK.as_millis(),
        phases.join(" | "),
    )
}

/// Runs one lane on its own runtime and thread, so neither lane's tasks queue behind the
/// other's.
fn spawn_lane(
    protected: bool,
    script: Arc<Script>,
    start: Instant,
) -> thread::JoinHandle<std::io::Result<LaneResult>> {
    thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()?;
        let start = tokio::time::Instant::from_std(start);
        runtime.block_on(load::run_lane(protected, script, start))
    })
}

fn progress(total: Duration) -> ProgressBar {
    // Drawn on stderr only when it is a terminal: a piped run gets no escape codes.
    let bar =
        ProgressBar::with_draw_target(Some(total.as_millis() as u64), ProgressDrawTarget::stderr());
    if let Ok(style) = ProgressStyle::with_template("{bar:40} {elapsed:>3} {msg}") {
        bar.set_style(style);
    }
    bar
}

fn main() -> ExitCode {
    let args = match parse_args(std::env::args().skip(1)) {
        Ok(args) => args,
        Err((message, is_error)) => {
            if is_error {
                eprintln!("{message}");
                return ExitCode::from(2);
            }
            println!("{message}");
            return ExitCode::SUCCESS;
        }
    };
    let script = Arc::new(Script::new(args.seed, args.quick));
    if !args.json {
        println!("{}\n", header(&script, &args));
    }

    // Time zero of the script, a moment from now so both lanes can bind and connect first.
    let began = Instant::now();
    let start = began + Duration::from_millis(300);
    let transitions = transitions::install(start);
    let lanes = [
        spawn_lane(false, script.clone(), start),
        spawn_lane(true, script.clone(), start),
    ];

    let bar = progress(script.end());
    while lanes.iter().any(|lane| !lane.is_finished()) {
        let t = Instant::now().saturating_duration_since(start);
        let phase = script.phase_at(t);
        bar.set_position(t.as_millis().min(script.end().as_millis()) as u64);
        bar.set_message(if t < script.end() {
            format!("{}: {}", phase.kind.name(), phase.kind.describe())
        } else {
            "waiting for calls in flight".to_string()
        });
        thread::sleep(Duration::from_millis(100));
    }
    bar.finish_and_clear();

    let [unprotected, protected] = lanes.map(|lane| match lane.join() {
        Ok(result) => result,
        Err(_) => Err(std::io::Error::other("a lane panicked")),
    });
    let (unprotected, protected) = match (unprotected, protected) {
        (Ok(u), Ok(p)) => (u, p),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("the tour could not run: {e}");
            return ExitCode::from(2);
        }
    };
    // The lanes' breaker transitions, before the virtual-time sections run breakers of their
    // own.
    let transitions = transitions.take();
    let storm = match storm::run() {
        Ok(storm) => storm,
        Err(e) => {
            eprintln!("the tour could not run the retry storm: {e}");
            return ExitCode::from(2);
        }
    };
    let cached = match cached::run() {
        Ok(cached) => cached,
        Err(e) => {
            eprintln!("the tour could not run the cache's phases: {e}");
            return ExitCode::from(2);
        }
    };
    let run = report::Run {
        script: (*script).clone(),
        quick: args.quick,
        unprotected,
        protected,
        transitions,
        storm,
        cached,
        wall: began.elapsed(),
    };
    let rows = report::rows(&run);
    let tenants = report::tenant_rows(&run);
    let recovery = report::recovery(&run);
    let mut checks = report::checks(&rows, &tenants, &recovery);
    checks.push(run.storm.check());
    checks.push(run.cached.check());
    if args.json {
        println!(
            "{}",
            report::json(&run, &rows, &tenants, &recovery, &checks)
        );
    } else {
        print!(
            "{}",
            report::text(&run, &rows, &tenants, &recovery, &checks)
        );
    }
    if args.check && checks.iter().any(|c| !c.pass) {
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Args, (String, bool)> {
        parse_args(args.iter().map(|s| s.to_string()))
    }

    #[test]
    fn flags_and_seed_in_both_spellings() {
        let a = parse(&["--quick", "--seed", "7", "--check"]).expect("valid");
        assert!(a.quick && a.check && !a.json);
        assert_eq!(a.seed, 7);
        assert_eq!(parse(&["--seed=9"]).expect("valid").seed, 9);
    }

    #[test]
    fn unknown_options_and_bad_seeds_are_errors() {
        assert!(parse(&["--fast"]).is_err_and(|(_, error)| error));
        assert!(parse(&["--seed", "x"]).is_err_and(|(_, error)| error));
        assert!(parse(&["--help"]).is_err_and(|(_, error)| !error));
    }

    #[test]
    fn the_same_seed_gives_the_same_script() {
        assert_eq!(Script::new(1, true).digest(), Script::new(1, true).digest());
        assert_ne!(Script::new(1, true).digest(), Script::new(2, true).digest());
    }
}
