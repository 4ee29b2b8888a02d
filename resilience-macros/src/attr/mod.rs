//! Parsing of attribute arguments into a raw syntax tree: `name = value` pairs and positional
//! values, with no meaning attached yet (that is [`crate::validate`]'s job).
//!
//! The grammar is small and shared by every attribute and by `policy!`:
//!
//! ```text
//! args   := (arg (',' arg)* ','?)?
//! arg    := ident '=' value | value
//! value  := number ('%' | '/' ident)?   -- 250ms, 1.5s, 50%, 100/s, 3
//!         | ident '(' args ')'           -- exponential(100ms, max = 2s)
//!         | path                         -- PAYMENTS, ApiError::is_transient, full
//!         | "string" | true | false
//! ```

use proc_macro2::{Delimiter, Group, Span, TokenStream, TokenTree};
use syn::ext::IdentExt;
use syn::parse::{Parse, ParseStream, Parser};
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{Ident, Lit, LitBool, LitStr, Path, Token};

/// The comma-separated arguments of one attribute (or of one constructor inside `policy!`).
pub struct Args {
    /// The arguments in the order written.
    pub items: Vec<Arg>,
}

/// One argument: `name = value`, or a positional value.
pub enum Arg {
    /// `name = value`.
    Named {
        /// The option's name, as written (may be a keyword, as in `crate = path`).
        name: Ident,
        /// Its value.
        value: Value,
    },
    /// A value without a name: a shared policy's path, or the duration of `#[timeout(2s)]`.
    Positional(Value),
}

/// A value, still untyped.
pub enum Value {
    /// A number with its unit: `250ms`, `1.5s`, `3`, `50%`, `100/s`.
    Number(Number),
    /// `ident(args)`: a backoff or an exponential open wait.
    Call(Call),
    /// A path: a shared policy, a callable, or a keyword such as `full`.
    Path(Path),
    /// A string literal (`name = "..."`).
    Str(LitStr),
    /// `true` or `false`.
    Bool(LitBool),
    /// A closure: `|e: &ApiError| e.is_transient()`, for the options that take a function.
    Closure(syn::ExprClosure),
    /// A Rust expression, for the options that take one by their name (`key = tenant.id`):
    /// everything up to the next top-level comma.
    Expr(Box<syn::Expr>),
    /// Two values with `..` between them: `200ms..2s`.
    Range(Box<Value>, Box<Value>),
    /// A percentile with a decimal, `p99.9`, which Rust reads as `p99`, `.`, `9`: the text as
    /// written, spanned at its first token.
    Percentile(String, Span),
}

/// A numeric literal with the unit that follows it.
pub struct Number {
    /// The digits in base 10, without the suffix (`"1.5"` for `1.5s`).
    pub digits: String,
    /// The literal's suffix (`"ms"` for `250ms`), empty when there is none.
    pub suffix: String,
    /// Whether the literal was written as an integer.
    pub is_int: bool,
    /// Whether a minus sign preceded it.
    pub negative: bool,
    /// `%` after the literal.
    pub percent: bool,
    /// `/ unit` after the literal, as in `100/s`.
    pub per: Option<Ident>,
    /// The literal's span (joined with its `%` or `/unit` where the compiler allows).
    pub span: Span,
}

/// `func(args)`.
pub struct Call {
    /// The function's name (`exponential`).
    pub func: Ident,
    /// Its arguments.
    pub args: Args,
}

impl Value {
    /// The span to point at when this value is wrong.
    pub fn span(&self) -> Span {
        match self {
            Value::Number(n) => n.span,
            Value::Call(c) => c.func.span(),
            Value::Path(p) => p.span(),
            Value::Str(s) => s.span(),
            Value::Bool(b) => b.span(),
            Value::Closure(c) => c.span(),
            Value::Expr(e) => e.span(),
            Value::Range(least, _) => least.span(),
            Value::Percentile(_, span) => *span,
        }
    }

    /// A short description of what was written, for "expected X, found Y" messages.
    pub fn describe(&self) -> &'static str {
        match self {
            Value::Number(n) if n.percent => "a percentage",
            Value::Number(n) if n.per.is_some() => "a rate",
            Value::Number(n) if !n.suffix.is_empty() => "a duration",
            Value::Number(_) => "a number",
            Value::Call(_) => "a call",
            Value::Path(_) => "a path",
            Value::Str(_) => "a string",
            Value::Bool(_) => "a boolean",
            Value::Closure(_) => "a closure",
            Value::Expr(_) => "an expression",
            Value::Range(..) => "a range",
            Value::Percentile(..) => "a percentile",
        }
    }

    /// The identifier when the value is a single plain identifier (`full`, `attemps`).
    pub fn as_ident(&self) -> Option<&Ident> {
        match self {
            Value::Path(p) => p.get_ident(),
            _ => None,
        }
    }
}

