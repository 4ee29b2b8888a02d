//! Helpers shared by the runtime's behaviour tests.

pub mod events;
