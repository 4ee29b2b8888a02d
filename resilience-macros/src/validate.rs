//! Validation: turns the raw arguments of an attribute into its typed [`model`](crate::model),
//! collecting every error (serde-style) rather than stopping at the first, each spanned at the
//! token to fix, with a sentence saying what to write instead.

use std::collections::HashMap;

use proc_macro2::Span;
use syn::spanned::Spanned;
use syn::{Ident, LitStr, Path};

use resilience_syntax::duration::{self as units, unit_nanos};
use resilience_syntax::foreign;
use resilience_syntax::names::{BACKOFFS, JITTERS};
use resilience_syntax::options::{self, MAX_WINDOW_CALLS};
use resilience_syntax::percent::{self, Refused};
use resilience_syntax::suggest::edit_distance;

use crate::attr::{Arg, Args, Call, Value};
use crate::model::{
    Backoff, Callable, Config, Jitter, Kind, Layer, Nanos, Open, Rate, Spanned as S, Window,
};

/// Collects errors; turned into one `syn::Error` (shown as several) at the end.
#[derive(Default)]
pub struct Ctxt {
    errors: Vec<syn::Error>,
}

impl Ctxt {
    /// Records an error at `span`.
    pub fn error(&mut self, span: Span, message: impl std::fmt::Display) {
        self.errors.push(syn::Error::new(span, message));
    }

    /// Records an error already built.
    pub fn push(&mut self, error: syn::Error) {
        self.errors.push(error);
    }

    /// Whether nothing went wrong so far.
    pub fn is_ok(&self) -> bool {
        self.errors.is_empty()
    }

    /// All errors combined, if any.
    pub fn finish(self) -> Result<(), syn::Error> {
        let mut errors = self.errors.into_iter();
        match errors.next() {
            None => Ok(()),
            Some(mut first) => {
                first.extend(errors);
                Err(first)
            }
        }
    }
}

/// Where the arguments were written: on a function, or in a `policy!` declaration.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Site<'a> {
    /// `#[kind(...)]` on an `async fn`.
    Attribute,
    /// `policy! { static NAME: Type = kind(...); }`.
    Declaration(&'a Ident),
}

/// The options each attribute takes by name, from the option table
/// (`resilience_syntax::options`): its settings, then the options that depend on the annotated
/// function, then those every attribute takes.
fn options(kind: Kind) -> Vec<&'static str> {
    options::of(kind.attr_name())
        .filter(|o| !o.positional)
        .map(|o| o.name)
        .collect()
}

/// Whether `option` depends on the annotated function (its error type, its arguments), so it
/// is given where a shared policy is used, not where it is declared.
fn use_site_only(option: &str) -> bool {
    options::OPTIONS
        .iter()
        .any(|o| o.name == option && o.use_site_only())
}

/// An example of each option, from the option table, for messages that say what to write. A
/// timeout's duration, positional, is spoken of as `timeout`.
fn example(option: &str) -> &'static str {
    match option {
        "timeout" => options::example("duration"),
        _ => options::example(option),
    }
}

/// The range the option table gives a count option of `kind`: `n` if in it, else an error
/// saying the bound it crosses.
fn in_range(n: Option<S<u32>>, kind: Kind, key: &str, cx: &mut Ctxt) -> Option<S<u32>> {
    let Some(spec) = options::get(kind.attr_name(), key) else {
        return n;
    };
    let min = u32::try_from(spec.min).unwrap_or(u32::MAX);
    let n = at_least(n, min, key, cx)?;
    match u32::try_from(spec.max) {
        Ok(max) if max < u32::MAX => at_most(Some(n), max, key, cx),
        _ => Some(n),
    }
}

