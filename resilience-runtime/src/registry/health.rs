//! Health: up, degraded or down, from the circuit breakers' states, in the shape a readiness
//! probe needs.

use std::fmt;

use crate::State;

use super::Policy;
use crate::describe::Concern;

/// The program's health, from its circuit breakers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Status {
    /// Every breaker is closed (or switched to `disabled` or `metrics_only` by hand: calls pass).
    Up,
    /// Some breaker is open, forced open or half-open: a dependency is failing, and the calls
    /// that need it fail fast or fall back.
    Degraded,
    /// A breaker declared `critical` is open or forced open: the program cannot do its job.
    Down,
}

impl Status {
    /// `up`, `degraded`, `down`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Status::Up => "up",
            Status::Degraded => "degraded",
            Status::Down => "down",
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why the program is not up: one breaker that is not closed.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Reason {
    /// The breaker's registry name.
    pub policy: String,
    /// Its state.
    pub state: State,
    /// Whether it is declared `critical`.
    pub critical: bool,
    /// What this breaker makes of the health: degraded or down.
    pub status: Status,
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let critical = if self.critical { "critical " } else { "" };
        write!(
            f,
            "{critical}circuit breaker `{}` is {}",
            self.policy, self.state
        )
    }
}

/// The answer of [`registry::health`](super::health): up, degraded or down, with the reasons.
///
/// For a readiness probe: [`is_ready`](Self::is_ready) (up or degraded: the program serves,
/// maybe from fallbacks), [`http_status`](Self::http_status) (200 or 503) and
/// [`to_json`](Self::to_json) for the body. `Display` gives one line:
/// `degraded: circuit breaker `payments` is open`.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Health {
    /// The worst status of any breaker.
    pub status: Status,
    /// Every breaker that is not closed, by name.
    pub reasons: Vec<Reason>,
}

impl Health {
    pub(crate) fn of<'a>(entries: impl Iterator<Item = (&'a str, Policy)>) -> Self {
        let mut reasons = Vec::new();
        for (name, policy) in entries {
            let Some(Concern { state, critical }) = policy.describe().health() else {
                continue;
            };
            let status = match state {
                State::Open | State::ForcedOpen if critical => Status::Down,
                State::Open | State::ForcedOpen | State::HalfOpen => Status::Degraded,
                _ => continue,
            };
            reasons.push(Reason {
                policy: name.to_owned(),
                state,
                critical,
                status,
            });
        }
        let status = reasons.iter().map(|r| r.status).max().unwrap_or(Status::Up);
        Health { status, reasons }
    }

    /// Whether every breaker is closed.
    pub fn is_up(&self) -> bool {
        self.status == Status::Up
    }

    /// Whether the program should receive traffic: up or degraded.
    pub fn is_ready(&self) -> bool {
        self.status != Status::Down
    }

    /// The HTTP status a readiness endpoint answers: 200 when ready, 503 when down.
    pub fn http_status(&self) -> u16 {
        if self.is_ready() { 200 } else { 503 }
    }

    /// The body of a health endpoint:
    /// `{"status":"degraded","reasons":[{"policy":"payments","state":"open","critical":false}]}`.
    pub fn to_json(&self) -> String {
        let reasons: Vec<String> = self
            .reasons
            .iter()
            .map(|r| {
                format!(
                    r#"{{"policy":"{}","state":"{}","critical":{}}}"#,
                    json_escape(&r.policy),
                    r.state,
                    r.critical
                )
            })
            .collect();
        format!(
            r#"{{"status":"{}","reasons":[{}]}}"#,
            self.status,
            reasons.join(",")
        )
    }
}

impl fmt::Display for Health {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.status)?;
        for (i, reason) in self.reasons.iter().enumerate() {
            f.write_str(if i == 0 { ": " } else { "; " })?;
            write!(f, "{reason}")?;
        }
        Ok(())
    }
}

fn json_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out
}
