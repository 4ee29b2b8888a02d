//! Measurement and report: per-phase numbers for each lane, the time to recovery, the checks,
//! as tables or as JSON.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use comfy_table::{CellAlignment, ContentArrangement, Table, presets};
use hdrhistogram::Histogram;

use crate::cached::{self, Cached};
use crate::load::{Cause, LaneResult, OPEN_WAIT, Outcome, Record, TOTAL_TIMEOUT};
use crate::script::{Endpoint, FLOODER, PhaseKind, Script, TENANTS};
use crate::storm::{self, Storm};
use crate::transitions::Transition;

/// What a run produced: the script, each lane's records, the breaker's transitions.
pub struct Run {
    pub script: Script,
    pub quick: bool,
    pub unprotected: LaneResult,
    pub protected: LaneResult,
    pub transitions: Vec<Transition>,
    pub storm: Storm,
    pub cached: Cached,
    pub wall: Duration,
}

/// Latency quantiles, in microseconds.
#[derive(Clone, Copy, Debug, Default)]
pub struct Latency {
    pub p50: u64,
    pub p99: u64,
    pub max: u64,
}

impl Latency {
    fn of(records: &[&Record]) -> Latency {
        // 1 us to 10 min, 3 significant digits; a longer latency is clamped to the top.
        let Ok(mut h) = Histogram::<u64>::new_with_bounds(1, 600_000_000, 3) else {
            return Latency::default();
        };
        for r in records {
            h.saturating_record((r.latency.as_micros() as u64).max(1));
        }
        if h.is_empty() {
            return Latency::default();
        }
        Latency {
            p50: h.value_at_quantile(0.50),
            p99: h.value_at_quantile(0.99),
            max: h.max(),
        }
    }
}

/// One lane during one phase.
#[derive(Clone, Debug)]
pub struct Row {
    pub phase: PhaseKind,
    pub lane: &'static str,
    pub calls: u64,
    pub fresh: u64,
    pub fallbacks: u64,
    pub latency: Latency,
    pub dependency_calls: u64,
    /// Why calls were not answered fresh (served by the fallback or failed), by cause.
    pub causes: BTreeMap<Cause, u64>,
    pub side_calls: u64,
    pub side_ok: u64,
    pub side_latency: Latency,
    pub transitions: Vec<Transition>,
}

impl Row {
    pub fn answered(&self) -> f64 {
        percent(self.fresh + self.fallbacks, self.calls)
    }
    pub fn fresh_pct(&self) -> f64 {
        percent(self.fresh, self.calls)
    }
    pub fn amplification(&self) -> f64 {
        if self.calls == 0 {
            0.0
        } else {
            self.dependency_calls as f64 / self.calls as f64
        }
    }
    pub fn side_ok_pct(&self) -> f64 {
        percent(self.side_ok, self.side_calls)
    }
}

fn percent(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        100.0
    } else {
        part as f64 * 100.0 / whole as f64
    }
}

fn row(
    run: &Run,
    lane: &'static str,
    result: &LaneResult,
    index: usize,
    transitions: &[Transition],
) -> Row {
    let phase = run.script.phases[index];
    let in_phase = |r: &&Record| run.script.phase_index(r.at) == index;
    let dep: Vec<&Record> = result
        .records
        .iter()
        .filter(in_phase)
        .filter(|r| r.endpoint == Endpoint::Dependency)
        .collect();
    let side: Vec<&Record> = result
        .records
        .iter()
        .filter(in_phase)
        .filter(|r| r.endpoint == Endpoint::Side)
        .collect();
    let mut causes = BTreeMap::new();
    let (mut fresh, mut fallbacks) = (0, 0);
    for r in &dep {
        match r.outcome {
            Outcome::Fresh => fresh += 1,
            Outcome::Fallback(c) => {
                fallbacks += 1;
                *causes.entry(c).or_insert(0) += 1;
            }
            Outcome::Failed(c) => *causes.entry(c).or_insert(0) += 1,
        }
    }
    Row {
        phase: phase.kind,
        lane,
        calls: dep.len() as u64,
        fresh,
        fallbacks,
        latency: Latency::of(&dep),
        dependency_calls: result.dependency_calls.get(index).copied().unwrap_or(0),
        causes,
        side_calls: side.len() as u64,
        side_ok: side.iter().filter(|r| r.outcome == Outcome::Fresh).count() as u64,
        side_latency: Latency::of(&side),
        transitions: transitions
            .iter()
            .filter(|t| phase.start <= t.at && t.at < phase.end)
            .cloned()
            .collect(),
    }
}

