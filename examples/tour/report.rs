//! Measurement and report: per-phase numbers for each lane, the time to recovery, the checks,
//! as tables or as JSON. The text fits a given width (see [`text`] and [`Layout`]): the wide
//! tables where they fit, else compact ones, and the prose wrapped.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use comfy_table::{CellAlignment, ContentArrangement, Table, presets};
use hdrhistogram::Histogram;

use crate::cached::{self, Cached};
use crate::load::{Cause, LaneResult, OPEN_WAIT, Outcome, Record, TOTAL_TIMEOUT};
use crate::script::{Endpoint, FLOODER, PhaseKind, Script, TENANTS};
use crate::storm::{self, Storm};
use crate::tail::{self, Tail};
use crate::transitions::Transition;
use crate::width::{self, columns, widest, wrap};

/// What a run produced: the script, each lane's records, the breaker's transitions.
pub struct Run {
    pub script: Script,
    pub quick: bool,
    pub unprotected: LaneResult,
    pub protected: LaneResult,
    pub transitions: Vec<Transition>,
    pub storm: Storm,
    pub cached: Cached,
    pub tail: Tail,
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
    format!("{} ms", ms_bare(us))
}

/// Microseconds as milliseconds, short, without the unit (a compact header carries it).
fn ms_bare(us: u64) -> String {
    if us >= 100_000 {
        format!("{:.0}", us as f64 / 1000.0)
    } else {
        format!("{:.1}", us as f64 / 1000.0)
    }
}

/// A lane's name in the compact layout.
fn short_lane(lane: &str) -> &'static str {
    if lane == "unprotected" {
        "unprot."
    } else {
        "prot."
    }
}

fn causes_list(causes: &BTreeMap<Cause, u64>) -> Vec<String> {
    causes
        .iter()
        .map(|(c, n)| format!("{} {n}", c.name()))
        .collect()
}

fn causes_cell(causes: &BTreeMap<Cause, u64>) -> String {
    if causes.is_empty() {
        return "-".into();
    }
    causes_list(causes).join("\n")
}

/// The first transitions, then how many more.
fn transitions_list(transitions: &[Transition]) -> Vec<String> {
    const SHOWN: usize = 4;
    let mut list: Vec<String> = transitions
        .iter()
        .take(SHOWN)
        .map(|t| format!("{:.2}s {}", t.at.as_secs_f64(), t.to))
        .collect();
    if transitions.len() > SHOWN {
        list.push(format!("+{} more", transitions.len() - SHOWN));
    }
    list
}

fn transitions_cell(transitions: &[Transition]) -> String {
    if transitions.is_empty() {
        return "-".into();
    }
    transitions_list(transitions).join("\n")
}

/// A table in the report's style, its cells laid out as they are.
fn new_table(header: Vec<&str>) -> Table {
    let mut table = Table::new();
    table
        .load_style(presets::UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Disabled)
        .set_header(header);
    table
}

fn align_right(table: &mut Table, columns: impl IntoIterator<Item = usize>) {
    for i in columns {
        if let Some(column) = table.column_mut(i) {
            column.set_cell_alignment(CellAlignment::Right);
        }
    }
}

/// `table` as text within `width` columns: as it is if it fits, else with comfy-table
/// wrapping its cells to the width (the last resort of a very narrow terminal).
fn fitted(table: &mut Table, width: usize) -> String {
    let text = table.to_string();
    if widest(&text) <= width {
        return text;
    }
    table
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_width(u16::try_from(width).unwrap_or(u16::MAX));
    table.to_string()
}

/// How the per-phase table is laid out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    /// A column per figure, the causes and the breaker's transitions in cells: about 160
    /// columns.
    Wide,
    /// Fewer columns, short headers, the units in the headers; the causes and transitions in
    /// lines under the table.
    Compact,
}

/// The per-phase table, and the layout it took: the wide one if `width` is at least
/// [`width::WIDE`] and it fits, else the compact one.
pub fn table(rows: &[Row], width: usize) -> (String, Layout) {
    if width >= width::WIDE {
        let wide = wide_table(rows);
        if widest(&wide) <= width {
            return (wide, Layout::Wide);
        }
    }
    (compact_table(rows, width), Layout::Compact)
}

