//! Hostile input: arbitrary token streams, fully random or valid option lists with mutations,
//! through every attribute and `policy!`, by the same functions the entry points call.
//!
//! Every case checks that the macro does not panic, that an argument list the grammar rejects
//! is reported as a `compile_error!`, that the original item (or the declared static) is still
//! emitted beside any error, and that an error is spanned at the call site only when it is about
//! something missing rather than about a token. Tokens are lexed from text with proc-macro2's
//! `span-locations`, so each has a position of its own and the call site is the only span at
//! bytes 0..0.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::str::FromStr;

use proc_macro2::{Delimiter, Group, Span, TokenStream, TokenTree};
use proptest::prelude::*;
use proptest::sample::select;
use proptest::test_runner::Config;
use resilience_syntax::{names, options};

use crate::attr::parse_args;
use crate::expand;
use crate::model::Kind;

/// Option names of every kind, values that are identifiers, and near misses.
fn idents() -> Vec<&'static str> {
    let others: &[&str] = &[
        "record",
        "ignore",
        "when",
        "name",
        "fallback",
        "crate",
        "factor",
        "true",
        "false",
        "self",
        "Self",
        "super",
        "r#type",
        "_",
        "attemps",
        "treshold",
        "windw",
        "Max",
        "ATTEMPTS",
        "exponentail",
        "PAYMENTS",
        "ms",
        "s",
        "m",
        "h",
        "circuit_breaker",
        "retry",
        "timeout",
        "bulkhead",
        "rate_limiter",
        "is_transient",
    ];
    let mut idents: Vec<&str> = options::OPTIONS.iter().map(|o| o.name).collect();
    idents.extend(names::BACKOFFS.iter().chain(names::JITTERS).chain(others));
    idents.sort_unstable();
    idents.dedup();
    idents
}

/// Literals with and without units, out-of-range, huge, negative and odd ones; a few tokens
/// that the grammar puts together (`50%`, `100/s`, `-1`) come as one leaf.
const LITERALS: &[&str] = &[
    "30s",
    "1.5s",
    "500ms",
    "2m",
    "1h",
    "0s",
    "0.0s",
    "0ms",
    "1d",
    "1us",
    "1ns",
    "3",
    "0",
    "100",
    "1000",
    "1001",
    "4294967295",
    "4294967296",
    "18446744073709551615",
    "18446744073709551616",
    "99999999999999999999",
    "340282366920938463463374607431768211456",
    "99999999999999999999999999999999999999999999s",
    "99999999999999999999h",
    "1e400",
    "1e400s",
    "1.7976931348623157e308h",
    "1e-400s",
    "0.0000001ms",
    "1.5",
    "2.0",
    "1_000",
    "1__0s",
    "0x1F",
    "0xFFs",
    "0b101",
    "0o777m",
    "1u8",
    "1usize",
    "1.0f32",
    "1e10",
    "1E-10s",
    "50%",
    "12.5%",
    "0%",
    "100%",
    "100.0001%",
    "-50%",
    "1e400%",
    "150%",
    "100/s",
    "6000/m",
    "10000/h",
    "0/s",
    "1/d",
    "99999999999999999999/s",
    "4294967296/s",
    "1.5/s",
    "100ms/s",
    "-1",
    "-0",
    "-30s",
    "-1.5",
    "\"name\"",
    "\"\"",
    "b\"bytes\"",
    "'c'",
    "b'c'",
    "r\"raw\"",
    "c\"c\"",
];

/// Punctuation, alone and in the multi-character forms Rust lexes together.
const PUNCTS: &[&str] = &[
    "=", ",", "%", "/", "-", ":", ".", "+", "*", "!", "#", ";", "<", ">", "&", "|", "@", "^", "~",
    "?", "$", "::", "==", "=>", "->", "..", "..=", ",,",
];

