//! Validation: turns the raw arguments of an attribute into one [`Layer`], collecting every
//! error (serde-style) rather than stopping at the first, each spanned at the token to fix, with
//! a sentence saying what to write instead.
//!
//! Here is the attribute as a whole: its positional value, its names, a shared policy's path,
//! and the options a kind requires and those that go together. One value's checks
//! are in [`crate::check`]; each kind's options in its file under [`crate::kinds`].

#[cfg(test)]
mod tests;

pub use crate::check::options::did_you_mean;
pub use crate::check::{Ctxt, Site};

use crate::attr::{Arg, Args, Value};
use crate::check::bounds::positive;
use crate::check::options::{declaration_example, example, options, unknown_option, use_site_only};
use crate::check::values::{callable, crate_path, duration, path, rate, string};
use crate::kinds::Config;
use crate::model::{Callable, Kind};
use proc_macro2::Span;
use std::collections::HashMap;
use syn::spanned::Spanned;
use syn::{LitStr, Path};

/// One attribute of a stack, validated.
pub struct Layer {
    /// Which attribute.
    pub kind: Kind,
    /// The shared policy named by path (`#[circuit_breaker(PAYMENTS)]`), if any.
    pub shared: Option<Path>,
    /// `name = "..."`.
    pub name: Option<LitStr>,
    /// `fallback = f`, or the path of `#[fallback(f)]`.
    pub fallback: Option<Callable>,
    /// `degraded = TOGGLE`: while the toggle is on, the fallback is served without calling what
    /// is below.
    pub degraded: Option<Path>,
    /// `crate = path`.
    pub krate: Option<Path>,
    /// The kind's own options.
    pub config: Config,
    /// Whether it is a keyed family: `key` given on a function, or a `Keyed*` declared in
    /// `policy!`.
    pub keyed: bool,
}

/// Validates the arguments of one attribute (or one `policy!` constructor) into a [`Layer`].
pub fn layer(kind: Kind, args: &Args, span: Span, site: Site, cx: &mut Ctxt) -> Layer {
    let mut layer = Layer {
        kind,
        shared: None,
        name: None,
        fallback: None,
        degraded: None,
        krate: None,
        config: Config::new(kind),
        keyed: false,
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
                    let why = if key == "key" {
                        "is an expression over the function's parameters"
                    } else if key == "degraded" {
                        "serves the function's own fallback"
                    } else {
                        "depends on the function's error type"
                    };
                    cx.error(
                        name.span(),
                        format!(
                            "'{key}' {why}, so it is given where {decl} is used: #[{}({decl}, {})]",
                            kind.attr_name(),
                            if key == "degraded" {
                                // It serves the fallback: the use site needs one too.
                                "fallback = popular_products, degraded = RECOMMENDATIONS_OFF"
                            } else if kind == Kind::Idempotent {
                                "key = req.idempotency_key"
                            } else {
                                example(&key)
                            }
                        ),
                    );
                    continue;
                }
                if !use_site_only(&key) {
                    numeric_beside_shared.push((key.clone(), name.span()));
                }
                named(&mut layer, &key, value, cx);
            }
        }
    }

    layer.keyed = layer.config.keyed().is_some_and(|k| k.key.is_some());
    if let Some(toggle) = &layer.degraded
        && layer.fallback.is_none()
        && kind != Kind::Fallback
    {
        cx.error(
            toggle.span(),
            format!(
                "'degraded' serves the fallback while the toggle is on, and #[{}] has none: give it one, as in fallback = popular_products",
                kind.attr_name()
            ),
        );
    }
    if let Config::Idempotent(idempotent) = &layer.config
        && idempotent.key.is_none()
        && layer.shared.is_some()
    {
        cx.error(
            span,
            "#[idempotent] needs the key of each call beside the shared store: #[idempotent(STORE, key = req.idempotency_key)]",
        );
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
        let required_given = match kind {
            Kind::Bulkhead => seen.contains_key("max"),
            Kind::Hedge => seen.contains_key("after"),
            _ => false,
        };
        if !positional_seen && !unknown_seen && !required_given {
            required(&layer, span, site, cx);
        }
        combinations(&layer, site, cx);
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

/// One `name = value` option, already known to belong to `layer.kind`.
fn named(layer: &mut Layer, key: &str, value: &Value, cx: &mut Ctxt) {
    match key {
        "name" => layer.name = string(value, key, cx),
        "fallback" => layer.fallback = callable(value, key, cx),
        "degraded" => layer.degraded = toggle(value, cx),
        "crate" => layer.krate = crate_path(value, cx),
        _ => {}
    }
    layer.config.set(key, value, cx);
}

/// Options an attribute cannot do without: each kind's (`crate::kinds`), and a fallback's
/// function.
fn required(layer: &Layer, span: Span, site: Site, cx: &mut Ctxt) {
    match &layer.config {
        Config::Fallback if layer.fallback.is_none() => cx.error(
            span,
            "#[fallback] needs the function to call: #[fallback(cached_value)]",
        ),
        config => config.required(span, site, cx),
    }
}

/// Options that cannot be used together, or only together (tokio-macros' `build()` step):
/// each kind's (`crate::kinds`).
fn combinations(layer: &Layer, site: Site, cx: &mut Ctxt) {
    layer.config.combinations(site, cx);
}

/// `degraded = TOGGLE`: the path of a shared toggle.
fn toggle(value: &Value, cx: &mut Ctxt) -> Option<Path> {
    path(
        value,
        "the path of a shared toggle",
        "degraded = RECOMMENDATIONS_OFF, declared in resilience::policy! { static RECOMMENDATIONS_OFF: Toggle = toggle(); }",
        "degraded",
        cx,
    )
}
