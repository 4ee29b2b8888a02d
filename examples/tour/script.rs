//! The seeded fault script: the phases, the open-loop arrival schedule, and the fault draws.
//!
//! Everything random in the tour comes from [`Rng`] seeded by `--seed`, so the same seed gives
//! both lanes, and every run, the same arrivals and the same faults.

use std::time::Duration;

/// Calls per second to the dependency outside the overloaded phase.
pub const DEPENDENCY_RATE: f64 = 200.0;
/// Calls per second to the healthy side service, in every phase.
pub const SIDE_RATE: f64 = 50.0;
/// How many times the dependency's arrival rate the overloaded phase brings: the extra calls
/// all come from one tenant, [`FLOODER`], flooding.
pub const OVERLOAD_FACTOR: f64 = 3.0;
/// The tenants whose users call the dependency, each an equal share of [`DEPENDENCY_RATE`].
pub const TENANTS: [&str; 3] = ["tenant-a", "tenant-b", "tenant-c"];
/// The tenant that floods in the overloaded phase (an index into [`TENANTS`]).
pub const FLOODER: usize = 0;
/// The dependency's workers, and the work each call takes on one: 4 x 10 ms = 400 calls/s.
pub const WORKERS: usize = 4;
/// See [`WORKERS`].
pub const WORK: Duration = Duration::from_millis(10);
/// Slow phase: latency added to every call, drawn in this range.
pub const SLOW_ADDED_MS: (u64, u64) = (20, 60);
/// Slow phase: the share of calls that are very slow, and how slow.
pub const VERY_SLOW_SHARE: f64 = 0.05;
/// See [`VERY_SLOW_SHARE`].
pub const VERY_SLOW: Duration = Duration::from_secs(2);
/// Errors phase: the share of calls answered 503.
pub const ERROR_SHARE: f64 = 0.20;

/// splitmix64 (Steele, Lea and Flood, 2014): one `u64` of state, statistically good enough for
/// arrivals and fault draws, and small enough to read. No `rand` crate needed for that.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)`, from the top 53 bits.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// An exponentially distributed gap for a Poisson process of `rate` per second.
    fn gap(&mut self, rate: f64) -> f64 {
        -(1.0 - self.unit()).ln() / rate
    }

    /// Uniform in `lo..=hi`.
    pub fn between(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next_u64() % (hi - lo + 1)
    }
}

/// What the dependency does during a phase.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PhaseKind {
    Healthy,
    Slow,
    Errors,
    Overloaded,
    Down,
    Hung,
    Recovered,
}

impl PhaseKind {
    pub const ALL: [PhaseKind; 7] = [
        PhaseKind::Healthy,
        PhaseKind::Slow,
        PhaseKind::Errors,
        PhaseKind::Overloaded,
        PhaseKind::Down,
        PhaseKind::Hung,
        PhaseKind::Recovered,
    ];

    pub fn name(self) -> &'static str {
        match self {
            PhaseKind::Healthy => "healthy",
            PhaseKind::Slow => "slow",
            PhaseKind::Errors => "errors",
            PhaseKind::Overloaded => "overloaded",
            PhaseKind::Down => "down",
            PhaseKind::Hung => "hung",
            PhaseKind::Recovered => "recovered",
        }
    }

    /// Seconds of the full tour; `--quick` halves them.
    fn seconds(self) -> f64 {
        match self {
            PhaseKind::Healthy | PhaseKind::Down => 5.0,
            _ => 6.0,
        }
    }

    /// What the dependency does, for the header.
    pub fn describe(self) -> String {
        match self {
            PhaseKind::Healthy | PhaseKind::Recovered => "answers".into(),
            PhaseKind::Slow => format!(
                "+{}-{} ms, {:.0}% take {} s",
                SLOW_ADDED_MS.0,
                SLOW_ADDED_MS.1,
                VERY_SLOW_SHARE * 100.0,
                VERY_SLOW.as_secs()
            ),
            PhaseKind::Errors => format!("{:.0}% 503", ERROR_SHARE * 100.0),
            PhaseKind::Overloaded => format!(
                "{} floods: {:.0} calls/s in all",
                TENANTS[FLOODER],
                DEPENDENCY_RATE * OVERLOAD_FACTOR
            ),
            PhaseKind::Down => "connections reset".into(),
            PhaseKind::Hung => "accepts, never answers".into(),
        }
    }
}

/// One phase of the script, in time since the tour's start.
#[derive(Clone, Copy, Debug)]
pub struct Phase {
    pub kind: PhaseKind,
    pub start: Duration,
    pub end: Duration,
}

/// Where a call goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Endpoint {
    /// The dependency under faults.
    Dependency,
    /// The healthy side service that shares the caller's capacity.
    Side,
}

/// One scheduled call: when it is due, since the tour's start, where it goes, and for which
/// tenant (an index into [`TENANTS`]; 0 for the side service, which has no tenants).
#[derive(Clone, Copy, Debug)]
pub struct Arrival {
    pub at: Duration,
    pub endpoint: Endpoint,
    pub tenant: usize,
}

