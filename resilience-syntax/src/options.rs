//! The options of every attribute, in one table: name, value, range, default, example, and
//! whether it is a setting (held by a policy, changed by key) or given where a policy is used.
//!
//! Three readers take the same values: the macros (`#[circuit_breaker(threshold = 50%)]`, from
//! tokens), `registry::set` (`set("payments", "threshold", "50%")`) and the configuration file
//! (`threshold = "50%"`). Each reads this table for the options a kind has, the range of a
//! count, the example an error shows and the limits; a test walks the table and checks that
//! the three accept and refuse the same values.
//!
//! At run time a setting also takes the word that turns an optional setting off again
//! ([`OptionSpec::off`]), which an attribute says by leaving the option out.

/// What an option's value is, as the attributes write it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ValueKind {
    /// A whole number, without a unit: `10`.
    Count,
    /// A percentage with its `%`, in `(0, 100]`: `50%`, `12.5%`.
    Percent,
    /// A duration with its unit: `500ms`, `30s`, `2m`, `1h`.
    Duration,
    /// `true` or `false`.
    Bool,
    /// A count per period: `100/s`, `6000/m`.
    Rate,
    /// A count of calls (`100`) or a duration (`60s`).
    Window,
    /// A duration, or `exponential(5s, max = 5m)`.
    Open,
    /// `fixed(..)`, `linear(.., max = ..)` or `exponential(.., max = ..)`.
    Backoff,
    /// `none`, `full`, `equal` or `decorrelated`.
    Jitter,
    /// A string literal: `"payments"`.
    Text,
    /// A path or closure called with the function's own values.
    Callable,
    /// A path to the `resilience` crate.
    CratePath,
    /// A Rust expression over the function's parameters, up to the next top-level comma:
    /// `key = tenant.id`.
    Expression,
    /// The path of a shared retry budget (`budget = API_RETRIES`), or one written in place
    /// (`budget = retry_budget(ratio = 20%)`).
    Budget,
    /// The path of a shared toggle: `degraded = RECOMMENDATIONS_OFF`.
    Toggle,
    /// Two durations with their units, the least first: `200ms..2s` (a single duration is
    /// the range of one).
    DurationRange,
    /// An adaptive limit's algorithm: `gradient2` or `aimd`.
    Algorithm,
    /// A duration (`50ms`), or a percentile of recent calls' latencies from `p50` to `p99.9`
    /// (`p95`): a hedge's `after`.
    Delay,
}

/// The kinds, by the attribute's name, then `retry_budget` and `toggle`, which no attribute is
/// named after: they are declared in `policy!` (a budget also written in place as a retry's
/// `budget`) and named by another kind's option.
pub const KINDS: &[&str] = &[
    "circuit_breaker",
    "retry",
    "timeout",
    "bulkhead",
    "rate_limiter",
    "fallback",
    "chaos",
    "idempotent",
    "cache",
    "hedge",
    "retry_budget",
    "toggle",
];

/// One option of one attribute.
#[derive(Clone, Copy, Debug)]
pub struct OptionSpec {
    /// The attribute that takes it (`circuit_breaker`), or `*` for every kind but `fallback`.
    pub kind: &'static str,
    /// Its name (`threshold`); a positional value has the name it takes as a key
    /// (`duration`, `rate`).
    pub name: &'static str,
    /// Whether it is written without its name in the attribute: `#[timeout(2s)]`.
    pub positional: bool,
    /// What its value is.
    pub value: ValueKind,
    /// For a count: the smallest it may be. For a duration (and a window's, an open wait's):
    /// 1 when it must be more than zero, 0 when zero is allowed.
    pub min: u64,
    /// For a count: the largest it may be (`u32::MAX` when only the type bounds it).
    pub max: u64,
    /// The default, as an attribute writes it, or what decides it when it follows another
    /// option; `None` when leaving it out means "not used".
    pub default: Option<&'static str>,
    /// An example, as an attribute writes it: what an error message shows.
    pub example: &'static str,
    /// Whether a policy holds it (and the registry and configuration change it by key).
    /// Options that are not settings are given where the policy is used: they depend on the
    /// annotated function (`record`, `when`, `fallback`), or name the policy or the crate.
    pub setting: bool,
    /// The word that turns this optional setting off at run time (`slow = "off"`), where there
    /// is one.
    pub off: Option<&'static str>,
    /// Whether it is an option of a keyed family (`max_keys`, `idle`): given beside `key`, or
    /// where a `Keyed*` policy is declared, and nowhere else.
    pub keyed: bool,
    /// Whether only the run time sets it (by key, or in the configuration file), never an
    /// attribute: chaos's `enabled`.
    pub run_time_only: bool,
}

