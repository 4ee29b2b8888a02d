//! A policy's name: the one it was built with, or its path when another `policy!` static shares it.
//!
//! Two `policy!` statics of different modules may be declared with the same name (`DB`). The
//! registry finds them (every declaration is listed at link time) and gives each its path
//! (`app::a::DB`), which it then reports everywhere: events, rejections, snapshots, metrics.
//! That is settled once, before any name is reported, so a policy never reports two names.

use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

/// What a policy reports itself as. Read only where a name is reported (an event someone
/// receives, a rejection, a snapshot), never on a call's success path.
pub(crate) struct Name {
    /// The name given to the builder.
    built: &'static str,
    /// For a `policy!` static whose name another one shares, 1 + the index of its declaration
    /// in the registry's sites, which hold its path; 0 otherwise. Set once by the registry.
    /// (An index rather than a `OnceLock`: a policy must have no destructor to be built in a
    /// `static`.)
    site: AtomicUsize,
}

impl Name {
    pub(crate) const fn new(built: &'static str) -> Self {
        Name {
            built,
            site: AtomicUsize::new(0),
        }
    }

    /// The name given to the builder, whatever the registry found.
    pub(crate) const fn built(&self) -> &'static str {
        self.built
    }

    /// The name the policy reports: its path when its built name is ambiguous, else the
    /// built name.
    pub(crate) fn get(&self) -> &'static str {
        // Under loom there is no registry: only the cores are built.
        #[cfg(not(resilience_loom))]
        {
            crate::registry::resolve_names();
            if let Some(path) = self.qualified() {
                return path;
            }
        }
        self.built
    }

    /// The path it reports, if its built name is ambiguous. Read by the registry after the
    /// resolution, so it does not resolve.
    #[cfg(not(resilience_loom))]
    pub(crate) fn qualified(&self) -> Option<&'static str> {
        // Relaxed: stored before the resolution completed, which every reader waited for.
        match self.site.load(Relaxed) {
            0 => None,
            n => crate::registry::site_path(n - 1),
        }
    }

    /// Makes the policy report the path of its declaration, the registry's site `index`,
    /// because its built name is ambiguous. Only the registry's one resolution calls it.
    #[cfg(not(resilience_loom))]
    pub(crate) fn qualify(&self, index: usize) {
        // Relaxed: published by the resolution's `OnceLock`, which every reader waits for.
        self.site.store(index + 1, Relaxed);
    }
}

impl std::fmt::Debug for Name {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", self.get())
    }
}
