//! What the behaviour tests share: an error type that can carry a rejection, and a counter.

#![allow(dead_code)]

use resilience::ErrorKind;
use std::sync::atomic::{AtomicU32, Ordering};

/// The error of the functions under test.
#[derive(Debug, Clone, PartialEq)]
pub enum ApiError {
    /// A transient failure, worth retrying.
    Down,
    /// A failure that retrying cannot fix.
    Permanent,
    /// A policy rejected the call.
    Rejected(resilience::Error),
}

impl From<resilience::Error> for ApiError {
    fn from(e: resilience::Error) -> Self {
        ApiError::Rejected(e)
    }
}

impl ApiError {
    /// Whether a retry may help.
    pub fn is_transient(&self) -> bool {
        matches!(self, ApiError::Down)
    }

    /// Whether the breaker should not count it.
    pub fn is_permanent(&self) -> bool {
        matches!(self, ApiError::Permanent)
    }

    /// The kind of the rejection, if it is one.
    pub fn rejection(&self) -> Option<ErrorKind> {
        match self {
            ApiError::Rejected(e) => Some(e.kind()),
            _ => None,
        }
    }

    /// The name of the policy that rejected the call, if it is a rejection.
    pub fn policy(&self) -> Option<&'static str> {
        match self {
            ApiError::Rejected(e) => Some(e.policy()),
            _ => None,
        }
    }
}

/// A call counter for one function under test.
pub struct Calls(AtomicU32);

impl Calls {
    /// Zero calls.
    pub const fn new() -> Self {
        Calls(AtomicU32::new(0))
    }

    /// Counts a call and returns its number, from 1.
    pub fn hit(&self) -> u32 {
        self.0.fetch_add(1, Ordering::SeqCst) + 1
    }

    /// Calls so far.
    pub fn get(&self) -> u32 {
        self.0.load(Ordering::SeqCst)
    }
}
