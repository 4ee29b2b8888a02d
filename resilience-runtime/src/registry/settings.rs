//! Settings by key: changes written as in the attributes, checked together, applied together.

use super::{Policy, RegistryError};
use crate::describe::Change;

/// The keys of `policy`'s kind: the attributes' settings, after the positional value's own key
/// for a timeout (`duration`) and a rate limiter (`rate`).
pub(crate) fn keys(policy: Policy) -> Vec<&'static str> {
    policy.describe().keys()
}

/// Changes to the settings of named policies, written as in the attributes, checked together
/// and applied together: [`apply`](Self::apply) changes every policy, or none.
///
/// | kind | keys |
/// |---|---|
/// | circuit breaker | `threshold = "50%"`, `failures = 5`, `min_calls = 20`, `slow = "2s"` (or `"off"`), `slow_threshold = "80%"`, `open = "30s"` or `"exponential(5s, max = 5m)"`, `half_open = 3`, `critical = true`, `window = 100` or `"60s"` (a new window starts empty; a count window below a given `min_calls` is an error stating both: lower `min_calls` first, or in the same change set) |
/// | retry | `attempts = 3`, `backoff = "exponential(100ms, max = 10s)"`, `jitter = "full"` (a new backoff without `jitter` gets its default jitter) |
/// | timeout | `duration = "800ms"` |
/// | bulkhead | `max = 10`, `queue = 20` (`0` also drops `wait`), `wait = "500ms"` (or `"none"`: until a slot frees) |
/// | rate limiter | `rate = "100/s"`, `burst = 10` (a burst equal to the old rate's count follows a new rate), `wait = "50ms"` |
///
/// ```
/// use resilience_runtime::{registry, Retry};
/// static FETCH: Retry = match Retry::builder("docs::fetch/retry").build() { Ok(r) => r, Err(_) => panic!() };
/// registry::register(&FETCH);
///
/// let mut changes = registry::ChangeSet::new();
/// changes.set("docs::fetch/retry", "attempts", "5").unwrap();
/// changes.set("docs::fetch/retry", "backoff", "fixed(0ms)").unwrap(); // parses; `build` refuses it
/// let e = changes.apply().unwrap_err();
/// assert_eq!(e.field(), Some("backoff"));
/// assert_eq!(FETCH.attempts(), 3); // nothing changed
/// ```
#[derive(Clone, Debug, Default)]
pub struct ChangeSet {
    pending: Vec<(String, Policy, Box<dyn Change>)>,
    /// The (policy, key) pairs given, to say which of two settings that disagree was changed.
    given: Vec<(String, String)>,
}

impl ChangeSet {
    /// No changes yet.
    pub fn new() -> Self {
        ChangeSet::default()
    }

    /// Adds a change: `key` of the policy registered as `name` becomes `value`.
    ///
    /// # Errors
    ///
    /// An unknown policy or key (with the close matches), or a value that does not parse.
    /// The value is checked against the policy's other settings by [`apply`](Self::apply).
    pub fn set(&mut self, name: &str, key: &str, value: &str) -> Result<(), RegistryError> {
        self.set_value(name, key, value)?;
        if !self.given.iter().any(|(n, k)| n == name && k == key) {
            self.given.push((name.to_owned(), key.to_owned()));
        }
        Ok(())
    }

    /// Sets `key` in the pending settings of `name`, without recording it as given.
    fn set_value(&mut self, name: &str, key: &str, value: &str) -> Result<(), RegistryError> {
        let index = match self.pending.iter().position(|(n, ..)| n == name) {
            Some(i) => i,
            None => {
                let policy = super::get(name)?;
                let change = policy.describe().change();
                self.pending.push((name.to_owned(), policy, change));
                self.pending.len() - 1
            }
        };
        let (_, policy, pending) = &mut self.pending[index];
        match pending.set(key, value) {
            Ok(true) => Ok(()),
            Ok(false) => Err(RegistryError::unknown_setting(
                name,
                policy.kind(),
                key,
                &keys(*policy),
            )),
            Err(message) => Err(RegistryError::invalid_value(name, key, message)),
        }
    }

    /// Checks every change as the policies' builders check them, without applying any.
    ///
    /// # Errors
    ///
    /// The first policy whose new settings its builder refuses, naming the field.
    pub fn check(&self) -> Result<(), RegistryError> {
        for (name, _, pending) in &self.pending {
            pending.check().map_err(|e| {
                let given = |key: &str| self.given.iter().any(|(n, k)| n == name && k == key);
                // Two values that disagree: said of the one this change set.
                match pending.explain(&given) {
                    Some((key, message)) => RegistryError::invalid_value(name, key, message),
                    None => RegistryError::config(name, e),
                }
            })?;
        }
        Ok(())
    }

    /// Checks every change, then applies them all; on error, nothing changes. Each policy
    /// takes its new settings from its next call; its state and counters are kept.
    ///
    /// # Errors
    ///
    /// As [`check`](Self::check).
    pub fn apply(self) -> Result<(), RegistryError> {
        self.check()?;
        for (name, _, pending) in &self.pending {
            // Checked above: the same checks, on the same values.
            pending
                .apply()
                .map_err(|e| RegistryError::config(name, e))?;
        }
        Ok(())
    }

    /// Whether no change was added.
    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }
}