/// The candidate closest to `word`, if it is close enough to be a misspelling.
pub fn did_you_mean<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    let limit = (word.chars().count() / 3).clamp(1, 3);
    candidates
        .iter()
        .map(|c| (edit_distance(word, c), *c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

fn unknown_option(kind: Kind, name: &str) -> String {
    let opts = options(kind);
    if let Some(foreign) = foreign::lookup(kind.attr_name(), name) {
        return foreign.message();
    }
    match did_you_mean(name, &opts) {
        Some(s) => format!("unknown option '{name}'; did you mean '{s}'?"),
        None if kind == Kind::Fallback => {
            format!(
                "unknown option '{name}'; #[fallback] takes only the function to call: #[fallback(cached_value)]"
            )
        }
        None => format!(
            "unknown option '{name}' for #[{}]; its options are {}",
            kind.attr_name(),
            opts.join(", ")
        ),
    }
}

/// Validates the arguments of one attribute (or one `policy!` constructor) into a [`Layer`].
pub fn layer(kind: Kind, args: &Args, span: Span, site: Site, cx: &mut Ctxt) -> Layer {
    let mut layer = Layer {
        kind,
        shared: None,
        name: None,
        fallback: None,
        krate: None,
        config: match kind {
            Kind::CircuitBreaker => Config::CircuitBreaker(Default::default()),
            Kind::Retry => Config::Retry(Default::default()),
            Kind::Timeout => Config::Timeout(Default::default()),
            Kind::Bulkhead => Config::Bulkhead(Default::default()),
            Kind::RateLimiter => Config::RateLimiter(Default::default()),
            Kind::Fallback => Config::Fallback,
        },
    };
    let mut positional_seen = false;
    // An unknown option may be the required one misspelt: asking for it again would be a
    // second error, at the whole attribute, for one mistake.
    let mut unknown_seen = false;
    let mut seen: HashMap<String, Span> = HashMap::new();
    // Options given beside a shared policy's path that belong in its declaration.
    let mut numeric_beside_shared: Vec<(String, Span)> = Vec::new();

    for arg in &args.items {
        match arg {
            Arg::Positional(value) => {
                if positional_seen {
                    let message = match kind {
                        Kind::Timeout => "#[timeout] takes one duration: #[timeout(2s)]".to_owned(),
                        Kind::RateLimiter => "#[rate_limiter] takes one rate; give the other options by name: #[rate_limiter(100/s, burst = 10)]".to_owned(),
                        Kind::Fallback => "#[fallback] takes one function: #[fallback(cached_value)]".to_owned(),
                        _ => format!(
                            "#[{}] takes at most one value without a name, a shared policy; give options by name, as in {}",
                            kind.attr_name(),
                            options(kind).first().map(|o| example(o)).unwrap_or("name = value")
                        ),
                    };
                    cx.error(value.span(), message);
                    continue;
                }
                positional_seen = true;
                positional(&mut layer, value, site, cx);
            }
            Arg::Named { name, value } => {
                let key = name.to_string();
                if !options(kind).contains(&key.as_str()) {
                    let message = if kind == Kind::Timeout && key == "duration" {
                        "#[timeout] takes its duration without a name: #[timeout(2s)]".to_owned()
                    } else if kind == Kind::RateLimiter && key == "rate" {
                        "#[rate_limiter] takes its rate without a name: #[rate_limiter(100/s)]"
                            .to_owned()
                    } else if kind == Kind::Fallback && key == "fallback" {
                        "#[fallback] takes the function without a name: #[fallback(cached_value)]"
                            .to_owned()
                    } else {
                        unknown_option(kind, &key)
                    };
                    unknown_seen = true;
                    cx.error(name.span(), message);
                    continue;
                }
                if seen.contains_key(&key) {
                    cx.error(
                        name.span(),
                        format!("duplicate option '{key}'; give it once"),
                    );
                    continue;
                }
                seen.insert(key.clone(), name.span());
                if let Site::Declaration(decl) = site
                    && use_site_only(&key)
                    && key != "crate"
                {
                    cx.error(name.span(), format!(
                        "'{key}' depends on the function's error type, so it is given where {decl} is used: #[{}({decl}, {})]",
                        kind.attr_name(),
                        example(&key)
                    ));
                    continue;
                }
                if !use_site_only(&key) {
                    numeric_beside_shared.push((key.clone(), name.span()));
                }
                named(&mut layer, &key, value, cx);
            }
        }
    }

    if let Some(path) = &layer.shared {
        let shown = path_to_string(path);
        for (key, span) in &numeric_beside_shared {
            cx.error(*span, format!(
                "'{key}' cannot be set here: {shown} is a shared policy; configure {shown} where it is declared (resilience::policy!)"
            ));
        }
    } else {
        // A value that was given but wrong is already reported; do not ask for it again.
        if !positional_seen && !unknown_seen && !seen.contains_key("max") {
            required(&layer, span, site, cx);
        }
        combinations(&layer, cx);
    }
    layer
}

fn path_to_string(path: &Path) -> String {
    let mut s = String::new();
    if path.leading_colon.is_some() {
        s.push_str("::");
    }
    let segments: Vec<String> = path
        .segments
        .iter()
        .map(|seg| seg.ident.to_string())
        .collect();
    s.push_str(&segments.join("::"));
    s
}

/// A value written without a name.
fn positional(layer: &mut Layer, value: &Value, site: Site, cx: &mut Ctxt) {
    let kind = layer.kind;
    // A bare lowercase identifier close to an option is a misspelt option, not a policy.
    if let Some(ident) = value.as_ident() {
        let word = ident.to_string();
        let is_lowercase = word.chars().all(|c| !c.is_uppercase());
        if is_lowercase && kind != Kind::Fallback {
            if options(kind).contains(&word.as_str()) {
                cx.error(
                    ident.span(),
                    format!("'{word}' needs a value: {}", example(&word)),
                );
                return;
            }
            if let Some(s) = did_you_mean(&word, &options(kind)) {
                cx.error(
                    ident.span(),
                    format!("unknown option '{word}'; did you mean '{s}'?"),
                );
                return;
            }
        }
    }
    match (kind, value) {
        (Kind::Timeout, Value::Number(_)) => {
            if let Some(d) = positive(duration(value, "timeout", cx), "timeout", cx)
                && let Config::Timeout(t) = &mut layer.config
            {
                t.duration = Some(d);
            }
        }
        (Kind::RateLimiter, Value::Number(_)) => {
            if let Some(r) = rate(value, cx)
                && let Config::RateLimiter(rl) = &mut layer.config
            {
                rl.rate = Some(r);
            }
        }
        (Kind::Fallback, Value::Path(path)) => layer.fallback = Some(Callable::Path(path.clone())),
        (Kind::Fallback, Value::Closure(c)) => layer.fallback = Some(Callable::Closure(c.clone())),
        (_, Value::Path(path)) => match site {
            Site::Attribute => layer.shared = Some(path.clone()),
            Site::Declaration(decl) => cx.error(path.span(), format!(
                "{decl} is declared here, so it cannot name another policy; give its options, as in {}",
                declaration_example(kind)
            )),
        },
        (Kind::Fallback, other) => cx.error(other.span(), "#[fallback] takes the function to call: #[fallback(cached_value)]"),
        (_, other) => {
            let hint = match kind {
                Kind::Bulkhead => "max = 10",
                Kind::Retry => "attempts = 3",
                Kind::CircuitBreaker => "threshold = 50%",
                _ => "name = value",
            };
            cx.error(other.span(), format!(
                "#[{}] takes its options by name, as in {hint}, or the path of a shared policy",
                kind.attr_name()
            ));
        }
    }
}

fn declaration_example(kind: Kind) -> &'static str {
    match kind {
        Kind::CircuitBreaker => "circuit_breaker(threshold = 50%, open = 30s)",
        Kind::Retry => "retry(attempts = 3)",
        Kind::Timeout => "timeout(2s)",
        Kind::Bulkhead => "bulkhead(max = 10)",
        Kind::RateLimiter => "rate_limiter(100/s)",
        Kind::Fallback => "",
    }
}

/// One `name = value` option, already known to belong to `layer.kind`.
fn named(layer: &mut Layer, key: &str, value: &Value, cx: &mut Ctxt) {
    let kind = layer.kind;
    match key {
        "name" => layer.name = string(value, key, cx),
        "fallback" => layer.fallback = callable(value, key, cx),
        "crate" => layer.krate = crate_path(value, cx),
        _ => {}
    }
    match &mut layer.config {
        Config::CircuitBreaker(cb) => match key {
            "threshold" => cb.threshold = percent(value, key, cx),
            "failures" => cb.failures = in_range(count(value, key, cx), kind, key, cx),
            "window" => cb.window = window(value, cx),
            "min_calls" => cb.min_calls = in_range(count(value, key, cx), kind, key, cx),
            "slow" => cb.slow = positive(duration(value, key, cx), key, cx),
            "slow_threshold" => cb.slow_threshold = percent(value, key, cx),
            "open" => cb.open = open(value, cx),
            "half_open" => cb.half_open = in_range(count(value, key, cx), kind, key, cx),
            "critical" => cb.critical = boolean(value, key, cx),
            "record" => cb.record = callable(value, key, cx),
            "ignore" => cb.ignore = callable(value, key, cx),
            _ => {}
        },
        Config::Retry(r) => match key {
            "attempts" => {
                r.attempts = count(value, key, cx).and_then(|n| {
                    if n.value == 0 {
                        cx.error(n.span, "attempts counts the first call too, so it must be at least 1: attempts = 3");
                        None
                    } else {
                        Some(n)
                    }
                })
            }
            "backoff" => r.backoff = backoff(value, cx),
            "jitter" => r.jitter = jitter(value, cx),
            "when" => r.when = callable(value, key, cx),
            "when_ok" => r.when_ok = callable(value, key, cx),
            "retry_after" => r.retry_after = callable(value, key, cx),
            "retry_timeouts" => r.retry_timeouts = boolean(value, key, cx),
            _ => {}
        },
        Config::Bulkhead(b) => match key {
            "max" => b.max = in_range(count(value, key, cx), kind, key, cx),
            "queue" => b.queue = in_range(count(value, key, cx), kind, key, cx),
            "wait" => b.wait = positive(duration(value, key, cx), key, cx),
            _ => {}
        },
        Config::RateLimiter(rl) => match key {
            "burst" => rl.burst = in_range(count(value, key, cx), kind, key, cx),
            "wait" => rl.wait = duration(value, key, cx),
            _ => {}
        },
        Config::Timeout(_) | Config::Fallback => {}
    }
}

/// Options an attribute cannot do without.
fn required(layer: &Layer, span: Span, site: Site, cx: &mut Ctxt) {
    let inline = |attr: &str| match site {
        Site::Attribute => format!("#[{attr}]"),
        Site::Declaration(_) => format!("{attr}(...)"),
    };
    match &layer.config {
        Config::Timeout(t) if t.duration.is_none() => cx.error(
            span,
            format!("{} needs a duration: #[timeout(2s)]", inline("timeout")),
        ),
        Config::Bulkhead(b) if b.max.is_none() => cx.error(
            span,
            format!(
                "{} needs the number of concurrent calls it admits: #[bulkhead(max = 10)]",
                inline("bulkhead")
            ),
        ),
        Config::RateLimiter(rl) if rl.rate.is_none() => cx.error(
            span,
            format!(
                "{} needs a rate: #[rate_limiter(100/s)]",
                inline("rate_limiter")
            ),
        ),
        Config::Fallback if layer.fallback.is_none() => cx.error(
            span,
            "#[fallback] needs the function to call: #[fallback(cached_value)]",
        ),
        _ => {}
    }
}

/// The window of a breaker that names none: the runtime's default, 100 calls.
const DEFAULT_WINDOW_CALLS: u32 = 100;

/// Options that cannot be used together, or only together (tokio-macros' `build()` step).
fn combinations(layer: &Layer, cx: &mut Ctxt) {
    match &layer.config {
        Config::CircuitBreaker(cb) => {
            if let (Some(_), Some(failures)) = (&cb.threshold, &cb.failures) {
                cx.error(failures.span, "'failures' and 'threshold' cannot be used together: a breaker trips on a failure rate (threshold = 50%) or on consecutive failures (failures = 5), not both");
            }
            if let (Some(st), None) = (&cb.slow_threshold, &cb.slow) {
                cx.error(st.span, "'slow_threshold' needs 'slow', the duration from which a call is slow: slow = 2s, slow_threshold = 80%");
            }
            // Without a window, the default one (100 calls) is the one min_calls must fit in.
            let window = match &cb.window {
                Some(S {
                    value: Window::Calls(w),
                    ..
                }) => Some((*w, "")),
                Some(_) => None,
                None => Some((DEFAULT_WINDOW_CALLS, " (the default window)")),
            };
            if let (Some(min), Some((w, which))) = (&cb.min_calls, window)
                && min.value > w
            {
                cx.error(min.span, format!(
                    "min_calls = {} is more than the window of {w} calls{which}, so the breaker could never trip; make it at most {w}, or give a window of at least {} calls",
                    min.value, min.value
                ));
            }
        }
        Config::Retry(r) => {
            if let Some(j) = &r.jitter
                && j.value == Jitter::Decorrelated
                && let Some(S {
                    value: Backoff::Fixed(_) | Backoff::Linear { .. },
                    ..
                }) = &r.backoff
            {
                cx.error(j.span, "jitter = decorrelated grows its own delays, so it works only with exponential backoff; use jitter = full or equal here, or backoff = exponential(...)");
            }
        }
        Config::Bulkhead(b) => {
            if let Some(w) = &b.wait
                && b.queue.is_none_or(|q| q.value == 0)
            {
                cx.error(w.span, "'wait' is the longest wait in the queue, so it needs a queue: add queue = 20 beside it, or remove wait");
            }
        }
        _ => {}
    }
}

fn at_least(n: Option<S<u32>>, min: u32, key: &str, cx: &mut Ctxt) -> Option<S<u32>> {
    let n = n?;
    if n.value < min {
        cx.error(
            n.span,
            format!("'{key}' must be at least {min}: {}", example(key)),
        );
        return None;
    }
    Some(n)
}

fn at_most(n: Option<S<u32>>, max: u32, key: &str, cx: &mut Ctxt) -> Option<S<u32>> {
    let n = n?;
    if n.value > max {
        cx.error(
            n.span,
            format!("'{key}' must be at most {max}: {}", example(key)),
        );
        return None;
    }
    Some(n)
}

fn positive(d: Option<S<Nanos>>, key: &str, cx: &mut Ctxt) -> Option<S<Nanos>> {
    let d = d?;
    if d.value == 0 {
        cx.error(
            d.span,
            format!("'{key}' must be longer than 0: {}", example(key)),
        );
        return None;
    }
    Some(d)
}

fn string(value: &Value, key: &str, cx: &mut Ctxt) -> Option<LitStr> {
    match value {
        Value::Str(s) if !s.value().is_empty() => Some(s.clone()),
        Value::Str(s) => {
            cx.error(
                s.span(),
                "a policy's name cannot be empty: name = \"payments\"",
            );
            None
        }
        other => {
            cx.error(
                other.span(),
                format!("'{key}' takes a string: {}", example(key)),
            );
            None
        }
    }
}

fn boolean(value: &Value, key: &str, cx: &mut Ctxt) -> Option<S<bool>> {
    match value {
        Value::Bool(b) => Some(S {
            value: b.value,
            span: b.span,
        }),
        other => {
            cx.error(
                other.span(),
                format!("'{key}' takes true or false: {}", example(key)),
            );
            None
        }
    }
}

/// `crate = path`: the path the generated code reaches the framework by.
fn crate_path(value: &Value, cx: &mut Ctxt) -> Option<Path> {
    match value {
        Value::Path(p) => Some(p.clone()),
        other => {
            cx.error(
                other.span(),
                format!(
                    "'crate' takes a path, found {}: {}",
                    other.describe(),
                    example("crate")
                ),
            );
            None
        }
    }
}

fn callable(value: &Value, key: &str, cx: &mut Ctxt) -> Option<Callable> {
    match value {
        Value::Path(p) => Some(Callable::Path(p.clone())),
        Value::Closure(c) => Some(Callable::Closure(c.clone())),
        Value::Call(call) => {
            let func = &call.func;
            cx.error(
                func.span(),
                format!("'{key}' takes the function itself, not a call of it: {key} = {func}, or a closure: {key} = |e| ..."),
            );
            None
        }
        other => {
            let what = if key == "crate" {
                "a path"
            } else {
                "the path of a function"
            };
            cx.error(
                other.span(),
                format!(
                    "'{key}' takes {what}, found {}: {}",
                    other.describe(),
                    example(key)
                ),
            );
            None
        }
    }
}

pub(crate) fn duration(value: &Value, key: &str, cx: &mut Ctxt) -> Option<S<Nanos>> {
    let n = match value {
        Value::Number(n) if !n.percent && n.per.is_none() => n,
        other => {
            cx.error(
                other.span(),
                format!(
                    "'{key}' takes a duration, found {}: {}",
                    other.describe(),
                    duration_example(key)
                ),
            );
            return None;
        }
    };
    if n.suffix.is_empty() {
        let d = &n.digits;
        cx.error(
            n.span,
            format!("a duration needs a unit: write {d}ms, {d}s, {d}m or {d}h"),
        );
        return None;
    }
    let Some(unit) = unit_nanos(&n.suffix) else {
        cx.error(
            n.span,
            format!(
                "unknown unit '{}'; a duration is written with ms, s, m or h: 500ms, 30s, 2m, 1h",
                n.suffix
            ),
        );
        return None;
    };
    if n.negative {
        cx.error(n.span, "a duration cannot be negative");
        return None;
    }
    match units::scale(&n.digits, unit) {
        Some(v) => Some(S {
            value: v,
            span: n.span,
        }),
        None => {
            cx.error(
                n.span,
                "this duration is too long; write at most a few centuries, e.g. 24h",
            );
            None
        }
    }
}

fn duration_example(key: &str) -> &'static str {
    match key {
        "timeout" => "#[timeout(2s)]",
        "open" => "open = 30s",
        "slow" => "slow = 2s",
        "wait" => "wait = 500ms",
        "window" => "window = 60s",
        _ => "30s, 500ms, 2m",
    }
}

