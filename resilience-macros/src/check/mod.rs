//! The checks of one option's value, shared by every kind: [`values`], parsing one value
//! (durations, counts, percentages, rates, windows, callables); [`calls`], the values written as
//! calls (backoffs and the open wait); [`bounds`], the ranges of counts and durations from the
//! option table; [`options`], the options each attribute takes, their examples and the messages
//! for one that is not among them. Errors are collected in a [`Ctxt`], each at its token.

pub(crate) mod bounds;
pub(crate) mod calls;
pub(crate) mod options;
pub(crate) mod values;

use proc_macro2::Span;
use syn::Ident;

use crate::model::Kind;

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

impl Site<'_> {
    /// The attribute of `kind` as written here: `#[bulkhead]`, or `bulkhead(...)` in `policy!`.
    pub fn written(&self, kind: Kind) -> String {
        match self {
            Site::Attribute => format!("#[{}]", kind.attr_name()),
            Site::Declaration(_) => format!("{}(...)", kind.attr_name()),
        }
    }
}
