//! The identity of a keyed child: one tenant's limiter, one host's breaker.
//!
//! A policy's name is its family's (`PER_TENANT`), `'static` and known at build time. A keyed
//! family makes a child per key at run time, and may evict it; the child has no `'static`
//! name of its own. It is named by a [`KeyId`]: a `Copy` number, taken once when the child is
//! made, carried by its errors ([`Error::key`](crate::Error::key)) and events
//! ([`Event::key`](crate::Event::key)) at no cost on the call path, and read as text
//! ([`KeyId::name`], `Display`) only where someone reports it: `PER_TENANT[acme]`.
//!
//! The text of a key is kept in one table while its child lives, and a while after: a child's
//! id is released when the child is dropped (evicted, or its family reconfigured away), and its
//! slot is given to a new child only after [`KEEP_RELEASED`] other ids were released since, so
//! an error returned a moment ago still names its key. An id whose slot was given again reads
//! as `?`. The table holds the live children of every family and at most `KEEP_RELEASED` more:
//! it is bounded by the families' `max_keys`, not by the keys a program ever named.

use std::collections::VecDeque;
use std::fmt;
use std::num::NonZeroU64;
use std::sync::{Mutex, MutexGuard, PoisonError};

/// How many released ids keep their names before their slots are given again.
pub(crate) const KEEP_RELEASED: usize = 4096;

/// The identity of one keyed child (one tenant's limiter, one host's breaker), beside its
/// family's name: a number taken when the child is made, read as text
/// ([`name`](Self::name): `PER_TENANT[acme]`) only where it is reported. It reads back while
/// its child lives, and after the child is dropped until 4096 other ids have been
/// released (then as `?`). `Copy`, 8 bytes, and `Option<KeyId>` is 8 bytes too.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyId(NonZeroU64);

/// One slot of the table: the generation of the id that holds it, and the family and key.
struct Slot {
    generation: u32,
    /// Whether its id is held (not released).
    live: bool,
    family: &'static str,
    key: Box<str>,
}

/// The names of the keys, by slot; the released slots, oldest first.
#[derive(Default)]
struct Table {
    slots: Vec<Slot>,
    released: VecDeque<u32>,
}

static TABLE: Mutex<Table> = Mutex::new(Table {
    slots: Vec::new(),
    released: VecDeque::new(),
});

/// A poisoned lock only means a panic elsewhere while it was held: the table is still whole
/// (every change is made after the checks that can fail).
fn table() -> MutexGuard<'static, Table> {
    TABLE.lock().unwrap_or_else(PoisonError::into_inner)
}

impl KeyId {
    /// A new id for `key` (as its `Display` writes it) in `family`. Called when a keyed family
    /// makes a child, never on a call that finds its child. [`release`](Self::release) it
    /// when the child is dropped.
    ///
    /// Returns `None` if the table cannot grow (more than `u32::MAX` live children): the child
    /// then reports its family alone.
    pub(crate) fn of(family: &'static str, key: &dyn fmt::Display) -> Option<KeyId> {
        let key: Box<str> = key.to_string().into();
        let mut table = table();
        if table.released.len() > KEEP_RELEASED
            && let Some(index) = table.released.pop_front()
        {
            let slot = &mut table.slots[index as usize];
            slot.generation = slot.generation.wrapping_add(1);
            slot.live = true;
            slot.family = family;
            slot.key = key;
            return Some(KeyId::from_parts(index, slot.generation));
        }
        let index = u32::try_from(table.slots.len()).ok()?;
        table.slots.push(Slot {
            generation: 0,
            live: true,
            family,
            key,
        });
        Some(KeyId::from_parts(index, 0))
    }

    /// Gives the id back: its child is dropped. Its name stays readable until
    /// [`KEEP_RELEASED`] other ids have been released.
    pub(crate) fn release(self) {
        let (index, generation) = self.parts();
        let mut table = table();
        if let Some(slot) = table.slots.get_mut(index as usize)
            && slot.generation == generation
            && slot.live
        {
            slot.live = false;
            table.released.push_back(index);
        }
    }

    fn from_parts(index: u32, generation: u32) -> KeyId {
        // The slot is stored plus one, so the id is never zero.
        let raw = (u64::from(generation) << 32) | (u64::from(index) + 1);
        KeyId(NonZeroU64::new(raw).unwrap_or(NonZeroU64::MIN))
    }

    fn parts(self) -> (u32, u32) {
        let raw = self.0.get();
        let index = (raw & u64::from(u32::MAX)).wrapping_sub(1) as u32;
        (index, (raw >> 32) as u32)
    }

    /// The key, as its `Display` wrote it when the child was made: `acme`.
    pub fn key(self) -> String {
        self.with(|_, key| key.to_owned())
    }

    /// The family's name and the key: `PER_TENANT[acme]`.
    pub fn name(self) -> String {
        self.with(|family, key| format!("{family}[{key}]"))
    }

    /// The family the key belongs to (`?` once the id's slot was given again).
    pub fn family(self) -> &'static str {
        self.with(|family, _| family)
    }

    fn with<R>(self, f: impl FnOnce(&'static str, &str) -> R) -> R {
        let (index, generation) = self.parts();
        let table = table();
        match table.slots.get(index as usize) {
            Some(slot) if slot.generation == generation => f(slot.family, &slot.key),
            _ => f("?", "?"),
        }
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
        self.with(|family, key| write!(f, "KeyId({family}[{key}])"))
    }
}

/// How many ids are held now (not released), of every family.
#[cfg(test)]
pub(crate) fn held() -> usize {
    table().slots.iter().filter(|s| s.live).count()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests may unwrap")]
mod tests {
    use super::*;

    #[test]
    fn an_id_reads_back_its_family_and_key() {
        let a = KeyId::of("key-tests::TENANTS", &"acme").unwrap();
        let b = KeyId::of("key-tests::TENANTS", &"globex").unwrap();
        assert_ne!(a, b);
        assert_eq!(a.to_string(), "acme");
        assert_eq!(a.key(), "acme");
        assert_eq!(a.family(), "key-tests::TENANTS");
        assert_eq!(b.name(), "key-tests::TENANTS[globex]");
        let n = KeyId::of("key-tests::SHARDS", &17_u64).unwrap();
        assert_eq!(n.name(), "key-tests::SHARDS[17]");
    }

    #[test]
    fn a_released_id_reads_back_until_its_slot_is_given_again_and_the_table_stays_bounded() {
        let first = KeyId::of("key-tests::CHURN", &"first").unwrap();
        first.release();
        // Releasing twice, or an id whose slot moved on, changes nothing.
        first.release();
        assert_eq!(first.name(), "key-tests::CHURN[first]");
        let slots_before = table().slots.len();
        // Far more children than kept names, each dropped after use.
        for i in 0..3 * KEEP_RELEASED {
            KeyId::of("key-tests::CHURN", &i).unwrap().release();
        }
        // Other tests may take slots meanwhile, but never one per key named here.
        assert!(table().slots.len() < slots_before + KEEP_RELEASED + 64);
        assert_eq!(first.name(), "?[?]", "its slot was given to a later key");
        // The live ids still read back.
        let live = KeyId::of("key-tests::CHURN", &"live").unwrap();
        assert_eq!(live.key(), "live");
    }

    #[test]
    fn an_optional_id_costs_no_more_than_an_id() {
        assert_eq!(size_of::<Option<KeyId>>(), 8);
    }
}