fn count(value: &Value, key: &str, cx: &mut Ctxt) -> Option<S<u32>> {
    let n = match value {
        Value::Number(n) => n,
        other => {
            cx.error(
                other.span(),
                format!(
                    "'{key}' takes a number, found {}: {}",
                    other.describe(),
                    example(key)
                ),
            );
            return None;
        }
    };
    if n.percent || n.per.is_some() || !n.suffix.is_empty() {
        cx.error(
            n.span,
            format!("'{key}' is a plain count, without a unit: {}", example(key)),
        );
        return None;
    }
    if !n.is_int {
        cx.error(
            n.span,
            format!("'{key}' takes a whole number: {}", example(key)),
        );
        return None;
    }
    if n.negative {
        cx.error(
            n.span,
            format!("'{key}' cannot be negative: {}", example(key)),
        );
        return None;
    }
    match n.digits.parse::<u32>() {
        Ok(v) => Some(S {
            value: v,
            span: n.span,
        }),
        Err(_) => {
            cx.error(
                n.span,
                format!("'{key}' is too large; it must fit in a u32"),
            );
            None
        }
    }
}

fn percent(value: &Value, key: &str, cx: &mut Ctxt) -> Option<S<f64>> {
    let n = match value {
        Value::Number(n) if n.percent => n,
        Value::Number(n) if n.suffix.is_empty() && n.per.is_none() => {
            cx.error(n.span, Refused::NoPercentSign.message(key, example(key)));
            return None;
        }
        other => {
            cx.error(
                other.span(),
                format!(
                    "'{key}' takes a percentage, found {}: {}",
                    other.describe(),
                    example(key)
                ),
            );
            return None;
        }
    };
    if !n.suffix.is_empty() {
        cx.error(
            n.span,
            format!("a percentage has no unit before '%': {}", example(key)),
        );
        return None;
    }
    let v: f64 = n.digits.parse().unwrap_or(f64::NAN);
    let v = if n.negative { -v } else { v };
    if !percent::in_range(v) {
        cx.error(n.span, Refused::OutOfRange.message(key, example(key)));
        return None;
    }
    Some(S {
        value: v,
        span: n.span,
    })
}

