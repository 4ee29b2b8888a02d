//! A family's keys, of any type: stored type-erased ([`AnyKey`]), looked up by reference
//! ([`Probe`]) without allocating or converting.
//!
//! A family is one type (`KeyedRateLimiter`) whatever its keys are, so its map holds keys as
//! `dyn` values. A probe hashes as its owned form does (`Borrow` requires it: a `&str` hashes
//! as its `String`), and is equal to a stored key of its owned type that borrows as equal to
//! it.

use std::any::Any;
use std::borrow::Borrow;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::marker::PhantomData;

/// A key as a family's map holds it: its owned form, boxed.
pub(crate) struct AnyKey(Box<dyn StoredKey>);

/// What a stored key does: hash, compare and print itself, and be downcast.
trait StoredKey: fmt::Display + Send + Sync + 'static {
    fn hash_into(&self, state: &mut dyn Hasher);
    fn eq_key(&self, other: &dyn StoredKey) -> bool;
    fn as_any(&self) -> &dyn Any;
}

impl<K: Hash + Eq + fmt::Display + Send + Sync + 'static> StoredKey for K {
    fn hash_into(&self, mut state: &mut dyn Hasher) {
        self.hash(&mut state);
    }

    fn eq_key(&self, other: &dyn StoredKey) -> bool {
        other.as_any().downcast_ref::<K>() == Some(self)
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

impl AnyKey {
    pub(crate) fn new<K: Hash + Eq + fmt::Display + Send + Sync + 'static>(key: K) -> Self {
        AnyKey(Box::new(key))
    }
}

impl Hash for AnyKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.0.hash_into(state);
    }
}

impl PartialEq for AnyKey {
    fn eq(&self, other: &Self) -> bool {
        self.0.eq_key(&*other.0)
    }
}

impl Eq for AnyKey {}

impl fmt::Display for AnyKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A key looked up by reference: `&Q`, whose owned form is `Q::Owned`.
pub(crate) struct Probe<'a, Q: ?Sized + ToOwned> {
    key: &'a Q,
    owned: PhantomData<fn() -> Q::Owned>,
}

impl<'a, Q: ?Sized + ToOwned> Probe<'a, Q> {
    pub(crate) fn new(key: &'a Q) -> Self {
        Probe {
            key,
            owned: PhantomData,
        }
    }
}

impl<Q> Hash for Probe<'_, Q>
where
    Q: Hash + ?Sized + ToOwned,
{
    fn hash<H: Hasher>(&self, state: &mut H) {
        // As the owned form hashes: `Borrow` requires the two to agree. The stored key writes
        // the same calls through a `dyn Hasher` (which forwards every one of them), so the two
        // hash alike; the probe's are direct, and inlined on the call's path.
        self.key.hash(state);
    }
}

impl<Q> papaya::Equivalent<AnyKey> for Probe<'_, Q>
where
    Q: Eq + ?Sized + ToOwned,
    Q::Owned: Borrow<Q> + 'static,
{
    fn equivalent(&self, stored: &AnyKey) -> bool {
        stored
            .0
            .as_any()
            .downcast_ref::<Q::Owned>()
            .is_some_and(|owned| owned.borrow() == self.key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::hash::BuildHasher;

    #[test]
    fn a_borrowed_key_hashes_and_compares_as_its_owned_form() {
        let s = foldhash::fast::RandomState::default();
        let stored = AnyKey::new(String::from("acme"));
        let probe = Probe::<str>::new("acme");
        assert_eq!(s.hash_one(&stored), s.hash_one(&probe));
        assert!(papaya::Equivalent::equivalent(&probe, &stored));
        assert!(!papaya::Equivalent::equivalent(
            &Probe::<str>::new("globex"),
            &stored
        ));
    }

    #[test]
    fn keys_of_two_types_are_two_keys() {
        let number = AnyKey::new(7_u64);
        let text = AnyKey::new(String::from("7"));
        assert!(number != text);
        assert!(!papaya::Equivalent::equivalent(
            &Probe::<str>::new("7"),
            &number
        ));
        assert!(papaya::Equivalent::equivalent(
            &Probe::<u64>::new(&7),
            &number
        ));
        assert_eq!(number.to_string(), "7");
    }
}
