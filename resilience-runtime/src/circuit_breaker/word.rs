//! The breaker's state word: state, generation and half-open probe tallies packed in one `u64`,
//! so every state decision is a single compare-and-swap.
//!
//! Layout, low bits first:
//!
//! | bits   | field       | meaning                                                         |
//! |--------|-------------|-----------------------------------------------------------------|
//! | 0..3   | `state`     | [`State`], see [`encode_state`]                                 |
//! | 3..24  | `generation`| bumped on every transition; a call remembers the one it entered |
//! | 24..34 | `taken`     | half-open: probe slots taken (in flight or completed)           |
//! | 34..44 | `succeeded` | half-open: probes completed as successes                        |
//! | 44..54 | `failed`    | half-open: probes completed as failures                         |
//! | 54..64 | `slow`      | half-open: completed probes that were slow                      |
//!
//! The tallies are 0 outside half-open. Ten bits each bound the probe count by
//! [`MAX_HALF_OPEN_PROBES`]. The generation wraps after 2^21 transitions: a call would have to
//! stay in flight across exactly that many transitions to be mistaken for a current one.

use super::State;

/// The most probe calls a half-open breaker can admit (the tallies hold 10 bits each).
pub(crate) const MAX_HALF_OPEN_PROBES: u32 = 1000;

const STATE_BITS: u32 = 3;
const GENERATION_SHIFT: u32 = STATE_BITS;
const GENERATION_BITS: u32 = 21;
const TALLY_BITS: u32 = 10;
const TAKEN_SHIFT: u32 = GENERATION_SHIFT + GENERATION_BITS;
const SUCCEEDED_SHIFT: u32 = TAKEN_SHIFT + TALLY_BITS;
const FAILED_SHIFT: u32 = SUCCEEDED_SHIFT + TALLY_BITS;
const SLOW_SHIFT: u32 = FAILED_SHIFT + TALLY_BITS;
const STATE_MASK: u64 = (1 << STATE_BITS) - 1;
const GENERATION_MASK: u64 = (1 << GENERATION_BITS) - 1;
const TALLY_MASK: u64 = (1 << TALLY_BITS) - 1;

// The layout fills the word exactly, and the tallies can count every probe.
const _: () = assert!(SLOW_SHIFT + TALLY_BITS == 64);
const _: () = assert!(MAX_HALF_OPEN_PROBES as u64 <= TALLY_MASK);

/// A decoded copy of the state word. Plain data: the atomics live in the core.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Word(pub(crate) u64);

const fn encode_state(state: State) -> u64 {
    match state {
        State::Closed => 0,
        State::Open => 1,
        State::HalfOpen => 2,
        State::ForcedOpen => 3,
        State::Disabled => 4,
        State::MetricsOnly => 5,
    }
}

const fn decode_state(bits: u64) -> State {
    match bits {
        0 => State::Closed,
        1 => State::Open,
        2 => State::HalfOpen,
        3 => State::ForcedOpen,
        4 => State::Disabled,
        // Only `encode_state` writes these bits, so 5 is the only other value.
        _ => State::MetricsOnly,
    }
}

impl Word {
    /// A closed breaker at generation 0: the word of a freshly built breaker.
    pub(crate) const INITIAL: Word = Word(0);

    #[inline]
    pub(crate) const fn state(self) -> State {
        decode_state(self.0 & STATE_MASK)
    }

    /// Whether the breaker is closed: the success path's test, on the raw bits.
    #[inline]
    pub(crate) const fn is_closed(self) -> bool {
        self.0 & STATE_MASK == encode_state(State::Closed)
    }

    #[inline]
    pub(crate) const fn generation(self) -> u32 {
        ((self.0 >> GENERATION_SHIFT) & GENERATION_MASK) as u32
    }

    /// The word after a transition to `state`: next generation, tallies cleared.
    #[inline]
    pub(crate) const fn transition(self, state: State) -> Word {
        let generation = (self.generation() as u64 + 1) & GENERATION_MASK;
        Word(encode_state(state) | generation << GENERATION_SHIFT)
    }