fn rate(value: &Value, cx: &mut Ctxt) -> Option<S<Rate>> {
    let n = match value {
        Value::Number(n) if n.per.is_some() => n,
        other => {
            cx.error(
                other.span(),
                "a rate is a count per period: #[rate_limiter(100/s)], 6000/m, 10000/h",
            );
            return None;
        }
    };
    let per = n.per.as_ref()?;
    let Some(period) = unit_nanos(&per.to_string()) else {
        cx.error(
            per.span(),
            format!("unknown period '{per}'; a rate is per ms, s, m or h: 100/s, 6000/m"),
        );
        return None;
    };
    if !n.is_int || !n.suffix.is_empty() || n.negative {
        cx.error(n.span, "a rate counts whole calls: 100/s, 6000/m");
        return None;
    }
    match n.digits.parse::<u32>() {
        Ok(0) => {
            cx.error(
                n.span,
                "a rate of 0 admits no call at all; write at least 1, as in 1/s",
            );
            None
        }
        Ok(count) => Some(S {
            value: Rate { count, per: period },
            span: n.span,
        }),
        Err(_) => {
            cx.error(
                n.span,
                "this rate is too large; the count must fit in a u32",
            );
            None
        }
    }
}

fn window(value: &Value, cx: &mut Ctxt) -> Option<S<Window>> {
    match value {
        Value::Number(n) if n.suffix.is_empty() && !n.percent && n.per.is_none() => {
            let c = at_least(count(value, "window", cx), 1, "window", cx)?;
            if c.value > MAX_WINDOW_CALLS {
                cx.error(c.span, format!("a count window holds at most {MAX_WINDOW_CALLS} calls; for more traffic use a time window: window = 60s"));
                return None;
            }
            Some(S {
                value: Window::Calls(c.value),
                span: c.span,
            })
        }
        Value::Number(_) => {
            let d = positive(duration(value, "window", cx), "window", cx)?;
            Some(S {
                value: Window::Time(d.value),
                span: d.span,
            })
        }
        other => {
            cx.error(
                other.span(),
                format!(
                    "'window' takes a number of calls or a duration: {}",
                    example("window")
                ),
            );
            None
        }
    }
}