/// The per-phase table with a column per figure.
fn wide_table(rows: &[Row]) -> String {
    let mut table = new_table(vec![
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
    align_right(&mut table, (2..10).chain(12..14));
    table.to_string()
}

/// One column of the compact per-phase table.
struct Column {
    header: &'static str,
    right: bool,
    /// 0: always shown; otherwise left out when the table would not fit, the highest first.
    optional: u8,
    cell: fn(&Row) -> String,
}

/// The compact per-phase table's columns: at 100 columns all of them fit, at 80 those that
/// are not optional.
const COMPACT: [Column; 12] = [
    Column {
        header: "phase",
        right: false,
        optional: 0,
        cell: |r| {
            if r.lane == "unprotected" {
                r.phase.name().to_string()
            } else {
                String::new()
            }
        },
    },
    Column {
        header: "lane",
        right: false,
        optional: 0,
        cell: |r| short_lane(r.lane).to_string(),
    },
    Column {
        header: "answ.\n%",
        right: true,
        optional: 0,
        cell: |r| format!("{:.1}", r.answered()),
    },
    Column {
        header: "fresh\n%",
        right: true,
        optional: 0,
        cell: |r| format!("{:.1}", r.fresh_pct()),
    },
    Column {
        header: "p50\nms",
        right: true,
        optional: 0,
        cell: |r| ms_bare(r.latency.p50),
    },
    Column {
        header: "p99\nms",
        right: true,
        optional: 0,
        cell: |r| ms_bare(r.latency.p99),
    },
    Column {
        header: "max\nms",
        right: true,
        optional: 2,
        cell: |r| ms_bare(r.latency.max),
    },
    Column {
        header: "dep.\ncalls",
        right: true,
        optional: 0,
        cell: |r| r.dependency_calls.to_string(),
    },
    Column {
        header: "ampl.",
        right: true,
        optional: 0,
        cell: |r| format!("{:.2}", r.amplification()),
    },
    Column {
        header: "fall-\nbacks",
        right: true,
        optional: 1,
        cell: |r| r.fallbacks.to_string(),
    },
    Column {
        header: "side\nok %",
        right: true,
        optional: 0,
        cell: |r| format!("{:.1}", r.side_ok_pct()),
    },
    Column {
        header: "side\np99",
        right: true,
        optional: 3,
        cell: |r| ms_bare(r.side_latency.p99),
    },
];

/// The per-phase table with the compact layout's columns, as many of the optional ones as fit.
fn compact_table(rows: &[Row], width: usize) -> String {
    let most = COMPACT.iter().map(|c| c.optional).max().unwrap_or(0);
    let build = |shown: u8| {
        let columns: Vec<&Column> = COMPACT.iter().filter(|c| c.optional <= shown).collect();
        let mut table = new_table(columns.iter().map(|c| c.header).collect());
        for r in rows {
            table.add_row(columns.iter().map(|c| (c.cell)(r)).collect::<Vec<_>>());
        }
        align_right(
            &mut table,
            columns
                .iter()
                .enumerate()
                .filter(|(_, c)| c.right)
                .map(|(i, _)| i),
        );
        table
    };
    for shown in (1..=most).rev() {
        let text = build(shown).to_string();
        if widest(&text) <= width {
            return text;
        }
    }
    fitted(&mut build(0), width)
}

/// The compact layout's lines under its table: per phase and lane, why calls were not
/// answered fresh, and the breaker's transitions.
fn details(rows: &[Row], width: usize) -> String {
    let phase_width = PhaseKind::ALL
        .iter()
        .map(|p| p.name().len())
        .max()
        .unwrap_or(0);
    let lane_width = short_lane("unprotected").len();
    let hang = " ".repeat(2 + phase_width + 2 + lane_width + 2);
    let mut lines = Vec::new();
    let mut last_phase = None;
    for r in rows {
        let mut parts = Vec::new();
        if !r.causes.is_empty() {
            parts.push(causes_list(&r.causes).join(", "));
        }
        if !r.transitions.is_empty() {
            parts.push(format!(
                "breaker {}",
                transitions_list(&r.transitions).join(", ")
            ));
        }
        for (i, part) in parts.iter().enumerate() {
            let first = if i > 0 {
                hang.clone()
            } else {
                let phase = if last_phase == Some(r.phase) {
                    ""
                } else {
                    r.phase.name()
                };
                last_phase = Some(r.phase);
                format!(
                    "  {phase:<phase_width$}  {:<lane_width$}  ",
                    short_lane(r.lane)
                )
            };
            lines.push(wrap(part, width, &first, &hang));
        }
    }
    if lines.is_empty() {
        return String::new();
    }
    format!(
        "{}\n{}\n",
        wrap(
            "not answered fresh because (calls, by cause), and the protected lane's breaker \
             (its transitions, in s since the start):",
            width,
            "",
            ""
        ),
        lines.join("\n")
    )
}

/// The per-tenant table of the overloaded phase, in the per-phase table's `layout`.
pub fn tenant_table(rows: &[TenantRow], layout: Layout, width: usize) -> String {
    fitted(
        &mut new_tenant_table(rows, layout == Layout::Compact),
        width,
    )
}

fn new_tenant_table(rows: &[TenantRow], compact: bool) -> Table {
    let mut table = if compact {
        new_table(vec![
            "lane",
            "tenant",
            "calls",
            "fresh\n%",
            "p50\nms",
            "p99\nms",
            "not fresh\nbecause",
        ])
    } else {
        new_table(vec![
            "lane",
            "tenant",
            "calls",
            "fresh",
            "p50",
            "p99",
            "not fresh\nbecause",
        ])
    };
    for r in rows {
        table.add_row(if compact {
            vec![
                short_lane(r.lane).to_string(),
                r.tenant.to_string(),
                r.calls.to_string(),
                format!("{:.1}", r.fresh_pct()),
                ms_bare(r.latency.p50),
                ms_bare(r.latency.p99),
                causes_cell(&r.causes),
            ]
        } else {
            vec![
                r.lane.to_string(),
                r.tenant.to_string(),
                r.calls.to_string(),
                format!("{:.1}%", r.fresh_pct()),
                ms(r.latency.p50),
                ms(r.latency.p99),
                causes_cell(&r.causes),
            ]
        });
    }
    align_right(&mut table, 2..6);
    table
}

/// The checks, a line each with the details aligned if they all fit in `width`, else the
/// details under each name, indented further.
fn checks_text(checks: &[Check], width: usize) -> String {
    let name_width = checks.iter().map(|c| columns(&c.name)).max().unwrap_or(0);
    let one_line = checks
        .iter()
        .all(|c| 2 + 4 + 2 + name_width + 2 + columns(&c.detail) <= width);
    let mut out = String::new();
    for c in checks {
        let verdict = if c.pass { "PASS" } else { "FAIL" };
        if one_line {
            let _ = writeln!(out, "  {verdict}  {:<name_width$}  {}", c.name, c.detail);
        } else {
            let (name, detail) = (" ".repeat(8), " ".repeat(10));
            let _ = writeln!(
                out,
                "{}\n{}",
                wrap(&c.name, width, &format!("  {verdict}  "), &name),
                wrap(&c.detail, width, &detail, &detail)
            );
        }
    }
    out
}

/// Everything after the header, as text within `width` columns.
pub fn text(
    run: &Run,
    rows: &[Row],
    tenants: &[TenantRow],
    recovery: &Recovery,
    checks: &[Check],
    width: usize,
) -> String {
    let mut out = String::new();
    // One paragraph, wrapped, then a newline.
    let para = |out: &mut String, text: &str, first: &str, rest: &str| {
        let _ = writeln!(out, "{}", wrap(text, width, first, rest));
    };
    let (table, layout) = table(rows, width);
    let _ = writeln!(out, "{table}");
    match layout {
        Layout::Wide => {
            para(
                &mut out,
                "answered = fresh from the dependency + served by the fallback (the last good \
                 quote); latency counts every call, answered or not, from its scheduled send;",
                "",
                "",
            );
            para(
                &mut out,
                "dep. calls = requests (and, when down, connections) the lane's server \
                 received; ampl. = dep. calls / user calls; side = the healthy side service.",
                "",
                "",
            );
        }
        Layout::Compact => {
            out.push_str(&details(rows, width));
            para(
                &mut out,
                "answ. = answered: fresh from the dependency + served by the fallback (the last \
                 good quote); latency (p50, p99, max) counts every call, answered or not, from \
                 its scheduled send; dep. calls = requests (and, when down, connections) the \
                 lane's server received; ampl. = dep. calls / user calls; side = the healthy \
                 side service; unprot. and prot. = the unprotected and protected lanes.",
                "",
                "",
            );
        }
    }
    let _ = writeln!(out);
    para(
        &mut out,
        &format!(
            "overloaded, per tenant ({} floods; the protected lane limits each tenant on its \
             own, and serves a limited call the last good quote):",
            TENANTS[FLOODER]
        ),
        "",
        "",
    );
    let _ = writeln!(out, "{}", tenant_table(tenants, layout, width));
    let _ = writeln!(out);
    para(
        &mut out,
        &format!(
            "time to recovery (from the fault's end until every call is answered fresh again): \
             unprotected {:.2} s, protected {:.2} s",
            recovery.unprotected.as_secs_f64(),
            recovery.protected.as_secs_f64(),
        ),
        "",
        "",
    );
    if let Some(closed) = recovery.breaker_closed {
        para(
            &mut out,
            &format!(
                "the breaker waits out `open = {}s` before probing, then closes ({:.2} s after \
                 the fault's end); its fallback answers meanwhile",
                OPEN_WAIT.as_secs(),
                closed.as_secs_f64()
            ),
            "  ",
            "    ",
        );
    }
    for (lane, result) in [
        ("unprotected", &run.unprotected),
        ("protected", &run.protected),
    ] {
        if result.unfinished > 0 {
            para(
                &mut out,
                &format!(
                    "{lane}: {} calls still unfinished at the end were left out",
                    result.unfinished
                ),
                "  ",
                "    ",
            );
        }
    }
    let storm = &run.storm;
    let _ = writeln!(out);
    para(
        &mut out,
        &format!(
            "retry storm (virtual time: {} requests/s for {} s through three nested functions, \
             each #[retry(attempts = {})], the dependency down):",
            storm::RATE,
            storm::SECONDS,
            storm::ATTEMPTS,
        ),
        "",
        "",
    );
    para(
        &mut out,
        &format!(
            "without a budget: {} dependency calls, {:.2} per request",
            storm.without,
            storm.amplification_without(),
        ),
        "  ",
        "    ",
    );
    para(
        &mut out,
        &format!(
            "with {}: {} calls, {:.2} per request ({} retries refused)",
            storm::BUDGET,
            storm.with,
            storm.amplification_with(),
            storm.refused,
        ),
        "  ",
        "    ",
    );
    tail_text(&mut out, &run.tail, width);
    let _ = writeln!(out);
    para(
        &mut out,
        &format!(
            "the cache's effect (virtual time: {} calls/s over {} products, {} s a phase, both \
             under {}; the second with {} on top):",
            cached::RATE,
            cached::SKUS,
            cached::PHASE_SECONDS,
            cached::BREAKER,
            cached::CACHE,
        ),
        "",
        "",
    );
    let _ = writeln!(out, "{}", cached_table(&run.cached, width));
    let _ = writeln!(out, "\nchecks:");
    out.push_str(&checks_text(checks, width));
    let passed = checks.iter().filter(|c| c.pass).count();
    para(
        &mut out,
        &format!(
            "{passed} of {} checks passed in {:.1} s. Seed {} drew script {:016x}: the same \
             seed sends the same arrivals and faults, run after run.",
            checks.len(),
            run.wall.as_secs_f64(),
            run.script.seed,
            run.script.digest(),
        ),
        "",
        "",
    );
    out
}

/// The cache's phases: calls, answered and dependency hits, without and with it.
fn cached_table(c: &Cached, width: usize) -> String {
    let mut t = new_table(vec!["phase", "lane", "calls", "answered", "dep. calls"]);
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
    align_right(&mut t, 2..5);
    fitted(&mut t, width)
}

/// A JSON string literal.
/// The latency-driven policies' part of the text report.
fn tail_text(out: &mut String, t: &Tail, width: usize) {
    let para = |out: &mut String, text: &str, first: &str, rest: &str| {
        let _ = writeln!(out, "{}", wrap(text, width, first, rest));
    };
    let _ = writeln!(out);
    para(
        out,
        &format!(
            "latency-driven policies (virtual time): {} calls to a dependency whose median is \
             10 ms and whose slow 5% take 1 s:",
            tail::CALLS
        ),
        "",
        "",
    );
    let q =
        |q: &tail::Quantiles| format!("p50 {} ms, p99 {} ms, p99.9 {} ms", q.p50, q.p99, q.p999);
    para(
        out,
        &format!("without a hedge: {}", q(&t.plain)),
        "  ",
        "    ",
    );
    para(
        out,
        &format!(
            "with {}: {}; {} hedges, {:.1}% more calls to the dependency",
            tail::HEDGE,
            q(&t.hedged),
            t.hedges,
            t.extra_pct()
        ),
        "  ",
        "    ",
    );
    let (top, bottom, back) = t.limit_summary();
    para(
        out,
        &format!(
            "{}, {} callers, the dependency at 100 ms, then 200 ms, then 100 ms again: the \
             limit went to {top}, fell to {bottom}, and was back at 90% after {} windows; by \
             window:",
            tail::ADAPTIVE,
            tail::CALLERS,
            back.map_or("more than 15".to_string(), |w| w.to_string()),
        ),
        "  ",
        "    ",
    );
    for ((name, latency, _), limits) in tail::PHASES.iter().zip(&t.limits) {
        let shown: Vec<String> = limits.iter().map(u32::to_string).collect();
        para(
            out,
            &format!("{name} ({latency} ms): {}", shown.join(" ")),
            "    ",
            "      ",
        );
    }
}

fn tail_json(t: &Tail) -> String {
    let q = |q: &tail::Quantiles| {
        format!(
            "{{\"p50_ms\":{},\"p99_ms\":{},\"p999_ms\":{}}}",
            q.p50, q.p99, q.p999
        )
    };
    let limits: Vec<String> = t
        .limits
        .iter()
        .map(|l| {
            let shown: Vec<String> = l.iter().map(u32::to_string).collect();
            format!("[{}]", shown.join(","))
        })
        .collect();
    format!(
        "{{\"calls\":{},\"unhedged\":{},\"hedged\":{},\"hedges\":{},\"extra_pct\":{:.2},\
         \"adaptive_limits\":[{}]}}",
        tail::CALLS,
        q(&t.plain),
        q(&t.hedged),
        t.hedges,
        t.extra_pct(),
        limits.join(","),
    )
}

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
         \"dependency_calls_with_budget\":{},\"refused\":{}}},\"cache\":{},\"tail\":{},\"checks\":[",
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
        tail_json(&run.tail),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cached::Figures;

    /// A run with every phase, lane and cause, long breaker histories, and latencies up to
    /// seconds: what the widest real run could print.
    fn run() -> Run {
        let script = Script::new(42, true);
        let causes = [
            Cause::CircuitOpen,
            Cause::BulkheadFull,
            Cause::RateLimited,
            Cause::TimedOut,
            Cause::Unavailable,
            Cause::BadAnswer,
            Cause::Transport,
            Cause::CallerFull,
        ];
        let lane = |protected: bool| {
            let mut records = Vec::new();
            for phase in &script.phases {
                for i in 0..1_200u64 {
                    let at = phase.start + (phase.end - phase.start) * (i as u32) / 1_200;
                    let outcome = match i % 10 {
                        0..=5 => Outcome::Fresh,
                        6 | 7 if protected => Outcome::Fallback(causes[i as usize % 8]),
                        _ => Outcome::Failed(causes[i as usize % 8]),
                    };
                    records.push(Record {
                        at,
                        endpoint: if i % 5 == 0 {
                            Endpoint::Side
                        } else {
                            Endpoint::Dependency
                        },
                        tenant: i as usize % TENANTS.len(),
                        latency: Duration::from_micros(1_000 + i * i * 4),
                        outcome,
                    });
                }
            }
            LaneResult {
                records,
                dependency_calls: vec![12_345; script.phases.len()],
                unfinished: 3,
            }
        };
        let transitions = (0..60)
            .map(|i| Transition {
                at: Duration::from_millis(250 * i),
                to: ["open", "half_open", "closed"][i as usize % 3].to_string(),
            })
            .collect();
        let figures = Figures {
            calls: 1_000,
            answered: 973,
            dependency_hits: 1_000,
        };
        Run {
            script: script.clone(),
            quick: true,
            unprotected: lane(false),
            protected: lane(true),
            transitions,
            storm: Storm {
                requests: 10_000,
                without: 270_000,
                with: 12_200,
                refused: 29_957,
            },
            cached: Cached {
                uncached: [figures; 3],
                cached: [figures; 3],
            },
            tail: Tail {
                plain: tail::Quantiles {
                    p50: 10,
                    p99: 1000,
                    p999: 1000,
                },
                hedged: tail::Quantiles {
                    p50: 10,
                    p99: 60,
                    p999: 1000,
                },
                hedges: 101,
                hedged_dependency_calls: 2_101,
                limits: vec![vec![20, 40, 80, 100], vec![95, 91, 42], vec![43, 87, 100]],
            },
            wall: Duration::from_secs(20),
        }
    }

    fn report(run: &Run, width: usize) -> String {
        let rows = rows(run);
        let tenants = tenant_rows(run);
        let recovery = recovery(run);
        let mut checks = checks(&rows, &tenants, &recovery);
        checks.push(run.storm.check());
        checks.push(run.cached.check());
        checks.extend(run.tail.checks());
        text(run, &rows, &tenants, &recovery, &checks, width)
    }

    #[test]
    fn every_line_fits_the_width() {
        let run = run();
        for width in [width::MIN, 60, 80, 90, 100, 119, 120, 150, 160, 200, 300] {
            let text = report(&run, width);
            for line in text.lines() {
                assert!(columns(line) <= width, "{width}: {line}\n{text}");
            }
        }
    }

    #[test]
    fn the_wide_layout_from_120_columns_if_it_fits() {
        let run = run();
        let rows = rows(&run);
        let (wide, layout) = table(&rows, 200);
        assert_eq!(layout, Layout::Wide);
        assert!(wide.contains("not fresh") && wide.contains("breaker"));
        for width in [80, 100, 119, 120, widest(&wide) - 1] {
            assert_eq!(table(&rows, width).1, Layout::Compact, "{width}");
        }
        assert_eq!(table(&rows, widest(&wide)).1, Layout::Wide);
    }

    #[test]
    fn the_compact_layout_keeps_every_phase_cause_and_transition() {
        let run = run();
        let rows = rows(&run);
        let text = report(&run, 80);
        for phase in PhaseKind::ALL {
            assert!(text.contains(phase.name()), "{}", phase.name());
        }
        for r in &rows {
            for line in causes_list(&r.causes) {
                let words: Vec<&str> = text.split_whitespace().collect();
                assert!(words.join(" ").contains(&line), "{line}");
            }
        }
        assert!(text.contains("breaker") && text.contains("more"));
    }

    #[test]
    fn the_compact_table_shows_the_optional_columns_that_fit() {
        let run = run();
        let rows = rows(&run);
        let full = compact_table(&rows, 300);
        assert!(full.contains("side") && full.contains("max") && full.contains("fall-"));
        let narrow = compact_table(&rows, widest(&full) - 1);
        assert!(widest(&narrow) < widest(&full));
        assert!(narrow.contains("max") && narrow.contains("fall-"));
    }
}