/// Two rows per phase: unprotected, then protected.
pub fn rows(run: &Run) -> Vec<Row> {
    let mut rows = Vec::new();
    for index in 0..run.script.phases.len() {
        rows.push(row(run, "unprotected", &run.unprotected, index, &[]));
        rows.push(row(
            run,
            "protected",
            &run.protected,
            index,
            &run.transitions,
        ));
    }
    rows
}

/// One lane's calls of one tenant in the overloaded phase, where one tenant floods.
#[derive(Clone, Debug)]
pub struct TenantRow {
    pub lane: &'static str,
    pub tenant: &'static str,
    pub calls: u64,
    pub fresh: u64,
    pub latency: Latency,
    /// Why calls were not answered fresh, by cause.
    pub causes: BTreeMap<Cause, u64>,
}

impl TenantRow {
    pub fn fresh_pct(&self) -> f64 {
        percent(self.fresh, self.calls)
    }
}

/// Per tenant, for each lane: what the flood in the overloaded phase did to every tenant.
pub fn tenant_rows(run: &Run) -> Vec<TenantRow> {
    let phase = run.script.phase(PhaseKind::Overloaded);
    let mut rows = Vec::new();
    for (lane, result) in [
        ("unprotected", &run.unprotected),
        ("protected", &run.protected),
    ] {
        for (tenant, name) in TENANTS.iter().enumerate() {
            let calls: Vec<&Record> = result
                .records
                .iter()
                .filter(|r| r.endpoint == Endpoint::Dependency && r.tenant == tenant)
                .filter(|r| phase.start <= r.at && r.at < phase.end)
                .collect();
            let mut causes = BTreeMap::new();
            for r in &calls {
                if let Outcome::Fallback(c) | Outcome::Failed(c) = r.outcome {
                    *causes.entry(c).or_insert(0) += 1;
                }
            }
            rows.push(TenantRow {
                lane,
                tenant: name,
                calls: calls.len() as u64,
                fresh: calls.iter().filter(|r| r.outcome == Outcome::Fresh).count() as u64,
                latency: Latency::of(&calls),
                causes,
            });
        }
    }
    rows
}

fn find(rows: &[Row], phase: PhaseKind, lane: &str) -> Row {
    rows.iter()
        .find(|r| r.phase == phase && r.lane == lane)
        .cloned()
        .unwrap_or_else(|| panic!("a row for every phase and lane"))
}

/// When each lane answered fresh again for good after the fault ended, and when the breaker
/// closed.
#[derive(Clone, Debug)]
pub struct Recovery {
    pub unprotected: Duration,
    pub protected: Duration,
    /// Since the fault ended; `None` if the breaker never closed in the recovered phase.
    pub breaker_closed: Option<Duration>,
    /// Openings after that close.
    pub reopened: usize,
}

pub fn recovery(run: &Run) -> Recovery {
    let recovered = run.script.phase(PhaseKind::Recovered);
    let fresh_again = |result: &LaneResult| {
        result
            .records
            .iter()
            .filter(|r| r.endpoint == Endpoint::Dependency && r.at >= recovered.start)
            .filter(|r| r.outcome != Outcome::Fresh)
            .map(|r| r.at.saturating_sub(recovered.start))
            .max()
            .unwrap_or_default()
    };
    let after: Vec<&Transition> = run
        .transitions
        .iter()
        .filter(|t| t.at >= recovered.start)
        .collect();
    let close = after.iter().position(|t| t.to == "closed");
    Recovery {
        unprotected: fresh_again(&run.unprotected),
        protected: fresh_again(&run.protected),
        breaker_closed: close.map(|i| after[i].at.saturating_sub(recovered.start)),
        reopened: close.map_or(0, |i| after[i..].iter().filter(|t| t.to == "open").count()),
    }
}

/// One verdict.
#[derive(Clone, Debug)]
pub struct Check {
    pub name: String,
    pub pass: bool,
    pub detail: String,
}