/// The positional value and the `name = value` options of a call such as `linear(100ms, max = 2s)`.
struct CallArgs<'a> {
    positional: Vec<&'a Value>,
    named: Vec<(&'a Ident, &'a Value)>,
}

fn call_args<'a>(call: &'a Call, allowed: &[&str], cx: &mut Ctxt) -> CallArgs<'a> {
    let mut out = CallArgs {
        positional: Vec::new(),
        named: Vec::new(),
    };
    for arg in &call.args.items {
        match arg {
            Arg::Positional(v) => out.positional.push(v),
            Arg::Named { name, value } => {
                let key = name.to_string();
                if FIRST_DELAY_NAMES.contains(&key.as_str()) && out.positional.is_empty() {
                    // One mistake, one error: the value still counts as the first delay.
                    cx.error(
                        name.span(),
                        format!(
                            "the first delay is written without a name: {}",
                            backoff_form(&call.func.to_string())
                        ),
                    );
                    out.positional.push(value);
                    continue;
                }
                if !allowed.contains(&key.as_str()) {
                    let renamed = CALL_OPTION_NAMES
                        .iter()
                        .find(|(theirs, ours)| *theirs == key && allowed.contains(ours));
                    let hint = match did_you_mean(&key, allowed) {
                        _ if renamed.is_some() => {
                            let ours = renamed.map_or("", |(_, ours)| ours);
                            format!("the growth per attempt is '{ours}' here: {ours} = 2")
                        }
                        Some(s) => format!("did you mean '{s}'?"),
                        None if allowed.is_empty() => {
                            format!("{}(...) takes only its duration", call.func)
                        }
                        None => format!("{}(...) takes {}", call.func, allowed.join(", ")),
                    };
                    cx.error(name.span(), format!("unknown option '{key}'; {hint}"));
                } else if out.named.iter().any(|(n, _)| *n == name) {
                    cx.error(
                        name.span(),
                        format!("duplicate option '{key}'; give it once"),
                    );
                } else {
                    out.named.push((name, value));
                }
            }
        }
    }
    out
}

