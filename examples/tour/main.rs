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
//!
//! The text report fits the width it is printed in (see `width.rs`): `--width N` if given, else
//! the `COLUMNS` environment variable if it is a number, else the width of stdout's terminal,
//! else (piped, or in CI) 120 columns; never less than 40. From 120 columns on, the per-phase
//! table takes its wide layout (a column per figure, about 160 columns) if it fits; narrower,
//! or if it does not fit, a compact one: percentages and milliseconds without their units
//! (the headers carry them), `unprot.` and `prot.` for the lanes, the optional columns (side
//! p99, then max, then fall-backs) left out until the table fits (at 100 columns all are
//! there, at 80 none), and the causes and breaker transitions in lines under the table. The
//! per-tenant table shortens the same way; prose and checks wrap at the width. `--json` prints
//! the same report as one JSON document whatever the width.

mod cached;
mod fault_server;
mod load;
mod report;
mod script;
mod storm;
mod tail;
mod transitions;
mod width;

use std::process::ExitCode;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::load::{CAPACITY, LaneResult, PER_TENANT_LIMIT, STACK};
use crate::script::{DEPENDENCY_RATE, OVERLOAD_FACTOR, SIDE_RATE, Script, TENANTS, WORK, WORKERS};
use crate::width::wrap;

const USAGE: &str = "\
usage: cargo run --release --example tour -- [options]

  --seed N   seed of the arrivals and of the fault script (default 42)
  --quick    halve every phase: about 20 s instead of 40 s
  --check    exit with status 1 if any check fails
  --json     print the report as one JSON document instead of tables
  --width N  lay the text out for N columns (at least 40; default: $COLUMNS, else the
             terminal's width, else 120); compact tables where the wide ones
             (about 160 columns) do not fit
  --help     print this help";

/// The command line.
#[derive(Debug)]
struct Args {
    seed: u64,
    quick: bool,
    check: bool,
    json: bool,
    /// `--width`: the columns to lay the text out for, instead of the detected ones.
    width: Option<usize>,
}

/// Parses the command line; `Err` holds what to print (the help, or what is wrong) and whether
/// that is an error.
fn parse_args(args: impl IntoIterator<Item = String>) -> Result<Args, (String, bool)> {
    let mut parsed = Args {
        seed: 42,
        quick: false,
        check: false,
        json: false,
        width: None,
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
            "--width" => {
                let value = inline
                    .or_else(|| args.next())
                    .ok_or_else(|| ("--width needs a value, e.g. --width 80".to_string(), true))?;
                let columns = value.parse().ok().filter(|&w| w >= width::MIN);
                let least = width::MIN;
                parsed.width = Some(columns.ok_or_else(|| {
                    (
                        format!(
                            "--width takes a number of columns, at least {least}, not `{value}`"
                        ),
                        true,
                    )
                })?);
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

/// What the run does, wrapped within `width` columns.
fn header(script: &Script, args: &Args, width: usize) -> String {
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
    // Continued lines of the lanes line up after their labels, unless that leaves too little room.
    let lane = " ".repeat(if width >= 80 { 20 } else { 4 });
    [
        wrap(
            &format!(
                "resilience tour: seed {}, {} s{}. Two lanes under the same seeded open-loop \
                 load, each calling its own fault server on 127.0.0.1.",
                script.seed,
                script.end().as_secs_f64(),
                if args.quick { " (--quick)" } else { "" },
            ),
            width,
            "",
            "",
        ),
        wrap(
            "a bare hyper GET, no timeout, no retry.",
            width,
            "  unprotected lane: ",
            &lane,
        ),
        wrap(
            &format!("the same GET under {STACK},"),
            width,
            "  protected lane:   ",
            &lane,
        ),
        wrap(&format!("with {PER_TENANT_LIMIT}"), width, &lane, &lane),
        wrap(
            &format!(
                "{DEPENDENCY_RATE:.0} dependency calls/s from {} tenants ({:.0}/s when \
                 overloaded) + {SIDE_RATE:.0} calls/s to a healthy side service, Poisson \
                 arrivals, latency from the scheduled send; at most {CAPACITY} calls in flight \
                 (more are refused: \"caller full\").",
                TENANTS.len(),
                DEPENDENCY_RATE * OVERLOAD_FACTOR,
            ),
            width,
            "  both lanes: ",
            "    ",
        ),
        wrap(
            &format!(
                "{WORKERS} workers x {} ms of work; script: {}.",
                WORK.as_millis(),
                phases.join(" | "),
            ),
            width,
            "  dependency: ",
            "    ",
        ),
    ]
    .join("\n")
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
    let width = width::detect(args.width);
    if !args.json {
        println!("{}\n", header(&script, &args, width));
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
    let tail = match tail::run() {
        Ok(tail) => tail,
        Err(e) => {
            eprintln!("the tour could not run the latency-driven policies: {e}");
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
        tail,
        wall: began.elapsed(),
    };
    let rows = report::rows(&run);
    let tenants = report::tenant_rows(&run);
    let recovery = report::recovery(&run);
    let mut checks = report::checks(&rows, &tenants, &recovery);
    checks.push(run.storm.check());
    checks.push(run.cached.check());
    checks.extend(run.tail.checks());
    if args.json {
        println!(
            "{}",
            report::json(&run, &rows, &tenants, &recovery, &checks)
        );
    } else {
        print!(
            "{}",
            report::text(&run, &rows, &tenants, &recovery, &checks, width)
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
    fn the_width_in_both_spellings() {
        assert_eq!(parse(&[]).expect("valid").width, None);
        assert_eq!(parse(&["--width", "80"]).expect("valid").width, Some(80));
        assert_eq!(parse(&["--width=200"]).expect("valid").width, Some(200));
    }

    #[test]
    fn unknown_options_and_bad_seeds_are_errors() {
        assert!(parse(&["--fast"]).is_err_and(|(_, error)| error));
        assert!(parse(&["--seed", "x"]).is_err_and(|(_, error)| error));
        assert!(parse(&["--width", "x"]).is_err_and(|(_, error)| error));
        assert!(parse(&["--width", "12"]).is_err_and(|(_, error)| error));
        assert!(parse(&["--width"]).is_err_and(|(_, error)| error));
        assert!(parse(&["--help"]).is_err_and(|(_, error)| !error));
    }

    #[test]
    fn the_header_fits_the_width() {
        let args = parse(&["--quick"]).expect("valid");
        let script = Script::new(42, true);
        for width in [width::MIN, 60, 80, 100, 120, 200] {
            let header = header(&script, &args, width);
            assert!(width::widest(&header) <= width, "{width}:\n{header}");
            let words: Vec<&str> = header.split_whitespace().collect();
            assert!(words.join(" ").contains(STACK), "{header}");
        }
    }

    #[test]
    fn the_same_seed_gives_the_same_script() {
        assert_eq!(Script::new(1, true).digest(), Script::new(1, true).digest());
        assert_ne!(Script::new(1, true).digest(), Script::new(2, true).digest());
    }
}