pub fn checks(rows: &[Row], tenants: &[TenantRow], recovery: &Recovery) -> Vec<Check> {
    let mut checks = Vec::new();
    let mut check =
        |name: String, pass: bool, detail: String| checks.push(Check { name, pass, detail });
    for phase in [PhaseKind::Down, PhaseKind::Hung] {
        let (u, p) = (
            find(rows, phase, "unprotected"),
            find(rows, phase, "protected"),
        );
        let share = percent(p.dependency_calls, u.dependency_calls);
        check(
            format!(
                "{}: protected sends <= 10% of unprotected's calls to the dependency",
                phase.name()
            ),
            p.dependency_calls * 10 <= u.dependency_calls,
            format!(
                "{} vs {} ({share:.1}%)",
                p.dependency_calls, u.dependency_calls
            ),
        );
        check(
            format!("{}: protected answers >= 99% of calls", phase.name()),
            p.answered() >= 99.0,
            format!(
                "{:.1}% ({:.1}% fresh, {} from the fallback); unprotected {:.1}%",
                p.answered(),
                p.fresh_pct(),
                p.fallbacks,
                u.answered()
            ),
        );
    }
    let (u, p) = (
        find(rows, PhaseKind::Hung, "unprotected"),
        find(rows, PhaseKind::Hung, "protected"),
    );
    check(
        "hung: side service >= 99% ok protected, starved unprotected (< 90%)".into(),
        p.side_ok_pct() >= 99.0 && u.side_ok_pct() < 90.0,
        format!(
            "protected {:.1}%, unprotected {:.1}%",
            p.side_ok_pct(),
            u.side_ok_pct()
        ),
    );
    let worst = rows
        .iter()
        .filter(|r| r.lane == "protected")
        .max_by_key(|r| r.latency.p99)
        .cloned();
    if let Some(worst) = worst {
        check(
            format!(
                "every phase: protected p99 <= the total timeout ({})",
                ms(TOTAL_TIMEOUT.as_micros() as u64)
            ),
            worst.latency.p99 <= TOTAL_TIMEOUT.as_micros() as u64,
            format!("worst: {} in {}", ms(worst.latency.p99), worst.phase.name()),
        );
    }
    let (u, p) = (
        find(rows, PhaseKind::Errors, "unprotected"),
        find(rows, PhaseKind::Errors, "protected"),
    );
    check(
        "errors: protected fresh >= 95% with amplification <= 1.5".into(),
        p.fresh_pct() >= 95.0 && p.amplification() <= 1.5,
        format!(
            "{:.1}% fresh at {:.2}x; unprotected {:.1}% at {:.2}x",
            p.fresh_pct(),
            p.amplification(),
            u.fresh_pct(),
            u.amplification()
        ),
    );
    // The flood: every other tenant fresh and never rate limited in the protected lane.
    let others = |lane: &str| -> Vec<&TenantRow> {
        tenants
            .iter()
            .filter(|t| t.lane == lane && t.tenant != TENANTS[FLOODER])
            .collect()
    };
    let worst = |lane: &str| {
        others(lane)
            .iter()
            .map(|t| t.fresh_pct())
            .fold(100.0, f64::min)
    };
    let flooder_limited = tenants
        .iter()
        .find(|t| t.lane == "protected" && t.tenant == TENANTS[FLOODER])
        .map_or(0, |t| {
            t.causes.get(&Cause::RateLimited).copied().unwrap_or(0)
        });
    let others_limited: u64 = others("protected")
        .iter()
        .map(|t| t.causes.get(&Cause::RateLimited).copied().unwrap_or(0))
        .sum();
    check(
        format!(
            "overloaded: only {} is throttled; the other tenants >= 99% fresh protected",
            TENANTS[FLOODER]
        ),
        flooder_limited > 0 && others_limited == 0 && worst("protected") >= 99.0,
        format!(
            "{} rate limited {flooder_limited}, the others {others_limited}; their worst fresh: \
             protected {:.1}%, unprotected {:.1}%",
            TENANTS[FLOODER],
            worst("protected"),
            worst("unprotected")
        ),
    );
    let (u, p) = (
        find(rows, PhaseKind::Healthy, "unprotected"),
        find(rows, PhaseKind::Healthy, "protected"),
    );
    let delta = p.latency.p50 as f64 - u.latency.p50 as f64;
    check(
        "healthy: protected p50 within 2 ms of unprotected".into(),
        delta.abs() <= 2000.0,
        format!(
            "{} vs {} ({:+.2} ms)",
            ms(p.latency.p50),
            ms(u.latency.p50),
            delta / 1000.0
        ),
    );
    check(
        "recovered: breaker closes within 3 s of the fault's end, no second opening".into(),
        recovery
            .breaker_closed
            .is_some_and(|t| t <= Duration::from_secs(3))
            && recovery.reopened == 0,
        match recovery.breaker_closed {
            Some(t) => format!(
                "closed after {:.2} s, reopened {} times",
                t.as_secs_f64(),
                recovery.reopened
            ),
            None => "never closed".into(),
        },
    );
    checks
}