/// A valid argument list of each kind, which the mutations start from.
fn valid_args(kind: Kind) -> &'static [&'static str] {
    match kind {
        Kind::CircuitBreaker => &[
            "threshold = 50%, open = 30s",
            "failures = 5, window = 60s, min_calls = 10, slow = 2s, slow_threshold = 80%, \
             open = exponential(5s, max = 5m), half_open = 3, record = E::is_bad, \
             ignore = E::is_ok, critical = true, name = \"cb\", fallback = fb",
            "window = 100, threshold = 12.5%",
            "PAYMENTS, ignore = PayError::is_declined",
        ],
        Kind::Retry => &[
            "attempts = 3, backoff = exponential(100ms, factor = 2, max = 2s), jitter = full, \
             when = ApiError::is_transient",
            "backoff = fixed(1s), jitter = none",
            "attempts = 5, backoff = linear(100ms, max = 1s), jitter = equal, fallback = Self::f",
            "backoff = exponential(1s, max = 10s), jitter = decorrelated, crate = ::resilience",
        ],
        Kind::Timeout => &["2s", "800ms, name = \"t\", fallback = f", "TIMEOUT"],
        Kind::Bulkhead => &[
            "max = 10, queue = 5, wait = 1s",
            "max = 1",
            "POOL, fallback = f",
        ],
        Kind::RateLimiter => &["100/s", "6000/m, burst = 10, wait = 100ms", "LIMIT"],
        Kind::Fallback => &["cached", "Self::fallback", "crate::cache::get"],
        Kind::Chaos => &[
            "error = 5%, error_with = ApiError::injected",
            "latency = 10%, delay = 200ms..2s, outcome = 1%, outcome_with = stale, seed = 42",
            "CHAOS, error_with = E::injected",
        ],
        Kind::Idempotent => &[
            "key = req.idempotency_key, ttl = 24h, capacity = 100_000",
            "key = order.id",
            "PAYMENTS_ONCE, key = req.key",
        ],
        Kind::Cache => &[
            "ttl = 30s, key = sku, stale = 5m, refresh = 25s, capacity = 10_000",
            "ttl = 1s",
            "PRICES, key = sku",
        ],
        Kind::Hedge => &[
            "after = 50ms, max = 2",
            "after = p99.9, initial = 200ms, budget = API_RETRIES",
            "HEDGE",
        ],
    }
}

const ITEM: &str = "async fn get(id: u32) -> Result<u32, Error> { Ok(id) }";

fn lex(text: &str) -> TokenStream {
    match TokenStream::from_str(text) {
        Ok(tokens) => tokens,
        Err(e) => panic!("the generator wrote text that does not lex: {text:?}: {e}"),
    }
}

/// One token tree as text: a leaf, or a group of trees (possibly empty).
fn tree() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        3 => select(idents()).prop_map(str::to_owned),
        3 => select(LITERALS).prop_map(str::to_owned),
        2 => select(PUNCTS).prop_map(str::to_owned),
    ];
    leaf.prop_recursive(4, 64, 8, |inner| {
        (
            select(&[("(", ")"), ("[", "]"), ("{", "}")][..]),
            prop::collection::vec(inner, 0..8),
        )
            .prop_map(|((open, close), items)| format!("{open}{}{close}", items.join(" ")))
    })
}

/// Fully random token streams.
fn random_tokens() -> impl Strategy<Value = String> {
    prop::collection::vec(tree(), 0..12).prop_map(|trees| trees.join(" "))
}

/// An edit of a token stream; `at` counts token trees in pre-order, groups' contents included.
#[derive(Clone, Debug)]
enum Mutation {
    Delete,
    Duplicate,
    SwapWithNext,
    Replace(String),
    Insert(String),
    /// Wraps the tree in an invisible group, as a `macro_rules!` `$x:expr` would.
    WrapInvisible,
    WrapInParens,
    TruncateAfter,
}