impl OptionSpec {
    /// Whether it is given where a shared policy is used, not where it is declared.
    pub const fn use_site_only(&self) -> bool {
        !self.setting && !self.keyed && !matches!(self.value, ValueKind::Text | ValueKind::Budget)
    }
}

/// The most calls a count window holds.
pub const MAX_WINDOW_CALLS: u32 = 1000;
/// The most probe calls a half-open breaker admits.
pub const MAX_HALF_OPEN: u32 = 1000;
/// The most slots a bulkhead has (its state word holds 20 bits of them).
pub const MAX_BULKHEAD_SLOTS: u32 = (1 << 20) - 1;

/// The shortest window of a retry budget, in nanoseconds (1s).
pub const MIN_BUDGET_WINDOW_NANOS: u64 = 1_000_000_000;
/// The longest window of a retry budget, in nanoseconds (1h).
pub const MAX_BUDGET_WINDOW_NANOS: u64 = 3_600_000_000_000;

/// The most hedges one call starts.
pub const MAX_HEDGES: u32 = 10;

/// How many children a keyed family holds at most, unless told otherwise.
pub const DEFAULT_MAX_KEYS: u64 = 10_000;

/// The longest delay of an exponential backoff written without `max`, in nanoseconds (10s),
/// or its first delay if that is longer.
pub const DEFAULT_BACKOFF_MAX_NANOS: u64 = 10_000_000_000;

const fn spec(kind: &'static str, name: &'static str, value: ValueKind) -> OptionSpec {
    OptionSpec {
        kind,
        name,
        positional: false,
        value,
        min: 0,
        max: u32::MAX as u64,
        default: None,
        example: "",
        setting: true,
        off: None,
        keyed: false,
        run_time_only: false,
    }
}

impl OptionSpec {
    const fn example(mut self, example: &'static str) -> Self {
        self.example = example;
        self
    }
    const fn default(mut self, default: &'static str) -> Self {
        self.default = Some(default);
        self
    }
    const fn range(mut self, min: u64, max: u64) -> Self {
        self.min = min;
        self.max = max;
        self
    }
    const fn at_least(mut self, min: u64) -> Self {
        self.min = min;
        self
    }
    const fn positional(mut self) -> Self {
        self.positional = true;
        self
    }
    const fn not_a_setting(mut self) -> Self {
        self.setting = false;
        self
    }
    /// An option of a keyed family: not a setting of the kind's own policy.
    const fn of_a_keyed_family(mut self) -> Self {
        self.keyed = true;
        self.setting = false;
        self
    }
    const fn at_run_time_only(mut self) -> Self {
        self.run_time_only = true;
        self
    }
    const fn turned_off_by(mut self, word: &'static str) -> Self {
        self.off = Some(word);
        self
    }
}

use ValueKind::*;