/// Parses an attribute's arguments.
///
/// The arguments are parsed inside a group spanned at their last token, so an error at their
/// end (a value cut short: `rate = 100/`, `when = ApiError::`, `POOL<`) points at that token;
/// parsed as a bare stream, syn would span it at the whole attribute, or for an attribute taken
/// into a stack, at the one that expands.
pub fn parse_args(tokens: TokenStream) -> syn::Result<Args> {
    let Some(last) = tokens.clone().into_iter().last().map(|t| t.span()) else {
        return syn::parse2(tokens);
    };
    let mut group = Group::new(Delimiter::Parenthesis, tokens);
    group.set_span(last);
    let in_group = |input: ParseStream| {
        let content;
        syn::parenthesized!(content in input);
        content.parse::<Args>()
    };
    in_group.parse2(TokenStream::from(TokenTree::Group(group)))
}

impl Parse for Args {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let items = Punctuated::<Arg, Token![,]>::parse_terminated(input)?;
        Ok(Args {
            items: items.into_iter().collect(),
        })
    }
}

impl Parse for Arg {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        if input.peek(Ident::peek_any) && input.peek2(Token![=]) && !input.peek2(Token![==]) {
            let name = Ident::parse_any(input)?;
            let eq: Token![=] = input.parse()?;
            if input.is_empty() {
                // At the end of the arguments syn would point at the whole attribute.
                return Err(syn::Error::new(
                    eq.span,
                    format!("'{name}' needs a value after '='"),
                ));
            }
            if EXPRESSIONS.contains(&name.to_string().as_str()) {
                let value = Value::Expr(Box::new(input.parse()?));
                return Ok(Arg::Named { name, value });
            }
            let mut value: Value = input.parse()?;
            if let Some(whole) = value
                .as_ident()
                .filter(|i| i.to_string().starts_with('p'))
                .cloned()
                && input.peek(Token![.])
                && !input.peek(Token![..])
            {
                input.parse::<Token![.]>()?;
                let tenth: syn::LitInt = input.parse()?;
                if !tenth.suffix().is_empty() {
                    return Err(syn::Error::new(
                        tenth.span(),
                        format!(
                            "`{whole}.{tenth}` is not a percentile: a percentile has no unit (p99.9), a duration has no `p` (50ms)"
                        ),
                    ));
                }
                value =
                    Value::Percentile(format!("{whole}.{}", tenth.base10_digits()), whole.span());
            }
            if input.peek(Token![..]) && !input.peek(Token![..=]) {
                input.parse::<Token![..]>()?;
                value = Value::Range(Box::new(value), Box::new(input.parse()?));
            }
            trailing(input, Some(&name), &value)?;
            Ok(Arg::Named { name, value })
        } else {
            let value = input.parse()?;
            trailing(input, None, &value)?;
            Ok(Arg::Positional(value))
        }
    }
}

/// Options whose value is a Rust expression, parsed by their name as one (a constructor such
/// as `exponential(..)` elsewhere stays what it is): the option table's `Expression`s.
const EXPRESSIONS: &[&str] = &["key"];

/// Options whose value is a function: written as its path (or a closure), never called.
const CALLABLES: &[&str] = &[
    "when",
    "when_ok",
    "retry_after",
    "record",
    "ignore",
    "fallback",
    "error_with",
    "outcome_with",
];