/// What the dependency does with one call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Answer 200 after the work, plus this much added latency.
    Answer(Duration),
    /// Answer 503 after the work.
    Unavailable,
}

/// The whole script of a run.
#[derive(Clone, Debug)]
pub struct Script {
    pub seed: u64,
    pub phases: Vec<Phase>,
    pub arrivals: Vec<Arrival>,
}

impl Script {
    /// The script for `seed`; `quick` halves every phase.
    pub fn new(seed: u64, quick: bool) -> Script {
        let scale = if quick { 0.5 } else { 1.0 };
        let mut phases = Vec::new();
        let mut t = 0.0;
        for kind in PhaseKind::ALL {
            let len = kind.seconds() * scale;
            phases.push(Phase {
                kind,
                start: Duration::from_secs_f64(t),
                end: Duration::from_secs_f64(t + len),
            });
            t += len;
        }
        let mut script = Script {
            seed,
            phases,
            arrivals: Vec::new(),
        };
        script.arrivals = script.schedule(&mut Rng::new(seed));
        script
    }

    /// Open-loop arrivals: a Poisson process per tenant of the dependency and one for the side
    /// service, merged in time order. The rate depends on the phase only, never on how the
    /// calls fare: in the overloaded phase the flooding tenant brings every extra call.
    fn schedule(&self, rng: &mut Rng) -> Vec<Arrival> {
        let end = self.end().as_secs_f64();
        let share = DEPENDENCY_RATE / TENANTS.len() as f64;
        let flood = DEPENDENCY_RATE * (OVERLOAD_FACTOR - 1.0);
        let mut arrivals = Vec::new();
        let streams = (0..TENANTS.len())
            .map(|tenant| (Endpoint::Dependency, tenant))
            .chain([(Endpoint::Side, 0)]);
        for (endpoint, tenant) in streams {
            let mut t = 0.0;
            loop {
                let phase = self.phase_at(Duration::from_secs_f64(t)).kind;
                let rate = match endpoint {
                    Endpoint::Side => SIDE_RATE,
                    Endpoint::Dependency if tenant == FLOODER && phase == PhaseKind::Overloaded => {
                        share + flood
                    }
                    Endpoint::Dependency => share,
                };
                t += rng.gap(rate);
                if t >= end {
                    break;
                }
                arrivals.push(Arrival {
                    at: Duration::from_secs_f64(t),
                    endpoint,
                    tenant,
                });
            }
        }
        arrivals.sort_by_key(|a| a.at);
        arrivals
    }

    /// The end of the last phase.
    pub fn end(&self) -> Duration {
        self.phases.last().map_or(Duration::ZERO, |p| p.end)
    }

    /// The phase at `t` since the start (the last one after the end).
    pub fn phase_at(&self, t: Duration) -> Phase {
        let i = self.phase_index(t);
        self.phases[i]
    }

    /// The index of the phase at `t`.
    pub fn phase_index(&self, t: Duration) -> usize {
        self.phases
            .iter()
            .position(|p| t < p.end)
            .unwrap_or(self.phases.len() - 1)
    }

    pub fn phase(&self, kind: PhaseKind) -> Phase {
        self.phases[PhaseKind::ALL
            .iter()
            .position(|k| *k == kind)
            .unwrap_or_default()]
    }

    /// A fingerprint of the arrivals and of the first fault draws, so a reader can see that the
    /// same seed gives the same script (FNV-1a).
    pub fn digest(&self) -> u64 {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        let mut eat = |x: u64| {
            for b in x.to_le_bytes() {
                h ^= u64::from(b);
                h = h.wrapping_mul(0x0000_0100_0000_01B3);
            }
        };
        for a in &self.arrivals {
            eat(a.at.as_nanos() as u64);
            eat(a.endpoint as u64);
            eat(a.tenant as u64);
        }
        let mut faults = FaultDraws::new(self.seed);
        for kind in PhaseKind::ALL {
            for _ in 0..64 {
                eat(match faults.draw(kind) {
                    Fault::Answer(d) => d.as_nanos() as u64,
                    Fault::Unavailable => u64::MAX,
                });
            }
        }
        h
    }
}

/// The dependency's per-call fault draws, one stream per server, seeded like the arrivals.
#[derive(Clone, Debug)]
pub struct FaultDraws(Rng);

impl FaultDraws {
    pub fn new(seed: u64) -> Self {
        // A different stream from the arrivals', from the same seed.
        FaultDraws(Rng::new(seed ^ 0x5EED_FA17_0000_0001))
    }

    /// What the dependency does with its next call in a phase where it answers.
    pub fn draw(&mut self, phase: PhaseKind) -> Fault {
        match phase {
            PhaseKind::Slow => {
                if self.0.unit() < VERY_SLOW_SHARE {
                    Fault::Answer(VERY_SLOW)
                } else {
                    let ms = self.0.between(SLOW_ADDED_MS.0, SLOW_ADDED_MS.1);
                    Fault::Answer(Duration::from_millis(ms))
                }
            }
            PhaseKind::Errors if self.0.unit() < ERROR_SHARE => Fault::Unavailable,
            _ => Fault::Answer(Duration::ZERO),
        }
    }
}