/// Every option of every attribute, by kind, settings first, in the order a snapshot lists
/// them.
pub const OPTIONS: &[OptionSpec] = &[
    // #[circuit_breaker]
    spec("circuit_breaker", "threshold", Percent)
        .default("50%")
        .example("threshold = 50%"),
    spec("circuit_breaker", "failures", Count)
        .at_least(1)
        .example("failures = 5"),
    spec("circuit_breaker", "window", Window)
        .range(1, MAX_WINDOW_CALLS as u64)
        .default("100")
        .example("window = 100 (calls) or window = 60s"),
    spec("circuit_breaker", "min_calls", Count)
        .at_least(1)
        .default("20, or a smaller count window's size")
        .example("min_calls = 20"),
    spec("circuit_breaker", "slow", Duration)
        .at_least(1)
        .example("slow = 2s")
        .turned_off_by("off"),
    spec("circuit_breaker", "slow_threshold", Percent)
        .default("the failure threshold (50% with failures)")
        .example("slow_threshold = 80%"),
    spec("circuit_breaker", "open", Open)
        .at_least(1)
        .default("30s")
        .example("open = 30s or open = exponential(5s, max = 5m)"),
    spec("circuit_breaker", "half_open", Count)
        .range(1, MAX_HALF_OPEN as u64)
        .default("3")
        .example("half_open = 3"),
    spec("circuit_breaker", "critical", Bool)
        .default("false")
        .example("critical = true"),
    spec("circuit_breaker", "shared", Text)
        .not_a_setting()
        .example("shared = \"payments\""),
    spec("circuit_breaker", "quorum", Count)
        .range(1, 1000)
        .default("1")
        .not_a_setting()
        .example("quorum = 2"),
    spec("circuit_breaker", "record", Callable)
        .not_a_setting()
        .example("record = ApiError::is_failure"),
    spec("circuit_breaker", "ignore", Callable)
        .not_a_setting()
        .example("ignore = ApiError::is_not_found"),
    // #[retry]
    spec("retry", "attempts", Count)
        .at_least(1)
        .default("3")
        .example("attempts = 3"),
    spec("retry", "backoff", Backoff)
        .default("exponential(100ms, max = 10s)")
        .example("backoff = exponential(100ms, max = 2s)"),
    spec("retry", "jitter", Jitter)
        .default("full for exponential backoff, none for the others")
        .example("jitter = full"),
    spec("retry", "when", Callable)
        .not_a_setting()
        .example("when = ApiError::is_transient"),
    spec("retry", "when_ok", Callable)
        .not_a_setting()
        .example("when_ok = Job::is_pending"),
    spec("retry", "retry_after", Callable)
        .not_a_setting()
        .example("retry_after = ApiError::retry_after"),
    spec("retry", "retry_timeouts", Bool)
        .not_a_setting()
        .default("true")
        .example("retry_timeouts = false"),
    spec("retry", "budget", Budget)
        .not_a_setting()
        .example("budget = API_RETRIES or budget = retry_budget(ratio = 20%)"),
    // retry_budget(..): in `policy!`, or in place as a retry's `budget`.
    spec("retry_budget", "ratio", Percent)
        .default("20%")
        .example("ratio = 20%"),
    spec("retry_budget", "min", Rate)
        .default("10/s")
        .example("min = 10/s"),
    spec("retry_budget", "window", Duration)
        .range(MIN_BUDGET_WINDOW_NANOS, MAX_BUDGET_WINDOW_NANOS)
        .default("10s")
        .example("window = 10s (from 1s to 1h)"),
    // #[timeout]
    spec("timeout", "duration", Duration)
        .positional()
        .at_least(1)
        .example("#[timeout(2s)]"),
    // #[bulkhead]
    spec("bulkhead", "max", Count)
        .range(1, MAX_BULKHEAD_SLOTS as u64)
        .example("max = 10"),
    spec("bulkhead", "queue", Count)
        .default("0")
        .example("queue = 20"),
    spec("bulkhead", "wait", Duration)
        .at_least(1)
        .example("wait = 500ms")
        .turned_off_by("none"),
    spec("bulkhead", "adaptive", Algorithm)
        .example("adaptive = gradient2 or adaptive = aimd")
        .turned_off_by("off"),
    spec("bulkhead", "min", Count)
        .range(1, MAX_BULKHEAD_SLOTS as u64)
        .default("1, with adaptive")
        .example("min = 5"),
    spec("bulkhead", "initial", Count)
        .range(1, MAX_BULKHEAD_SLOTS as u64)
        .default("20 (within min..=max), with adaptive")
        .example("initial = 20"),
    // #[rate_limiter]
    spec("rate_limiter", "rate", Rate)
        .positional()
        .at_least(1)
        .example("#[rate_limiter(100/s)]"),
    spec("rate_limiter", "burst", Count)
        .at_least(1)
        .default("the rate's count")
        .example("burst = 10"),
    spec("rate_limiter", "wait", Duration)
        .default("0ms")
        .example("wait = 50ms"),
    spec("rate_limiter", "shared", Text)
        .not_a_setting()
        .example("shared = \"partner-api\""),
    // Keyed families: one policy per key (`key = tenant.id`).
    spec("circuit_breaker", "key", Expression)
        .not_a_setting()
        .example("key = tenant.id"),
    spec("circuit_breaker", "max_keys", Count)
        .at_least(1)
        .default("10000")
        .example("max_keys = 10_000")
        .of_a_keyed_family(),
    spec("circuit_breaker", "idle", Duration)
        .at_least(1)
        .default("10m")
        .example("idle = 10m")
        .of_a_keyed_family(),
    spec("bulkhead", "key", Expression)
        .not_a_setting()
        .example("key = tenant.id"),
    spec("bulkhead", "max_keys", Count)
        .at_least(1)
        .default("10000")
        .example("max_keys = 10_000")
        .of_a_keyed_family(),
    spec("rate_limiter", "key", Expression)
        .not_a_setting()
        .example("key = tenant.id"),
    spec("rate_limiter", "max_keys", Count)
        .at_least(1)
        .default("10000")
        .example("max_keys = 10_000")
        .of_a_keyed_family(),
    // #[chaos]: every injection off until a rate is given; the whole layer off until enabled
    // at run time.
    spec("chaos", "error", Percent)
        .example("error = 5%")
        .turned_off_by("off"),
    spec("chaos", "latency", Percent)
        .example("latency = 10%")
        .turned_off_by("off"),
    spec("chaos", "delay", DurationRange)
        .at_least(1)
        .default("none: latency needs it")
        .example("delay = 200ms..2s"),
    spec("chaos", "outcome", Percent)
        .example("outcome = 1%")
        .turned_off_by("off"),
    spec("chaos", "seed", Count)
        .default("0")
        .example("seed = 42"),
    spec("chaos", "enabled", Bool)
        .default("false")
        .example("enabled = true")
        .at_run_time_only(),
    spec("chaos", "error_with", Callable)
        .not_a_setting()
        .example("error_with = ApiError::injected"),
    spec("chaos", "outcome_with", Callable)
        .not_a_setting()
        .example("outcome_with = Quote::stale"),
    // #[idempotent]: the key of each call, how long its result serves duplicates, how many.
    spec("idempotent", "key", Expression)
        .not_a_setting()
        .example("key = req.idempotency_key"),
    spec("idempotent", "ttl", Duration)
        .at_least(1)
        .default("24h")
        .example("ttl = 24h"),
    spec("idempotent", "capacity", Count)
        .at_least(1)
        .default("10000")
        .example("capacity = 100_000"),
    // #[cache]: how long a value is fresh, stale, refreshed; the key; how many entries.
    spec("cache", "key", Expression)
        .not_a_setting()
        .default("one entry for every call")
        .example("key = sku"),
    spec("cache", "ttl", Duration)
        .at_least(1)
        .example("ttl = 30s"),
    spec("cache", "stale", Duration)
        .at_least(1)
        .example("stale = 5m")
        .turned_off_by("off"),
    spec("cache", "refresh", Duration)
        .at_least(1)
        .example("refresh = 25s")
        .turned_off_by("off"),
    spec("cache", "capacity", Count)
        .at_least(1)
        .default("10000")
        .example("capacity = 10_000"),
    // #[hedge]: when another attempt starts, how many at most, the budget they spend.
    spec("hedge", "after", Delay)
        .at_least(1)
        .example("after = 50ms or after = p95"),
    spec("hedge", "initial", Duration)
        .at_least(1)
        .default("100ms, with a percentile `after`")
        .example("initial = 100ms"),
    spec("hedge", "max", Count)
        .range(1, MAX_HEDGES as u64)
        .default("1")
        .example("max = 1"),
    spec("hedge", "budget", Budget)
        .not_a_setting()
        .example("budget = API_RETRIES or budget = retry_budget(ratio = 10%)"),
    // Every kind.
    spec("*", "name", Text)
        .not_a_setting()
        .example("name = \"payments\""),
    spec("*", "fallback", Callable)
        .not_a_setting()
        .example("fallback = cached_value"),
    spec("*", "crate", CratePath)
        .not_a_setting()
        .example("crate = ::resilience"),
    spec("*", "degraded", Toggle)
        .not_a_setting()
        .example("degraded = RECOMMENDATIONS_OFF"),
    // toggle(..): in `policy!`, named by a fallback's `degraded`.
    spec("toggle", "on", Bool)
        .default("false")
        .example("on = true"),
];

