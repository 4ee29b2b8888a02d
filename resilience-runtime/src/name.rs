//! A policy's name: the one it was built with, or its path when another `policy!` static shares it.
//!
//! Two `policy!` statics of different modules may be declared with the same name (`DB`). The
//! registry finds them (every declaration is listed at link time) and gives each its path
//! (`app::a::DB`), which it then reports everywhere: events, rejections, snapshots, metrics.
//! That is settled once, before any name is reported, so a policy never reports two names.
//!
//! The declarations are a list of their own ([`DECLARED`]), apart from the registry's, so a
//! name depends on nothing above it: the policies report through it, and the registry lists
//! what it settled.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

use crate::key::KeyId;

/// A policy that has a [`Name`]: every kind. Not a public API.
#[doc(hidden)]
pub trait Named: Sync {
    /// Its name as built and as reported.
    fn name_of(&self) -> &Name;
}

/// One `policy!` static: its name and the path it reports when another static shares that
/// name. What `policy!` puts in [`DECLARED`]. Not a public API.
#[doc(hidden)]
pub struct Declared {
    policy: &'static dyn Named,
    path: &'static str,
}

impl Declared {
    /// The `policy!` static `policy`, declared at `path` (`app::db::DB`).
    pub const fn new(policy: &'static dyn Named, path: &'static str) -> Self {
        Declared { policy, path }
    }
}

impl std::fmt::Debug for Declared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} at {}", self.policy.name_of().built, self.path)
    }
}

/// Every `policy!` static, collected by the linker. Not a public API.
#[doc(hidden)]
#[linkme::distributed_slice]
pub static DECLARED: [Declared];

/// The names that two or more `policy!` statics were declared with, found once; sorted.
static AMBIGUOUS: OnceLock<Vec<&'static str>> = OnceLock::new();

/// Finds, once, the names that two or more `policy!` statics share, and makes each of those
/// statics report its path instead. Every reported name is read after this (see
/// [`Name::get`]), so no policy reports its short name first and its path later. The
/// declarations are fixed at link time; policies registered by hand have no path and take no
/// part (the registry tells them apart with `#2`).
pub(crate) fn ambiguous() -> &'static [&'static str] {
    AMBIGUOUS.get_or_init(|| {
        // Only built names and paths are read here: a reported name would wait for this.
        // (built name, path, declaration index, the name's address) of every `policy!` static.
        let mut shared: Vec<(&'static str, &'static str, usize, usize)> = DECLARED
            .iter()
            .enumerate()
            .map(|(i, d)| {
                let name = d.policy.name_of();
                (name.built, d.path, i, std::ptr::from_ref(name) as usize)
            })
            .collect();
        shared.sort_by_key(|&(name, path, i, _)| (name, path, i));
        shared.dedup_by_key(|&mut (.., address)| address);
        let mut ambiguous = Vec::new();
        for group in shared.chunk_by(|a, b| a.0 == b.0) {
            if let [(name, ..), _, ..] = group {
                for &(_, _, i, _) in group {
                    DECLARED[i].policy.name_of().qualify(i);
                }
                ambiguous.push(*name);
            }
        }
        ambiguous
    })
}

/// What a policy reports itself as. Read only where a name is reported (an event someone
/// receives, a rejection, a snapshot), never on a call's success path. Not a public API.
#[doc(hidden)]
pub struct Name {
    /// The name given to the builder.
    built: &'static str,
    /// For a `policy!` static whose name another one shares, 1 + the index of its declaration
    /// in [`DECLARED`], which holds its path; 0 otherwise. Set once by the registry.
    /// (An index rather than a `OnceLock`: a policy must have no destructor to be built in a
    /// `static`.)
    site: AtomicUsize,
    /// For the child of a keyed family, its key (the family's name is `built`).
    key: Option<KeyId>,
}

impl Name {
    pub(crate) const fn new(built: &'static str) -> Self {
        Name {
            built,
            site: AtomicUsize::new(0),
            key: None,
        }
    }

    /// The name of the child `key` of the family built as `built`.
    pub(crate) const fn keyed(built: &'static str, key: Option<KeyId>) -> Self {
        Name {
            built,
            site: AtomicUsize::new(0),
            key,
        }
    }

    /// The key, for the child of a keyed family.
    pub(crate) const fn key(&self) -> Option<KeyId> {
        self.key
    }

    /// The name given to the builder, whatever the registry found.
    pub(crate) const fn built(&self) -> &'static str {
        self.built
    }

    /// The name the policy reports: its path when its built name is ambiguous, else the
    /// built name.
    #[inline]
    pub(crate) fn get(&self) -> &'static str {
        ambiguous();
        self.qualified().unwrap_or(self.built)
    }

    /// The path it reports, if its built name is ambiguous. Read by the registry after the
    /// resolution, so it does not resolve.
    pub(crate) fn qualified(&self) -> Option<&'static str> {
        // Relaxed: stored before the resolution completed, which every reader waited for.
        match self.site.load(Relaxed) {
            0 => None,
            n => DECLARED.get(n - 1).map(|d| d.path),
        }
    }

    /// Makes the policy report the path of its declaration, [`DECLARED`]`[index]`,
    /// because its built name is ambiguous. Only the one resolution, [`ambiguous`], calls it.
    pub(crate) fn qualify(&self, index: usize) {
        // Relaxed: published by the resolution's `OnceLock`, which every reader waits for.
        self.site.store(index + 1, Relaxed);
    }
}

impl std::fmt::Debug for Name {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.key {
            Some(key) => write!(f, "\"{}[{key}]\"", self.get()),
            None => write!(f, "{:?}", self.get()),
        }
    }
}
