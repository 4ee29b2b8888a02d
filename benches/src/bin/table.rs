//! Turns the output of `cargo bench -p resilience-benches` into the markdown table of
//! BENCHMARKS.md: ns per call, overhead over the bare call, allocations per call, ratio to the
//! fastest peer of the group, and the target where there is one.
//!
//! Two steps, so the table can be the median of several runs:
//!
//! - `table --save [CRITERION_DIR] < bench.log > run.txt` keeps one run: a line
//!   `id ns allocs` per benchmark. The ns per call is the median of criterion's samples, read
//!   from `CRITERION_DIR/<group>/<name>/new/estimates.json` (the median resists the other
//!   processes of a shared machine better than the mean); without the directory, the middle of
//!   criterion's printed `time:` estimate.
//! - `table run1.txt [run2.txt ...]` prints the table: each benchmark's ns per call is the
//!   median of its runs (with their range when there are several), and the overheads, ratios
//!   and verdicts are computed from those medians.

use std::collections::BTreeMap;
use std::io::{self, BufRead};

/// One benchmark's figures.
#[derive(Default)]
struct Row {
    ns: Option<f64>,
    allocs: Option<f64>,
}

/// The baseline a benchmark's overhead is counted from.
fn baseline(group: &str, name: &str) -> &'static str {
    if group.starts_with("two_threads") {
        "two_threads_bare/async_fn"
    } else if group == "retry_two_failures" {
        "retry_two_failures/hand_loop"
    } else if name.starts_with("tower") {
        "bare/tower_service_fn"
    } else {
        "bare/async_fn"
    }
}

/// Whether a benchmark is ours (the others in its group are peers or references).
fn is_ours(name: &str) -> bool {
    name.starts_with("ours")
}

/// Names that are reference points, not peers doing the job.
fn is_reference(id: &str) -> bool {
    id.starts_with("bare/")
        || id.ends_with("/hand_loop")
        || id.ends_with("two_threads_bare/async_fn")
        || id == "rate_limiter/tokio_instant_now"
        || id == "bare/one_atomic_add"
}

/// The median point estimate in a criterion `estimates.json`, in nanoseconds.
fn median_ns(estimates: &str) -> Option<f64> {
    let median = &estimates[estimates.find("\"median\":")?..];
    let point = &median[median.find("\"point_estimate\":")? + "\"point_estimate\":".len()..];
    let end = point.find([',', '}'])?;
    point[..end].trim().parse().ok()
}

/// Parses `[1.2 ns 3.4 ns 5.6 ns]` into the middle figure in nanoseconds.
fn middle_ns(time: &str) -> Option<f64> {
    let inside = time.split('[').nth(1)?.split(']').next()?;
    let parts: Vec<&str> = inside.split_whitespace().collect();
    let value: f64 = parts.get(2)?.parse().ok()?;
    let scale = match *parts.get(3)? {
        "ps" => 1e-3,
        "ns" => 1.0,
        "µs" | "us" => 1e3,
        "ms" => 1e6,
        "s" => 1e9,
        _ => return None,
    };
    Some(value * scale)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--save") {
        save(args.get(1).map(String::as_str));
    } else {
        print_table(&args);
    }
}

/// Reads one run's log on stdin and prints `id ns allocs` per benchmark, in the table's order.
fn save(criterion_dir: Option<&str>) {
    let mut rows: BTreeMap<String, Row> = BTreeMap::new();
    let mut order: Vec<String> = Vec::new();
    let mut current: Option<String> = None;
    for line in io::stdin().lock().lines().map_while(Result::ok) {
        if let Some(rest) = line.strip_prefix("allocs/call ") {
            if let Some((id, n)) = rest.split_once(" = ") {
                let row = rows.entry(id.to_owned()).or_default();
                row.allocs = n.trim().parse().ok();
            }
            continue;
        }
        let first = line.split_whitespace().next().unwrap_or("");
        if !line.starts_with(' ') && first.contains('/') {
            current = Some(first.to_owned());
        }
        if let (Some(id), Some(at)) = (&current, line.find("time:")) {
            if let Some(ns) = middle_ns(&line[at..]) {
                if !order.contains(id) {
                    order.push(id.clone());
                }
                rows.entry(id.clone()).or_default().ns = Some(ns);
            }
            current = None;
        }
    }

    // Criterion runs the bench binaries in alphabetical order; the table reads better from the
    // single-thread success path outwards.
    const GROUP_ORDER: [&str; 19] = [
        "bare",
        "circuit_breaker",
        "circuit_breaker_options",
        "retry",
        "timeout",
        "bulkhead",
        "adaptive_bulkhead",
        "hedge",
        "rate_limiter",
        "keyed_rate_limiter",
        "stack",
        "open_breaker",
        "retry_two_failures",
        "two_threads_bare",
        "two_threads_circuit_breaker",
        "two_threads_open_breaker",
        "two_threads_stack",
        "two_threads_bulkhead",
        "two_threads_keyed_rate_limiter",
    ];
    order.sort_by_key(|id| {
        let group = id.split_once('/').map_or(id.as_str(), |(g, _)| g);
        GROUP_ORDER
            .iter()
            .position(|g| *g == group)
            .unwrap_or(GROUP_ORDER.len())
    });

    if let Some(dir) = criterion_dir {
        for id in &order {
            let path = std::path::Path::new(&dir)
                .join(id)
                .join("new/estimates.json");
            if let Some(ns) = std::fs::read_to_string(path)
                .ok()
                .as_deref()
                .and_then(median_ns)
            {
                rows.entry(id.clone()).or_default().ns = Some(ns);
            }
        }
    }

    for id in &order {
        let row = &rows[id];
        if let Some(ns) = row.ns {
            let allocs = row.allocs.map_or("-".into(), |a| a.to_string());
            println!("{id} {ns} {allocs}");
        }
    }
}

