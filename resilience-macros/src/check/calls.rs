//! The options written as calls: a retry's backoff (`exponential(100ms, max = 2s)`) and a
//! breaker's growing open wait (`exponential(5s, max = 5m)`).

use syn::Ident;
use syn::spanned::Spanned;

use resilience_syntax::duration as units;
use resilience_syntax::names::BACKOFFS;

use super::Ctxt;
use super::bounds::positive;
use super::options::did_you_mean;
use super::values::duration;
use crate::attr::{Arg, Call, Value};
use crate::model::{Backoff, Nanos, Open, Spanned as S};

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
pub(crate) const DEFAULT_BACKOFF_MAX: Nanos = resilience_syntax::options::DEFAULT_BACKOFF_MAX_NANOS;

pub(crate) fn backoff(value: &Value, cx: &mut Ctxt) -> Option<S<Backoff>> {
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

pub(crate) fn open(value: &Value, cx: &mut Ctxt) -> Option<S<Open>> {
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