/// What follows a value, when it is not the `,` before the next option: the common mistakes
/// get one error that says what to write (`500 ms`, `Duration::from_secs(2)`,
/// `ApiError::is_transient()`), instead of syn's bare "expected `,`".
fn trailing(input: ParseStream, name: Option<&Ident>, value: &Value) -> syn::Result<()> {
    if input.is_empty() || input.peek(Token![,]) {
        return Ok(());
    }
    match value {
        Value::Number(n)
            if n.suffix.is_empty() && !n.percent && n.per.is_none() && input.peek(Ident) =>
        {
            let unit: Ident = input.fork().parse()?;
            let unit_text = unit.to_string();
            if resilience_syntax::duration::unit_nanos(&unit_text).is_some() {
                let span = n.span.join(unit.span()).unwrap_or(n.span);
                return Err(syn::Error::new(
                    span,
                    format!(
                        "write the unit right after the number, without a space: {}{unit_text}",
                        n.digits
                    ),
                ));
            }
        }
        Value::Path(path) if input.peek(syn::token::Paren) => {
            let group: Group = input.fork().parse()?;
            let span = path
                .span()
                .join(group.span())
                .unwrap_or_else(|| path.span());
            let shown = path
                .segments
                .iter()
                .map(|s| s.ident.to_string())
                .collect::<Vec<_>>()
                .join("::");
            let last = path.segments.last().map(|s| s.ident.to_string());
            let key = name.map(|n| n.to_string());
            let message = if key.as_deref().is_some_and(|k| CALLABLES.contains(&k)) {
                let key = key.unwrap_or_default();
                format!(
                    "'{key}' takes the function itself, not a call of it: {key} = {shown}, or a closure: {key} = |e| ..."
                )
            } else if let Some(unit) = last.as_deref().and_then(constructor_unit) {
                let amount = group.stream().to_string();
                let written = match amount.parse::<u64>() {
                    Ok(amount) => format!("{amount}{unit}"),
                    Err(_) => format!("30{unit}"),
                };
                format!(
                    "`{shown}(..)` is Rust code; here a duration is written with its unit: {written}"
                )
            } else {
                format!(
                    "`{shown}(..)` is Rust code; here a value is written in the attribute's own units (30s, 50%, 100/s), and a function by its path without calling it"
                )
            };
            return Err(syn::Error::new(span, message));
        }
        _ => {}
    }
    Ok(())
}

/// The unit of `Duration`'s constructor `name` (`from_secs` -> `s`).
fn constructor_unit(name: &str) -> Option<&'static str> {
    match name {
        "from_millis" => Some("ms"),
        "from_secs" | "from_secs_f64" | "from_secs_f32" => Some("s"),
        "from_mins" => Some("m"),
        "from_hours" => Some("h"),
        _ => None,
    }
}

impl Parse for Value {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        // A closure's body ends at the next top-level comma, as every value does.
        if input.peek(Token![|]) || input.peek(Token![||]) || input.peek(Token![move]) {
            return Ok(Value::Closure(input.parse()?));
        }
        let lookahead = input.lookahead1();
        if lookahead.peek(Lit) || lookahead.peek(Token![-]) {
            let minus = input.parse::<Option<Token![-]>>()?;
            let negative = minus.is_some();
            if let (Some(minus), true) = (minus, input.is_empty()) {
                return Err(syn::Error::new(minus.span, "expected a number after '-'"));
            }
            match input.parse::<Lit>()? {
                Lit::Int(lit) => number(
                    input,
                    lit.base10_digits(),
                    lit.suffix(),
                    true,
                    negative,
                    lit.span(),
                ),
                Lit::Float(lit) => number(
                    input,
                    lit.base10_digits(),
                    lit.suffix(),
                    false,
                    negative,
                    lit.span(),
                ),
                Lit::Str(lit) if !negative => Ok(Value::Str(lit)),
                Lit::Bool(lit) if !negative => Ok(Value::Bool(lit)),
                other => Err(syn::Error::new(
                    other.span(),
                    "expected a number with its unit (30s, 50%, 100/s), a path or a string",
                )),
            }
        } else if lookahead.peek(Ident)
            || lookahead.peek(Token![::])
            || lookahead.peek(Token![Self])
            || lookahead.peek(Token![crate])
            || lookahead.peek(Token![super])
            || lookahead.peek(Token![self])
        {
            if input.peek(Ident) && input.peek2(syn::token::Paren) {
                let func: Ident = input.parse()?;
                let content;
                syn::parenthesized!(content in input);
                let args = content.parse()?;
                return Ok(Value::Call(Call { func, args }));
            }
            Ok(Value::Path(input.parse()?))
        } else {
            Err(lookahead.error())
        }
    }
}

fn number(
    input: ParseStream,
    digits: &str,
    suffix: &str,
    is_int: bool,
    negative: bool,
    lit_span: Span,
) -> syn::Result<Value> {
    let mut span = lit_span;
    let mut percent = false;
    let mut per = None;
    if input.peek(Token![%]) {
        let p: Token![%] = input.parse()?;
        percent = true;
        span = span.join(p.span).unwrap_or(span);
    } else if input.peek(Token![/]) {
        let slash: Token![/] = input.parse()?;
        let unit: Ident = input.parse().map_err(|e| {
            // At the end of the arguments, syn's span is the whole attribute: point at `100/`.
            let at = if input.is_empty() {
                span.join(slash.span).unwrap_or(slash.span)
            } else {
                e.span()
            };
            syn::Error::new(
                at,
                "a rate needs a period after '/': 100/s, 6000/m, 10000/h",
            )
        })?;
        span = span.join(unit.span()).unwrap_or(span);
        per = Some(unit);
    }
    Ok(Value::Number(Number {
        digits: digits.to_owned(),
        suffix: suffix.to_owned(),
        is_int,
        negative,
        percent,
        per,
        span,
    }))
}