fn mutation() -> impl Strategy<Value = (usize, Mutation)> {
    let m = prop_oneof![
        Just(Mutation::Delete),
        Just(Mutation::Duplicate),
        Just(Mutation::SwapWithNext),
        tree().prop_map(Mutation::Replace),
        tree().prop_map(Mutation::Insert),
        Just(Mutation::WrapInvisible),
        Just(Mutation::WrapInParens),
        Just(Mutation::TruncateAfter),
    ];
    (0..64usize, m)
}

/// Applies `m` at the `at`-th tree of `tokens` (pre-order); false when there are fewer trees.
fn mutate(tokens: &mut Vec<TokenTree>, at: &mut usize, m: &Mutation) -> bool {
    for i in 0..tokens.len() {
        if *at == 0 {
            apply(tokens, i, m);
            return true;
        }
        *at -= 1;
        if let TokenTree::Group(g) = &tokens[i] {
            let mut inner: Vec<TokenTree> = g.stream().into_iter().collect();
            if mutate(&mut inner, at, m) {
                let mut group = Group::new(g.delimiter(), inner.into_iter().collect());
                group.set_span(g.span());
                tokens[i] = TokenTree::Group(group);
                return true;
            }
        }
    }
    false
}

fn apply(tokens: &mut Vec<TokenTree>, i: usize, m: &Mutation) {
    let wrap = |delimiter, tree: &TokenTree| {
        let mut group = Group::new(delimiter, TokenStream::from(tree.clone()));
        group.set_span(tree.span());
        TokenTree::Group(group)
    };
    match m {
        Mutation::Delete => {
            tokens.remove(i);
        }
        Mutation::Duplicate => tokens.insert(i, tokens[i].clone()),
        Mutation::SwapWithNext if i + 1 < tokens.len() => tokens.swap(i, i + 1),
        Mutation::SwapWithNext => {}
        Mutation::Replace(text) => {
            tokens.splice(i..=i, lex(text));
        }
        Mutation::Insert(text) => {
            tokens.splice(i..i, lex(text));
        }
        Mutation::WrapInvisible => tokens[i] = wrap(Delimiter::None, &tokens[i]),
        Mutation::WrapInParens => tokens[i] = wrap(Delimiter::Parenthesis, &tokens[i]),
        Mutation::TruncateAfter => tokens.truncate(i + 1),
    }
}

/// A valid option list of `kind` with one to four mutations.
fn mutated_args(kind: Kind) -> impl Strategy<Value = TokenStream> {
    (
        select(valid_args(kind)),
        prop::collection::vec(mutation(), 1..5),
    )
        .prop_map(|(text, mutations)| {
            let mut tokens: Vec<TokenTree> = lex(text).into_iter().collect();
            for (at, m) in &mutations {
                mutate(&mut tokens, &mut at.clone(), m);
            }
            tokens.into_iter().collect()
        })
}

/// Arguments of `kind`: random, or valid and mutated.
fn hostile_args(kind: Kind) -> impl Strategy<Value = TokenStream> {
    prop_oneof![random_tokens().prop_map(|t| lex(&t)), mutated_args(kind),]
}

/// Where the item comes from, and so what must be in the output beside an error.
#[derive(Clone, Debug)]
enum Item {
    /// `ITEM`.
    Plain,
    /// `ITEM` under another of our attributes whose arguments are hostile too.
    Stacked(TokenStream),
    /// Random tokens, most of them not a function at all.
    Random(String),
}

fn hostile_item(kind: Kind) -> impl Strategy<Value = Item> {
    prop_oneof![
        6 => Just(Item::Plain),
        3 => hostile_args(kind).prop_map(Item::Stacked),
        1 => random_tokens().prop_map(Item::Random),
    ]
}