/// The options `kind` takes by name or position: its own, then those every kind takes
/// (`#[fallback]` takes only `crate`, its function being positional; a retry budget, `name`
/// and `crate`).
pub fn of(kind: &str) -> impl Iterator<Item = &'static OptionSpec> + '_ {
    OPTIONS.iter().filter(move |o| {
        o.kind == kind
            || (o.kind == "*"
                && match kind {
                    "fallback" => matches!(o.name, "crate" | "degraded"),
                    "retry_budget" | "toggle" => matches!(o.name, "name" | "crate"),
                    _ => true,
                })
    })
}

/// The option `name` of `kind`.
pub fn get(kind: &str, name: &str) -> Option<&'static OptionSpec> {
    of(kind).find(|o| o.name == name)
}

/// The settings of `kind`, by the keys `registry::set` and the configuration file take (a
/// positional value by its key), in the order a snapshot lists them.
pub fn settings(kind: &str) -> impl Iterator<Item = &'static str> + '_ {
    of(kind).filter(|o| o.setting).map(|o| o.name)
}

/// The example of option `name` (of whichever kind has it): what an error message shows.
pub fn example(name: &str) -> &'static str {
    OPTIONS
        .iter()
        .find(|o| o.name == name)
        .map_or("", |o| o.example)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_option_has_an_example_written_with_its_name() {
        for o in OPTIONS {
            assert!(
                o.example.contains(o.name) || o.positional,
                "{}: {}",
                o.name,
                o.example
            );
        }
    }

    #[test]
    fn no_kind_lists_an_option_twice_and_every_kind_is_known() {
        for kind in KINDS {
            let names: Vec<_> = of(kind).map(|o| o.name).collect();
            let mut sorted = names.clone();
            sorted.sort_unstable();
            sorted.dedup();
            assert_eq!(sorted.len(), names.len(), "{kind}");
        }
        for o in OPTIONS {
            assert!(o.kind == "*" || KINDS.contains(&o.kind), "{}", o.kind);
        }
    }

    #[test]
    fn the_settings_are_what_the_registry_takes_by_key() {
        assert_eq!(
            settings("circuit_breaker").collect::<Vec<_>>(),
            [
                "threshold",
                "failures",
                "window",
                "min_calls",
                "slow",
                "slow_threshold",
                "open",
                "half_open",
                "critical"
            ]
        );
        assert_eq!(settings("timeout").collect::<Vec<_>>(), ["duration"]);
        assert_eq!(
            settings("rate_limiter").collect::<Vec<_>>(),
            ["rate", "burst", "wait"]
        );
        assert_eq!(settings("fallback").count(), 0);
        assert_eq!(
            settings("retry_budget").collect::<Vec<_>>(),
            ["ratio", "min", "window"]
        );
        assert!(get("retry", "budget").is_some_and(|o| !o.use_site_only() && !o.setting));
        assert!(get("retry_budget", "fallback").is_none());
        assert!(get("fallback", "crate").is_some());
        assert!(get("fallback", "name").is_none());
        assert!(get("retry", "when").is_some_and(OptionSpec::use_site_only));
        assert!(get("retry", "name").is_some_and(|o| !o.use_site_only()));
    }
}