#[cfg(test)]
impl Arg {
    /// The value, named or not.
    pub fn value(&self) -> &Value {
        match self {
            Arg::Named { value, .. } | Arg::Positional(value) => value,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(src: &str) -> Args {
        syn::parse_str(src).expect("parses")
    }

    #[test]
    fn named_values_keep_their_units() {
        let args = parse("threshold = 50%, open = 1.5s, window = 100, rate = 100/s");
        let units: Vec<_> = args
            .items
            .iter()
            .map(|a| match a {
                Arg::Named {
                    value: Value::Number(n),
                    ..
                } => (
                    n.digits.clone(),
                    n.suffix.clone(),
                    n.percent,
                    n.per.as_ref().map(|p| p.to_string()),
                ),
                _ => panic!("expected a number"),
            })
            .collect();
        assert_eq!(
            units,
            vec![
                ("50".into(), "".into(), true, None),
                ("1.5".into(), "s".into(), false, None),
                ("100".into(), "".into(), false, None),
                ("100".into(), "".into(), false, Some("s".into())),
            ]
        );
    }

    #[test]
    fn calls_paths_and_keywords_parse() {
        let args = parse(
            "PAYMENTS, backoff = exponential(100ms, factor = 2, max = 2s), when = E::is_transient, crate = ::my::resilience, jitter = full",
        );
        assert!(matches!(&args.items[0], Arg::Positional(Value::Path(_))));
        match &args.items[1] {
            Arg::Named {
                value: Value::Call(c),
                ..
            } => {
                assert_eq!(c.func, "exponential");
                assert_eq!(c.args.items.len(), 3);
            }
            _ => panic!("expected a call"),
        }
        assert!(
            matches!(&args.items[3], Arg::Named { name, value: Value::Path(_) } if name == "crate")
        );
        assert_eq!(
            args.items[4]
                .value()
                .as_ident()
                .map(|i| i.to_string())
                .as_deref(),
            Some("full")
        );
    }

    #[test]
    fn strings_booleans_and_negative_numbers_parse() {
        let args = parse("name = \"x\", critical = true, attempts = -1");
        assert!(matches!(
            &args.items[0],
            Arg::Named {
                value: Value::Str(_),
                ..
            }
        ));
        assert!(matches!(
            &args.items[1],
            Arg::Named {
                value: Value::Bool(_),
                ..
            }
        ));
        assert!(matches!(&args.items[2], Arg::Named { value: Value::Number(n), .. } if n.negative));
    }

    #[test]
    fn a_rate_without_a_period_is_an_error() {
        assert!(syn::parse_str::<Args>("100/").is_err());
    }

    /// The message of parsing `src`'s error and the source text it points at: with syn's
    /// default, arguments that end too soon point at the whole attribute (no text here).
    fn error_at(src: &str) -> (String, Option<String>) {
        let tokens: proc_macro2::TokenStream = src.parse().expect("lexes");
        match parse_args(tokens) {
            Ok(_) => panic!("{src} parses"),
            Err(e) => (e.to_string(), e.span().source_text()),
        }
    }

    // Found by `hostile_input_tests`: each of these pointed at the whole attribute.

    #[test]
    fn a_rate_cut_short_after_its_slash_is_reported_at_the_rate() {
        let (message, at) = error_at("rate = 100/");
        assert!(message.starts_with("a rate needs a period"), "{message}");
        assert_eq!(at.as_deref(), Some("100/"));
    }

    #[test]
    fn an_option_without_its_value_is_reported_at_its_equals_sign() {
        let (message, at) = error_at("attempts = 3, open =");
        assert_eq!(message, "'open' needs a value after '='");
        assert_eq!(at.as_deref(), Some("="));
    }

    #[test]
    fn a_lone_minus_is_reported_at_the_minus() {
        let (message, at) = error_at("attempts = -");
        assert_eq!(message, "expected a number after '-'");
        assert_eq!(at.as_deref(), Some("-"));
    }

    #[test]
    fn generic_arguments_cut_short_are_reported_at_the_last_token() {
        // Found by the hostile-input proptest: syn reads `POOL<` as the start of generic
        // arguments and stops at the end of the stream.
        let (_, at) = error_at("POOL < fallback = f");
        assert_eq!(at.as_deref(), Some("f"));
    }

    #[test]
    fn arguments_cut_short_inside_a_path_are_reported_at_their_last_token() {
        let (message, at) = error_at("when = ApiError::");
        assert!(message.starts_with("unexpected end of input"), "{message}");
        assert_eq!(at.as_deref(), Some(":"));
    }
}
