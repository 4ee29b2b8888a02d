//! The identity of a keyed child: one tenant's limiter, one host's breaker.
//!
//! A policy's name is its family's (`PER_TENANT`), `'static` and known at build time. A keyed
//! family makes a child per key at run time, and may evict it; the child has no `'static`
//! name of its own. It is named by a [`KeyId`]: a `Copy` number, taken once when the child is
//! made, carried by its errors ([`Error::key`](crate::Error::key)) and events
//! ([`Event::key`](crate::Event::key)) at no cost on the call path, and read as text
//! ([`KeyId::name`], `Display`) only where someone reports it: `PER_TENANT[acme]`.
//!
//! The text of every key is kept in one table for the life of the process, so a `KeyId` stays
//! readable after its child is evicted (an error returned a minute ago still names its key).
//! The same key of the same family always gets the same id, so a child made again after an
//! eviction reports as before. The table grows with the distinct keys a program ever names
//! (each once); a family's `max_keys` bounds what it holds alive, not this table of names.

use std::collections::HashMap;
use std::fmt;
use std::num::NonZeroU32;
use std::sync::{Mutex, MutexGuard, PoisonError};

/// The identity of one keyed child (one tenant's limiter, one host's breaker), beside its
/// family's name: a number taken once when the child is made, read as text
/// ([`name`](Self::name): `PER_TENANT[acme]`) only where it is reported. The same key of the
/// same family always has the same id, and stays readable after its child is evicted. `Copy`,
/// 4 bytes, and `Option<KeyId>` is 4 bytes too.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyId(NonZeroU32);

/// The names of every key, by id (id `n` is at index `n - 1`), and the ids by (family, key).
#[derive(Default)]
struct Table {
    names: Vec<(&'static str, Box<str>)>,
    ids: HashMap<(&'static str, Box<str>), KeyId>,
}

static TABLE: Mutex<Option<Table>> = Mutex::new(None);

/// A poisoned lock only means a panic elsewhere while it was held: the table is still whole
/// (every change is one push and one insert, made after the checks that can fail).
fn table() -> MutexGuard<'static, Option<Table>> {
    TABLE.lock().unwrap_or_else(PoisonError::into_inner)
}

impl KeyId {
    /// The id of `key` in `family`: the one it had if it was named before, else a new one.
    /// Called when a keyed family makes a child, never on a call that finds its child.
    ///
    /// Returns `None` once `u32::MAX - 1` distinct keys have been named: the caller then
    /// reports the family alone.
    pub fn of(family: &'static str, key: &str) -> Option<KeyId> {
        let mut guard = table();
        let table = guard.get_or_insert_with(Table::default);
        let probe = (family, Box::<str>::from(key));
        if let Some(&id) = table.ids.get(&probe) {
            return Some(id);
        }
        let next = u32::try_from(table.names.len() + 1).ok()?;
        let id = KeyId(NonZeroU32::new(next)?);
        table.names.push((family, probe.1.clone()));
        table.ids.insert(probe, id);
        Some(id)
    }

    /// The key, as its `Display` wrote it when the child was made: `acme`.
    pub fn key(self) -> String {
        self.with(|_, key| key.to_owned())
    }

    /// The family's name and the key: `PER_TENANT[acme]`.
    pub fn name(self) -> String {
        self.with(|family, key| format!("{family}[{key}]"))
    }

    /// The family the key belongs to.
    pub fn family(self) -> &'static str {
        self.with(|family, _| family)
    }

    fn with<R>(self, f: impl FnOnce(&'static str, &str) -> R) -> R {
        let guard = table();
        // Every id was made by `of`, which pushed its name first: the entry exists.
        let (family, key) = guard
            .as_ref()
            .and_then(|t| t.names.get(self.0.get() as usize - 1))
            .map_or(("?", "?"), |(f, k)| (*f, &**k));
        f(family, key)
    }
}

/// The key alone (`acme`): an event or error prints its family's name beside it.
impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.with(|_, key| f.write_str(key))
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.with(|family, key| write!(f, "KeyId({}: {family}[{key}])", self.0))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests may unwrap")]
mod tests {
    use super::*;

    #[test]
    fn one_key_of_one_family_has_one_id_and_reads_back() {
        let a = KeyId::of("key-tests::TENANTS", "acme").unwrap();
        let b = KeyId::of("key-tests::TENANTS", "globex").unwrap();
        assert_ne!(a, b);
        assert_eq!(KeyId::of("key-tests::TENANTS", "acme"), Some(a));
        assert_eq!(a.to_string(), "acme");
        assert_eq!(a.key(), "acme");
        assert_eq!(a.family(), "key-tests::TENANTS");
        assert_eq!(b.name(), "key-tests::TENANTS[globex]");
    }

    #[test]
    fn the_same_key_of_two_families_is_two_children() {
        let a = KeyId::of("key-tests::HOSTS", "db-1").unwrap();
        let b = KeyId::of("key-tests::POOLS", "db-1").unwrap();
        assert_ne!(a, b);
        assert_eq!(a.name(), "key-tests::HOSTS[db-1]");
        assert_eq!(b.name(), "key-tests::POOLS[db-1]");
    }

    #[test]
    fn an_optional_id_costs_no_more_than_an_id() {
        assert_eq!(size_of::<Option<KeyId>>(), 4);
    }
}