impl CallArgs<'_> {
    fn get(&self, key: &str) -> Option<&Value> {
        self.named.iter().find(|(n, _)| *n == key).map(|(_, v)| *v)
    }

    /// The one positional duration, which must be longer than 0.
    fn first_duration(&self, call: &Call, form: &str, cx: &mut Ctxt) -> Option<S<Nanos>> {
        match self.positional.as_slice() {
            [v] => positive(duration(v, &call.func.to_string(), cx), "delay", cx),
            [] => {
                cx.error(
                    call.func.span(),
                    format!("{} needs its delay: {form}", call.func),
                );
                None
            }
            [_, extra, ..] => {
                cx.error(
                    extra.span(),
                    format!("{} takes one delay; write {form}", call.func),
                );
                None
            }
        }
    }
}

/// Names users give the first delay of a backoff, which is written without one.
const FIRST_DELAY_NAMES: &[&str] = &["initial", "delay", "base", "step", "initial_delay", "first"];

/// Other libraries' names for the options of a backoff: (theirs, ours).
const CALL_OPTION_NAMES: &[(&str, &str)] = &[("multiplier", "factor"), ("base", "factor")];

const BACKOFF_FORMS: &str = "fixed(500ms), linear(100ms, max = 2s) or exponential(100ms, max = 2s)";
/// The default cap of an exponential backoff, as in the runtime: 10 seconds.
const DEFAULT_BACKOFF_MAX: Nanos = options::DEFAULT_BACKOFF_MAX_NANOS;

fn backoff(value: &Value, cx: &mut Ctxt) -> Option<S<Backoff>> {
    let call = match value {
        Value::Call(call) => call,
        Value::Path(p) => {
            let word = p.get_ident().map(|i| i.to_string()).unwrap_or_default();
            if BACKOFFS.contains(&word.as_str()) {
                cx.error(
                    p.span(),
                    format!(
                        "'{word}' needs its delays: backoff = {}",
                        backoff_form(&word)
                    ),
                );
            } else if let Some(s) = did_you_mean(&word, BACKOFFS) {
                cx.error(
                    p.span(),
                    format!(
                        "unknown backoff '{word}'; did you mean '{s}'? backoff = {}",
                        backoff_form(s)
                    ),
                );
            } else {
                cx.error(p.span(), format!("a backoff is {BACKOFF_FORMS}"));
            }
            return None;
        }
        other => {
            cx.error(other.span(), format!("a backoff is {BACKOFF_FORMS}"));
            return None;
        }
    };
    let func = call.func.to_string();
    let span = call.func.span();
    let backoff = match func.as_str() {
        "fixed" => {
            let args = call_args(call, &[], cx);
            Backoff::Fixed(args.first_duration(call, "fixed(500ms)", cx)?.value)
        }
        "linear" => {
            let args = call_args(call, &["max"], cx);
            let step = args.first_duration(call, "linear(100ms, max = 2s)", cx);
            let max = capped(&args, call, "linear(100ms, max = 2s)", true, cx);
            let (step, max) = (step?, max?);
            check_cap(step.value, max, cx)?;
            Backoff::Linear {
                step: step.value,
                max: max.value,
            }
        }
        "exponential" => {
            let args = call_args(call, &["factor", "max"], cx);
            let initial = args.first_duration(call, "exponential(100ms, max = 2s)", cx);
            let max = capped(&args, call, "exponential(100ms, max = 2s)", false, cx);
            let factor = match args.get("factor") {
                None => Some(None),
                Some(v) => factor(v, cx).map(Some),
            };
            let (initial, factor) = (initial?, factor?);
            let max = match max {
                Some(m) => {
                    check_cap(initial.value, m, cx)?;
                    m.value
                }
                None if args.get("max").is_some() => return None,
                None => DEFAULT_BACKOFF_MAX.max(initial.value),
            };
            Backoff::Exponential {
                initial: initial.value,
                factor,
                max,
            }
        }
        other => {
            let msg = match did_you_mean(other, BACKOFFS) {
                Some(s) => format!("unknown backoff '{other}'; did you mean '{s}'?"),
                None => format!("unknown backoff '{other}'; a backoff is {BACKOFF_FORMS}"),
            };
            cx.error(span, msg);
            return None;
        }
    };
    Some(S {
        value: backoff,
        span,
    })
}

