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

/// Runs `f` with the way the call ended if it is dropped before [`OnExit::complete`].
#[must_use]
pub(crate) struct OnExit<F: FnOnce(Exit)> {
    f: Option<F>,
}

impl<F: FnOnce(Exit)> OnExit<F> {
    #[inline]
    pub(crate) fn new(f: F) -> Self {
        OnExit { f: Some(f) }
    }

    /// The call completed: the guard does nothing more.
    #[inline]
    pub(crate) fn complete(mut self) {
        self.f = None;
    }
}

impl<F: FnOnce(Exit)> Drop for OnExit<F> {
    #[inline]
    fn drop(&mut self) {
        if let Some(f) = self.f.take() {
            // A guard dropped while unwinding belongs to the call that panicked: policies only
            // drop a pending call's guard on unwinding through that call's own poll.
            let exit = if std::thread::panicking() {
                Exit::Panicked
            } else {
                Exit::Cancelled
            };
            f(exit);
        }
    }
}