impl Item {
    fn tokens(&self) -> TokenStream {
        match self {
            Item::Plain => lex(ITEM),
            Item::Stacked(args) => {
                let mut tokens = lex("#[retry]");
                let mut stream: Vec<TokenTree> = tokens.clone().into_iter().collect();
                if let Some(TokenTree::Group(attr)) = stream.last_mut() {
                    let mut inner: Vec<TokenTree> = attr.stream().into_iter().collect();
                    let paren = Group::new(Delimiter::Parenthesis, args.clone());
                    inner.push(TokenTree::Group(paren));
                    let mut group = Group::new(attr.delimiter(), inner.into_iter().collect());
                    group.set_span(attr.span());
                    *attr = group;
                }
                tokens = stream.into_iter().collect();
                tokens.extend(lex(ITEM));
                tokens
            }
            Item::Random(text) => lex(text),
        }
    }
}

/// The message and span of every `compile_error!` in `tokens`.
fn compile_errors(tokens: TokenStream, out: &mut Vec<(Span, String)>) {
    let trees: Vec<TokenTree> = tokens.into_iter().collect();
    for (i, tree) in trees.iter().enumerate() {
        match tree {
            TokenTree::Ident(id) if id == "compile_error" => {
                let message = match trees.get(i + 2) {
                    Some(TokenTree::Group(g)) => g.stream().to_string(),
                    _ => String::new(),
                };
                out.push((id.span(), message));
            }
            TokenTree::Group(g) => compile_errors(g.stream(), out),
            _ => {}
        }
    }
}

/// Errors that are about something missing, or about the item as a whole, and so are rightly
/// spanned at the attribute (the call site) rather than at one of its tokens.
fn is_about_the_whole_attribute(message: &str) -> bool {
    [
        "goes on an `async fn`",
        "needs a duration",
        "needs a rate",
        "is required",
        "] needs ",
    ]
    .iter()
    .any(|m| message.contains(m))
}

fn check_attribute(kind: Kind, args: TokenStream, item: &Item) -> Result<(), TestCaseError> {
    let item_tokens = item.tokens();
    let case = format!("#[{}({args})] {item_tokens}", kind.attr_name());
    let out = catch_unwind(AssertUnwindSafe(|| {
        expand::attribute(kind, args.clone(), item_tokens.clone())
    }))
    .map_err(|_| TestCaseError::fail(format!("the macro panicked on {case}")))?;
    let mut errors = Vec::new();
    compile_errors(out.clone(), &mut errors);
    if parse_args(args).is_err() {
        prop_assert!(
            !errors.is_empty(),
            "arguments that do not parse were accepted: {case}"
        );
    }
    if errors.is_empty() {
        return Ok(());
    }
    let text = out.to_string();
    match item {
        Item::Plain | Item::Stacked(_) => prop_assert!(
            text.contains("fn get"),
            "the item is missing beside the error: {case}\n=> {text}"
        ),
        // What does not parse as a function is emitted as it came.
        Item::Random(_) if syn::parse2::<syn::ItemFn>(item_tokens.clone()).is_err() => {
            prop_assert!(
                text.starts_with(&item_tokens.to_string()),
                "the item is missing beside the error: {case}\n=> {text}"
            )
        }
        Item::Random(_) => {}
    }
    check_spans(&errors, &case, false)
}

/// `truncated_is_whole`: for `policy!`, a declaration cut short is the whole macro's input.
fn check_spans(
    errors: &[(Span, String)],
    case: &str,
    truncated_is_whole: bool,
) -> Result<(), TestCaseError> {
    for (span, message) in errors {
        let whole = is_about_the_whole_attribute(message)
            || truncated_is_whole && message.contains("unexpected end of input");
        prop_assert!(
            span.byte_range() != (0..0) || whole,
            "an error about a token is spanned at the call site: {message}\nin {case}"
        );
    }
    Ok(())
}

const DECLARED: &[(&str, Kind)] = &[
    ("CircuitBreaker = circuit_breaker", Kind::CircuitBreaker),
    ("Retry = retry", Kind::Retry),
    ("Timeout = timeout", Kind::Timeout),
    ("Bulkhead = bulkhead", Kind::Bulkhead),
    ("RateLimiter = rate_limiter", Kind::RateLimiter),
];