fn backoff_form(word: &str) -> &'static str {
    match word {
        "fixed" => "fixed(500ms)",
        "linear" => "linear(100ms, max = 2s)",
        _ => "exponential(100ms, max = 2s)",
    }
}

/// The `max = d` of a call; `required` makes its absence an error.
fn capped(
    args: &CallArgs,
    call: &Call,
    form: &str,
    required: bool,
    cx: &mut Ctxt,
) -> Option<S<Nanos>> {
    match args.get("max") {
        Some(v) => positive(duration(v, "max", cx), "max", cx),
        None if required => {
            cx.error(
                call.func.span(),
                format!("{} needs a longest delay: {form}", call.func),
            );
            None
        }
        None => None,
    }
}

fn check_cap(first: Nanos, max: S<Nanos>, cx: &mut Ctxt) -> Option<()> {
    if max.value < first {
        cx.error(
            max.span,
            format!(
                "'max' ({}) is shorter than the first delay ({}); make it at least as long: max = {}",
                units::format(max.value),
                units::format(first),
                units::format(first),
            ),
        );
        return None;
    }
    Some(())
}

fn factor(value: &Value, cx: &mut Ctxt) -> Option<f64> {
    match value {
        Value::Number(n) if n.suffix.is_empty() && !n.percent && n.per.is_none() && !n.negative => {
            let f: f64 = n.digits.parse().unwrap_or(f64::NAN);
            if f >= 1.0 && f.is_finite() {
                Some(f)
            } else {
                cx.error(
                    n.span,
                    "'factor' must be at least 1 so delays do not shrink: factor = 2",
                );
                None
            }
        }
        other => {
            cx.error(other.span(), "'factor' is a plain number: factor = 2");
            None
        }
    }
}

fn jitter(value: &Value, cx: &mut Ctxt) -> Option<S<Jitter>> {
    let ident = match value.as_ident() {
        Some(i) => i,
        None => {
            cx.error(
                value.span(),
                "jitter is one of none, full, equal, decorrelated: jitter = full",
            );
            return None;
        }
    };
    let jitter = match ident.to_string().as_str() {
        "none" => Jitter::None,
        "full" => Jitter::Full,
        "equal" => Jitter::Equal,
        "decorrelated" => Jitter::Decorrelated,
        other => {
            let msg = match did_you_mean(other, JITTERS) {
                Some(s) => format!("unknown jitter '{other}'; did you mean '{s}'?"),
                None => format!(
                    "unknown jitter '{other}'; jitter is one of none, full, equal, decorrelated"
                ),
            };
            cx.error(ident.span(), msg);
            return None;
        }
    };
    Some(S {
        value: jitter,
        span: ident.span(),
    })
}