/// Microseconds as milliseconds, short.
fn ms(us: u64) -> String {
    if us >= 100_000 {
        format!("{:.0} ms", us as f64 / 1000.0)
    } else {
        format!("{:.1} ms", us as f64 / 1000.0)
    }
}

fn causes_cell(causes: &BTreeMap<Cause, u64>) -> String {
    if causes.is_empty() {
        return "-".into();
    }
    let parts: Vec<String> = causes
        .iter()
        .map(|(c, n)| format!("{} {n}", c.name()))
        .collect();
    parts.join("\n")
}

fn transitions_cell(transitions: &[Transition]) -> String {
    const SHOWN: usize = 4;
    if transitions.is_empty() {
        return "-".into();
    }
    let mut cell: Vec<String> = transitions
        .iter()
        .take(SHOWN)
        .map(|t| format!("{:.2}s {}", t.at.as_secs_f64(), t.to))
        .collect();
    if transitions.len() > SHOWN {
        cell.push(format!("+{} more", transitions.len() - SHOWN));
    }
    cell.join("\n")
}

/// The per-phase table.
pub fn table(rows: &[Row]) -> String {
    let mut table = Table::new();
    table
        .load_style(presets::UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Disabled)
        .set_header(vec![
            "phase",
            "lane",
            "answered\n(fresh+fb)",
            "fresh",
            "p50",
            "p99",
            "max",
            "dep.\ncalls",
            "ampl.",
            "fall-\nbacks",
            "not fresh\nbecause",
            "breaker",
            "side\nok",
            "side\np99",
        ]);
    for r in rows {
        let phase = if r.lane == "unprotected" {
            r.phase.name()
        } else {
            ""
        };
        table.add_row(vec![
            phase.to_string(),
            r.lane.to_string(),
            format!("{:.1}%", r.answered()),
            format!("{:.1}%", r.fresh_pct()),
            ms(r.latency.p50),
            ms(r.latency.p99),
            ms(r.latency.max),
            r.dependency_calls.to_string(),
            format!("{:.2}", r.amplification()),
            r.fallbacks.to_string(),
            causes_cell(&r.causes),
            transitions_cell(&r.transitions),
            format!("{:.1}%", r.side_ok_pct()),
            ms(r.side_latency.p99),
        ]);
    }
    for i in 2..10 {
        if let Some(column) = table.column_mut(i) {
            column.set_cell_alignment(CellAlignment::Right);
        }
    }
    for i in 12..14 {
        if let Some(column) = table.column_mut(i) {
            column.set_cell_alignment(CellAlignment::Right);
        }
    }
    table.to_string()
}

/// The per-tenant table of the overloaded phase.
pub fn tenant_table(rows: &[TenantRow]) -> String {
    let mut table = Table::new();
    table
        .load_style(presets::UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Disabled)
        .set_header(vec![
            "lane",
            "tenant",
            "calls",
            "fresh",
            "p50",
            "p99",
            "not fresh\nbecause",
        ]);
    for r in rows {
        table.add_row(vec![
            r.lane.to_string(),
            r.tenant.to_string(),
            r.calls.to_string(),
            format!("{:.1}%", r.fresh_pct()),
            ms(r.latency.p50),
            ms(r.latency.p99),
            causes_cell(&r.causes),
        ]);
    }
    for i in 2..6 {
        if let Some(column) = table.column_mut(i) {
            column.set_cell_alignment(CellAlignment::Right);
        }
    }
    table.to_string()
}

