//! Supervision: what happens when a unit's main process ends.

pub mod restart;
