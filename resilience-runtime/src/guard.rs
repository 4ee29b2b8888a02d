//! The drop guard every policy that holds something (a slot, a probe, a reservation) puts around
//! a call, so a cancelled or panicking call releases it.

/// How a guarded call ended without reaching [`OnExit::complete`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Exit {
    /// The future was dropped before it completed.
    Cancelled,
    /// The call panicked; the panic keeps unwinding after the guard ran.
    Panicked,
}

impl Exit {
    /// How a call dropped now ended: a drop while unwinding belongs to a panic.
    pub(crate) fn of_drop() -> Exit {
        if std::thread::panicking() {
            Exit::Panicked
        } else {
            Exit::Cancelled
        }
    }
}

/// Runs `f` with the way the call ended if it is dropped before [`OnExit::complete`].
///
/// `complete` forgets the guard instead of clearing a flag, so a call that completes pays
/// for no "armed" state: the guard's fields are only read on the unwinding or cancelled
/// path. `f` must therefore own nothing that needs dropping (it borrows what it touches);
/// `complete` checks that at compile time.
#[must_use]
pub(crate) struct OnExit<F: FnMut(Exit)> {
    f: F,
}

impl<F: FnMut(Exit)> OnExit<F> {
    #[inline]
    pub(crate) fn new(f: F) -> Self {
        OnExit { f }
    }

    /// The call completed: the guard does nothing more.
    #[inline]
    pub(crate) fn complete(self) {
        const {
            assert!(
                !std::mem::needs_drop::<F>(),
                "an exit guard's closure must only borrow"
            )
        };
        std::mem::forget(self);
    }
}

impl<F: FnMut(Exit)> Drop for OnExit<F> {
    #[inline]
    fn drop(&mut self) {
        // A guard dropped while unwinding belongs to the call that panicked: policies only
        // drop a pending call's guard on unwinding through that call's own poll.
        (self.f)(Exit::of_drop());
    }
}