/// Everything after the header, as text.
pub fn text(
    run: &Run,
    rows: &[Row],
    tenants: &[TenantRow],
    recovery: &Recovery,
    checks: &[Check],
) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{}", table(rows));
    let _ = writeln!(
        out,
        "answered = fresh from the dependency + served by the fallback (the last good quote); \
         latency counts every call, answered or not, from its scheduled send;\n\
         dep. calls = requests (and, when down, connections) the lane's server received; \
         ampl. = dep. calls / user calls; side = the healthy side service."
    );
    let _ = writeln!(
        out,
        "\noverloaded, per tenant ({} floods; the protected lane limits each tenant on its own, \
         and serves a limited call the last good quote):\n{}",
        TENANTS[FLOODER],
        tenant_table(tenants)
    );
    let _ = writeln!(
        out,
        "\ntime to recovery (from the fault's end until every call is answered fresh again): \
         unprotected {:.2} s, protected {:.2} s",
        recovery.unprotected.as_secs_f64(),
        recovery.protected.as_secs_f64(),
    );
    if let Some(closed) = recovery.breaker_closed {
        let _ = writeln!(
            out,
            "  the breaker waits out `open = {}s` before probing, then closes ({:.2} s after \
             the fault's end); its fallback answers meanwhile",
            OPEN_WAIT.as_secs(),
            closed.as_secs_f64()
        );
    }
    for (lane, result) in [
        ("unprotected", &run.unprotected),
        ("protected", &run.protected),
    ] {
        if result.unfinished > 0 {
            let _ = writeln!(
                out,
                "  {lane}: {} calls still unfinished at the end were left out",
                result.unfinished
            );
        }
    }
    let storm = &run.storm;
    let _ = writeln!(
        out,
        "\nretry storm (virtual time: {} requests/s for {} s through three nested functions, \
         each #[retry(attempts = {})], the dependency down):\n  \
         without a budget: {} dependency calls, {:.2} per request\n  \
         with {}: {} calls, {:.2} per request ({} retries refused)",
        storm::RATE,
        storm::SECONDS,
        storm::ATTEMPTS,
        storm.without,
        storm.amplification_without(),
        storm::BUDGET,
        storm.with,
        storm.amplification_with(),
        storm.refused,
    );
    let _ = writeln!(
        out,
        "\nthe cache's effect (virtual time: {} calls/s over {} products, {} s a phase, both \
         under {}; the second with {} on top):",
        cached::RATE,
        cached::SKUS,
        cached::PHASE_SECONDS,
        cached::BREAKER,
        cached::CACHE,
    );
    let _ = writeln!(out, "{}", cached_table(&run.cached));
    let _ = writeln!(out, "\nchecks:");
    for c in checks {
        let verdict = if c.pass { "PASS" } else { "FAIL" };
        let _ = writeln!(out, "  {verdict}  {:<76} {}", c.name, c.detail);
    }
    let passed = checks.iter().filter(|c| c.pass).count();
    let _ = writeln!(
        out,
        "{passed} of {} checks passed in {:.1} s. Seed {} drew script {:016x}: the same seed \
         sends the same arrivals and faults, run after run.",
        checks.len(),
        run.wall.as_secs_f64(),
        run.script.seed,
        run.script.digest(),
    );
    out
}

/// The cache's phases: calls, answered and dependency hits, without and with it.
fn cached_table(c: &Cached) -> String {
    let mut t = Table::new();
    t.load_style(presets::UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Disabled)
        .set_header(vec!["phase", "lane", "calls", "answered", "dep. calls"]);
    for (i, phase) in cached::PHASES.iter().enumerate() {
        for (lane, f) in [("no cache", c.uncached[i]), ("cache", c.cached[i])] {
            t.add_row(vec![
                (*phase).to_string(),
                lane.to_string(),
                f.calls.to_string(),
                format!("{:.1}%", 100.0 * f.answered as f64 / f.calls.max(1) as f64),
                f.dependency_hits.to_string(),
            ]);
        }
    }
    for column in 2..5 {
        if let Some(c) = t.column_mut(column) {
            c.set_cell_alignment(CellAlignment::Right);
        }
    }
    t.to_string()
}