fn open(value: &Value, cx: &mut Ctxt) -> Option<S<Open>> {
    match value {
        Value::Call(call) if call.func == "exponential" => {
            let args = call_args(call, &["max"], cx);
            let form = "open = exponential(5s, max = 5m)";
            let initial = args.first_duration(call, form, cx);
            let max = capped(&args, call, form, true, cx);
            let (initial, max) = (initial?, max?);
            check_cap(initial.value, max, cx)?;
            Some(S {
                value: Open::Exponential {
                    initial: initial.value,
                    max: max.value,
                },
                span: call.func.span(),
            })
        }
        Value::Call(call) => {
            cx.error(call.func.span(), format!(
                "unknown wait '{}'; the open wait is a duration (open = 30s) or grows with exponential(5s, max = 5m)",
                call.func
            ));
            None
        }
        _ => {
            let d = positive(duration(value, "open", cx), "open", cx)?;
            Some(S {
                value: Open::Fixed(d.value),
                span: d.span,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Config;

    fn check(kind: Kind, src: &str) -> (Layer, Vec<String>) {
        let args: Args = syn::parse_str(src).expect("parses");
        let mut cx = Ctxt::default();
        let layer = layer(kind, &args, Span::call_site(), Site::Attribute, &mut cx);
        let errors = match cx.finish() {
            Ok(()) => Vec::new(),
            Err(e) => e.into_iter().map(|e| e.to_string()).collect(),
        };
        (layer, errors)
    }

    fn errors(kind: Kind, src: &str) -> Vec<String> {
        check(kind, src).1
    }

    #[test]
    fn misspelt_option_suggests_the_closest() {
        assert_eq!(
            errors(Kind::CircuitBreaker, "treshold = 50%"),
            ["unknown option 'treshold'; did you mean 'threshold'?"]
        );
    }

    #[test]
    fn bare_lowercase_ident_close_to_an_option_is_a_misspelt_option() {
        assert_eq!(
            errors(Kind::Retry, "attemps"),
            ["unknown option 'attemps'; did you mean 'attempts'?"]
        );
        let (layer, errs) = check(Kind::Retry, "PAYMENTS_RETRY");
        assert!(errs.is_empty());
        assert!(layer.shared.is_some());
    }

    #[test]
    fn every_error_is_collected() {
        let errs = errors(
            Kind::CircuitBreaker,
            "threshold = 150%, open = 30, window = 0",
        );
        assert_eq!(errs.len(), 3, "{errs:?}");
    }

    #[test]
    fn durations_take_ms_s_m_h() {
        let (layer, errs) = check(Kind::Timeout, "1.5s");
        assert!(errs.is_empty());
        let Config::Timeout(t) = layer.config else {
            panic!()
        };
        assert_eq!(t.duration.map(|d| d.value), Some(1_500_000_000));
        assert_eq!(
            errors(Kind::Timeout, "30"),
            ["a duration needs a unit: write 30ms, 30s, 30m or 30h"]
        );
        assert!(errors(Kind::Timeout, "30sec")[0].starts_with("unknown unit 'sec'"));
    }

    #[test]
    fn rates_and_ranges_are_checked() {
        let (layer, errs) = check(Kind::RateLimiter, "6000/m, burst = 10");
        assert!(errs.is_empty());
        let Config::RateLimiter(rl) = layer.config else {
            panic!()
        };
        assert_eq!(
            rl.rate.map(|r| r.value),
            Some(Rate {
                count: 6000,
                per: 60_000_000_000
            })
        );
        assert!(errors(Kind::RateLimiter, "0/s")[0].contains("at least 1"));
        assert!(errors(Kind::Retry, "attempts = 0")[0].contains("at least 1"));
        assert!(errors(Kind::CircuitBreaker, "threshold = 0%")[0].contains("more than 0%"));
    }

    #[test]
    fn duplicates_and_conflicts_are_reported() {
        assert_eq!(
            errors(Kind::Retry, "attempts = 3, attempts = 4"),
            ["duplicate option 'attempts'; give it once"]
        );
        assert!(
            errors(Kind::CircuitBreaker, "threshold = 50%, failures = 5")[0]
                .contains("cannot be used together")
        );
        assert!(
            errors(Kind::Retry, "backoff = fixed(1s), jitter = decorrelated")[0]
                .contains("exponential")
        );
    }

    #[test]
    fn required_options_are_asked_for() {
        assert!(errors(Kind::Timeout, "")[0].contains("needs a duration"));
        assert!(errors(Kind::Bulkhead, "queue = 2")[0].contains("max = 10"));
        assert!(errors(Kind::RateLimiter, "")[0].contains("needs a rate"));
    }

    #[test]
    fn a_bulkhead_wait_needs_a_queue_and_a_length() {
        assert_eq!(
            errors(Kind::Bulkhead, "max = 10, wait = 500ms"),
            [
                "'wait' is the longest wait in the queue, so it needs a queue: add queue = 20 beside it, or remove wait"
            ]
        );
        assert!(
            errors(Kind::Bulkhead, "max = 10, queue = 0, wait = 500ms")[0]
                .contains("needs a queue")
        );
        assert_eq!(
            errors(Kind::Bulkhead, "max = 10, queue = 5, wait = 0ms"),
            ["'wait' must be longer than 0: wait = 500ms"]
        );
        assert!(errors(Kind::Bulkhead, "max = 10, queue = 5, wait = 500ms").is_empty());
        assert!(errors(Kind::RateLimiter, "100/s, wait = 0ms").is_empty());
    }

    #[test]
    fn counts_the_runtime_caps_are_capped_here_too() {
        assert_eq!(
            errors(Kind::CircuitBreaker, "half_open = 1001"),
            ["'half_open' must be at most 1000: half_open = 3"]
        );
        assert!(errors(Kind::CircuitBreaker, "half_open = 1000").is_empty());
        assert_eq!(
            errors(Kind::Bulkhead, "max = 1048576"),
            ["'max' must be at most 1048575: max = 10"]
        );
        assert!(errors(Kind::Bulkhead, "max = 1048575").is_empty());
    }

    #[test]
    fn shared_policies_take_only_use_site_options() {
        let errs = errors(
            Kind::CircuitBreaker,
            "PAYMENTS, ignore = E::is_declined, threshold = 20%",
        );
        assert_eq!(errs.len(), 1);
        assert!(errs[0].contains("configure PAYMENTS where it is declared"));
    }

    #[test]
    fn backoffs_parse_with_defaults() {
        let (layer, errs) = check(Kind::Retry, "backoff = exponential(100ms, factor = 3)");
        assert!(errs.is_empty(), "{errs:?}");
        let Config::Retry(r) = layer.config else {
            panic!()
        };
        assert_eq!(
            r.backoff.map(|b| b.value),
            Some(Backoff::Exponential {
                initial: 100_000_000,
                factor: Some(3.0),
                max: DEFAULT_BACKOFF_MAX
            })
        );
        assert!(errors(Kind::Retry, "backoff = linear(100ms)")[0].contains("max = 2s"));
    }
}