    #[inline]
    const fn tally(self, shift: u32) -> u32 {
        ((self.0 >> shift) & TALLY_MASK) as u32
    }

    #[inline]
    const fn with_tally(self, shift: u32, value: u32) -> Word {
        Word((self.0 & !(TALLY_MASK << shift)) | ((value as u64 & TALLY_MASK) << shift))
    }

    /// Half-open: probe slots taken (in flight, or completed as success or failure).
    #[inline]
    pub(crate) const fn taken(self) -> u32 {
        self.tally(TAKEN_SHIFT)
    }

    /// Half-open: probes completed as successes.
    #[inline]
    pub(crate) const fn succeeded(self) -> u32 {
        self.tally(SUCCEEDED_SHIFT)
    }

    /// Half-open: probes completed as failures.
    #[inline]
    pub(crate) const fn failed(self) -> u32 {
        self.tally(FAILED_SHIFT)
    }

    /// Half-open: completed probes that were slow.
    #[inline]
    pub(crate) const fn slow(self) -> u32 {
        self.tally(SLOW_SHIFT)
    }

    /// Half-open: probes admitted and not yet completed.
    #[inline]
    pub(crate) const fn in_flight(self) -> u32 {
        self.taken()
            .saturating_sub(self.succeeded() + self.failed())
    }

    #[inline]
    pub(crate) const fn with_taken(self, n: u32) -> Word {
        self.with_tally(TAKEN_SHIFT, n)
    }

    #[inline]
    pub(crate) const fn with_succeeded(self, n: u32) -> Word {
        self.with_tally(SUCCEEDED_SHIFT, n)
    }

    #[inline]
    pub(crate) const fn with_failed(self, n: u32) -> Word {
        self.with_tally(FAILED_SHIFT, n)
    }

    #[inline]
    pub(crate) const fn with_slow(self, n: u32) -> Word {
        self.with_tally(SLOW_SHIFT, n)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests may unwrap")]
mod tests {
    use super::*;

    const ALL: [State; 6] = [
        State::Closed,
        State::Open,
        State::HalfOpen,
        State::ForcedOpen,
        State::Disabled,
        State::MetricsOnly,
    ];

    #[test]
    fn every_state_round_trips() {
        for state in ALL {
            let w = Word::INITIAL.transition(state);
            assert_eq!(w.state(), state);
            assert_eq!(w.is_closed(), state == State::Closed);
        }
    }

    #[test]
    fn a_transition_bumps_the_generation_and_clears_the_tallies() {
        let w = Word::INITIAL
            .transition(State::HalfOpen)
            .with_taken(3)
            .with_failed(2)
            .with_slow(1);
        let next = w.transition(State::Open);
        assert_eq!(next.generation(), w.generation() + 1);
        assert_eq!(
            (next.taken(), next.succeeded(), next.failed(), next.slow()),
            (0, 0, 0, 0)
        );
    }

    #[test]
    fn the_generation_wraps_without_touching_the_state() {
        let mut w = Word::INITIAL;
        for _ in 0..(1 << GENERATION_BITS) {
            w = w.transition(State::Closed);
        }
        assert_eq!(w.generation(), 0);
        assert_eq!(w.state(), State::Closed);
    }

    #[test]
    fn tallies_are_independent_fields() {
        let w = Word::INITIAL
            .transition(State::HalfOpen)
            .with_taken(1000)
            .with_succeeded(7)
            .with_failed(999)
            .with_slow(1000);
        assert_eq!(w.state(), State::HalfOpen);
        assert_eq!(w.generation(), 1);
        assert_eq!(
            (w.taken(), w.succeeded(), w.failed(), w.slow()),
            (1000, 7, 999, 1000)
        );
        assert_eq!(w.with_taken(0).failed(), 999);
    }
}