/// A JSON string literal.
fn json_str(s: &str) -> String {
    let mut out = String::from("\"");
    for ch in s.chars() {
        match ch {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn json_latency(l: &Latency) -> String {
    format!(
        "{{\"p50_ms\":{:.3},\"p99_ms\":{:.3},\"max_ms\":{:.3}}}",
        l.p50 as f64 / 1000.0,
        l.p99 as f64 / 1000.0,
        l.max as f64 / 1000.0
    )
}

/// The cache's phases as JSON: per phase, each lane's calls, answered and dependency hits.
fn cached_json(c: &Cached) -> String {
    let lane = |f: &[cached::Figures; 3]| {
        let phases: Vec<String> = cached::PHASES
            .iter()
            .zip(f)
            .map(|(p, f)| {
                format!(
                    "{{\"phase\":\"{p}\",\"calls\":{},\"answered\":{},\"dependency_calls\":{}}}",
                    f.calls, f.answered, f.dependency_hits
                )
            })
            .collect();
        format!("[{}]", phases.join(","))
    };
    format!(
        "{{\"without\":{},\"with\":{}}}",
        lane(&c.uncached),
        lane(&c.cached)
    )
}

/// The whole report as one JSON document.
pub fn json(
    run: &Run,
    rows: &[Row],
    tenants: &[TenantRow],
    recovery: &Recovery,
    checks: &[Check],
) -> String {
    let mut out = String::new();
    let _ = write!(
        out,
        "{{\"seed\":{},\"quick\":{},\"script_digest\":\"{:016x}\",\"wall_s\":{:.3},\"rows\":[",
        run.script.seed,
        run.quick,
        run.script.digest(),
        run.wall.as_secs_f64()
    );
    for (i, r) in rows.iter().enumerate() {
        let causes: Vec<String> = r
            .causes
            .iter()
            .map(|(c, n)| format!("{}:{n}", json_str(c.name())))
            .collect();
        let transitions: Vec<String> = r
            .transitions
            .iter()
            .map(|t| {
                format!(
                    "{{\"at_s\":{:.3},\"to\":{}}}",
                    t.at.as_secs_f64(),
                    json_str(&t.to)
                )
            })
            .collect();
        let _ = write!(
            out,
            "{}{{\"phase\":{},\"lane\":{},\"calls\":{},\"fresh\":{},\"fallbacks\":{},\
             \"answered_pct\":{:.2},\"fresh_pct\":{:.2},\"latency\":{},\"dependency_calls\":{},\
             \"amplification\":{:.3},\"not_fresh\":{{{}}},\"breaker_transitions\":[{}],\
             \"side_calls\":{},\"side_ok_pct\":{:.2},\"side_latency\":{}}}",
            if i == 0 { "" } else { "," },
            json_str(r.phase.name()),
            json_str(r.lane),
            r.calls,
            r.fresh,
            r.fallbacks,
            r.answered(),
            r.fresh_pct(),
            json_latency(&r.latency),
            r.dependency_calls,
            r.amplification(),
            causes.join(","),
            transitions.join(","),
            r.side_calls,
            r.side_ok_pct(),
            json_latency(&r.side_latency),
        );
    }
    out.push_str("],\"overloaded_tenants\":[");
    for (i, t) in tenants.iter().enumerate() {
        let causes: Vec<String> = t
            .causes
            .iter()
            .map(|(c, n)| format!("{}:{n}", json_str(c.name())))
            .collect();
        let _ = write!(
            out,
            "{}{{\"lane\":{},\"tenant\":{},\"calls\":{},\"fresh\":{},\"fresh_pct\":{:.2},\
             \"latency\":{},\"not_fresh\":{{{}}}}}",
            if i == 0 { "" } else { "," },
            json_str(t.lane),
            json_str(t.tenant),
            t.calls,
            t.fresh,
            t.fresh_pct(),
            json_latency(&t.latency),
            causes.join(","),
        );
    }
    let _ = write!(
        out,
        "],\"recovery\":{{\"unprotected_s\":{:.3},\"protected_s\":{:.3},\"breaker_closed_s\":{},\
         \"reopened\":{}}},\"storm\":{{\"requests\":{},\"dependency_calls_without_budget\":{},\
         \"dependency_calls_with_budget\":{},\"refused\":{}}},\"cache\":{},\"checks\":[",
        recovery.unprotected.as_secs_f64(),
        recovery.protected.as_secs_f64(),
        recovery
            .breaker_closed
            .map_or("null".to_string(), |t| format!("{:.3}", t.as_secs_f64())),
        recovery.reopened,
        run.storm.requests,
        run.storm.without,
        run.storm.with,
        run.storm.refused,
        cached_json(&run.cached),
    );
    for (i, c) in checks.iter().enumerate() {
        let _ = write!(
            out,
            "{}{{\"name\":{},\"pass\":{},\"detail\":{}}}",
            if i == 0 { "" } else { "," },
            json_str(&c.name),
            c.pass,
            json_str(&c.detail)
        );
    }
    out.push_str("]}");
    out
}