/// `policy!` input: a declaration whose arguments are hostile, or random tokens.
fn hostile_policy() -> impl Strategy<Value = (TokenStream, bool)> {
    let declaration =
        (select(DECLARED), any::<prop::sample::Index>()).prop_flat_map(|((decl, kind), _)| {
            hostile_args(kind).prop_map(move |args| {
                let mut tokens = lex(&format!("/// Docs.\npub static P: {decl}"));
                tokens.extend([TokenTree::Group(Group::new(Delimiter::Parenthesis, args))]);
                tokens.extend(lex(";"));
                (tokens, true)
            })
        });
    prop_oneof![
        3 => declaration,
        1 => random_tokens().prop_map(|t| (lex(&t), false)),
    ]
}

fn check_policy(input: TokenStream, is_declaration: bool) -> Result<(), TestCaseError> {
    let case = format!("policy! {{ {input} }}");
    let out = catch_unwind(AssertUnwindSafe(|| expand::policy(input.clone())))
        .map_err(|_| TestCaseError::fail(format!("the macro panicked on {case}")))?;
    let mut errors = Vec::new();
    compile_errors(out.clone(), &mut errors);
    if is_declaration {
        // The static is declared even when its configuration is wrong, so its uses type-check.
        prop_assert!(
            out.to_string().contains("static P"),
            "the static is missing: {case}\n=> {out}"
        );
    }
    check_spans(&errors, &case, true)
}

fn config() -> Config {
    Config {
        cases: 2000,
        failure_persistence: None,
        ..Config::default()
    }
}

macro_rules! attribute_tests {
    ($($name:ident: $kind:expr;)*) => {$(
        proptest! {
            #![proptest_config(config())]
            #[test]
            fn $name((args, item) in (hostile_args($kind), hostile_item($kind))) {
                check_attribute($kind, args, &item)?;
            }
        }
    )*};
}

attribute_tests! {
    arbitrary_tokens_never_panic_the_circuit_breaker_parser: Kind::CircuitBreaker;
    arbitrary_tokens_never_panic_the_retry_parser: Kind::Retry;
    arbitrary_tokens_never_panic_the_timeout_parser: Kind::Timeout;
    arbitrary_tokens_never_panic_the_bulkhead_parser: Kind::Bulkhead;
    arbitrary_tokens_never_panic_the_rate_limiter_parser: Kind::RateLimiter;
    arbitrary_tokens_never_panic_the_fallback_parser: Kind::Fallback;
}

proptest! {
    #![proptest_config(config())]
    #[test]
    fn arbitrary_tokens_never_panic_the_policy_parser((input, is_declaration) in hostile_policy()) {
        check_policy(input, is_declaration)?;
    }
}

#[test]
fn every_hostile_leaf_lexes() {
    for text in idents().iter().chain(LITERALS).chain(PUNCTS) {
        assert!(!lex(text).is_empty(), "{text}");
    }
}

/// Found by the policy proptest: a declaration cut short after its attributes or visibility
/// was reported at the call site; it is reported at what came before the missing declaration.
#[test]
fn a_declaration_missing_after_its_attributes_or_visibility_is_reported_there() {
    for input in ["#[threshold]", "/// Docs.\npub", "pub(crate)"] {
        let case = format!("policy! {{ {input} }}");
        let out = expand::policy(lex(input));
        let mut errors = Vec::new();
        compile_errors(out, &mut errors);
        assert!(!errors.is_empty(), "accepted: {case}");
        for (span, message) in &errors {
            assert!(
                message.contains("expected a declaration"),
                "{case}: {message}"
            );
            assert_ne!(span.byte_range(), 0..0, "spanned at the call site: {case}");
        }
    }
}