/// One benchmark across runs.
#[derive(Default)]
struct Runs {
    ns: Vec<f64>,
    allocs: Option<f64>,
}

impl Runs {
    fn median(&self) -> Option<f64> {
        let mut v = self.ns.clone();
        v.sort_by(f64::total_cmp);
        match v.len() {
            0 => None,
            n if n % 2 == 1 => Some(v[n / 2]),
            n => Some((v[n / 2 - 1] + v[n / 2]) / 2.0),
        }
    }
}

/// Prints the table from the runs saved in `files` (see [`save`]).
fn print_table(files: &[String]) {
    let mut runs: BTreeMap<String, Runs> = BTreeMap::new();
    let mut order: Vec<String> = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(file).unwrap_or_else(|e| {
            eprintln!("table: cannot read {file}: {e}");
            std::process::exit(2);
        });
        for line in text.lines() {
            let mut parts = line.split_whitespace();
            let (Some(id), Some(ns)) = (parts.next(), parts.next().and_then(|n| n.parse().ok()))
            else {
                continue;
            };
            if !order.iter().any(|o| o == id) {
                order.push(id.to_owned());
            }
            let entry = runs.entry(id.to_owned()).or_default();
            entry.ns.push(ns);
            if let Some(a) = parts.next().and_then(|a| a.parse().ok()) {
                entry.allocs = Some(a);
            }
        }
    }
    let rows: BTreeMap<String, Row> = runs
        .iter()
        .map(|(id, r)| {
            (
                id.clone(),
                Row {
                    ns: r.median(),
                    allocs: r.allocs,
                },
            )
        })
        .collect();
    let several = files.len() > 1;

    let ns_of = |id: &str| rows.get(id).and_then(|r| r.ns);
    let target = |group: &str, name: &str| -> Option<(f64, String)> {
        if !is_ours(name) {
            return None;
        }
        let overhead = |id: &str, base: &str| Some(ns_of(id)? - ns_of(base)?);
        match group {
            "circuit_breaker" => Some((6.0, "<= 6 ns".into())),
            "retry" => Some((5.0, "<= 5 ns".into())),
            "timeout" => Some((10.0, "<= 10 ns".into())),
            "stack" => Some((60.0, "<= 60 ns".into())),
            "open_breaker" => Some((30.0, "<= 30 ns".into())),
            "two_threads_circuit_breaker" => Some((25.0, "<= 25 ns".into())),
            "bulkhead" => {
                let t = overhead("bulkhead/tokio_semaphore", "bare/async_fn")?;
                Some((t, format!("<= tokio try_acquire ({t:.1} ns)")))
            }
            // Within 1.5 times governor's keyed limiter, as an overhead over a bare call.
            "keyed_rate_limiter" => {
                let t =
                    1.5 * ns_of("keyed_rate_limiter/governor_check_key")? - ns_of("bare/async_fn")?;
                Some((t, format!("<= 1.5 x governor check_key ({t:.1} ns)")))
            }
            "rate_limiter" => {
                let t = overhead("rate_limiter/governor_check", "bare/async_fn")?
                    + overhead("rate_limiter/tokio_instant_now", "bare/async_fn")?;
                Some((t, format!("<= governor + Instant::now ({t:.1} ns)")))
            }
            _ => None,
        }
    };

    if several {
        println!(
            "| benchmark | ns/call (median of {} runs) | range over the runs | overhead over bare (ns) | allocs/call | ratio to best peer | target (overhead) |",
            files.len()
        );
        println!("|---|---:|---:|---:|---:|---:|---|");
    } else {
        println!(
            "| benchmark | ns/call | overhead over bare (ns) | allocs/call | ratio to best peer | target (overhead) |"
        );
        println!("|---|---:|---:|---:|---:|---|");
    }
    for id in &order {
        let Some((group, name)) = id.split_once('/') else {
            continue;
        };
        let row = &rows[id];
        let Some(ns) = row.ns else { continue };
        let base = baseline(group, name);
        let overhead = if base == id.as_str() || id.ends_with("/tower_service_fn") {
            "-".to_owned()
        } else {
            ns_of(base).map_or("?".into(), |b| format!("{:.1}", ns - b))
        };
        let allocs = row.allocs.map_or("-".into(), |a| format!("{a:.2}"));
        let best_peer = order
            .iter()
            .filter(|other| {
                other
                    .split_once('/')
                    .is_some_and(|(g, n)| g == group && !is_ours(n))
                    && !is_reference(other)
            })
            .filter_map(|other| ns_of(other))
            .fold(None, |best: Option<f64>, x| {
                Some(best.map_or(x, |b| b.min(x)))
            });
        let ratio = match (is_reference(id), best_peer) {
            // Two decimals, or as many as it takes to show a ratio below 0.01 at all.
            (false, Some(best)) if ns / best < 0.01 => format!("{:.4}", ns / best),
            (false, Some(best)) => format!("{:.2}", ns / best),
            _ => "-".into(),
        };
        let target = match target(group, name) {
            Some((limit, text)) => {
                let met = ns_of(base).is_some_and(|b| ns - b <= limit);
                format!("{text}: {}", if met { "met" } else { "**missed**" })
            }
            None => String::new(),
        };
        if several {
            let r = &runs[id];
            let lo = r.ns.iter().copied().fold(f64::INFINITY, f64::min);
            let hi = r.ns.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            println!(
                "| `{id}` | {ns:.1} | {lo:.1} to {hi:.1} | {overhead} | {allocs} | {ratio} | {target} |"
            );
        } else {
            println!("| `{id}` | {ns:.1} | {overhead} | {allocs} | {ratio} | {target} |");
        }
    }
}
