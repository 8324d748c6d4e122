//! The two flows a scenario can run side by side, and state kept once per flow.
//!
//! This module depends on nothing else in the crate: the scenario, the engine, billing and
//! the reports all name flows through it.

use serde::Deserialize;
use std::ops::{Index, IndexMut};

#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Flow {
    /// Reverse iMessage verification (with each country's fallback).
    Reverse,
    /// Traditional outbound SMS one-time codes.
    Sms,
}

impl Flow {
    /// Both flows, in the order the reports list them.
    pub const ALL: [Flow; 2] = [Flow::Sms, Flow::Reverse];

    /// The name scenario files and reports give the flow.
    pub fn name(self) -> &'static str {
        match self {
            Flow::Sms => "sms",
            Flow::Reverse => "reverse",
        }
    }

    /// The flow's position in per-flow arrays: the sms flow first.
    pub fn index(self) -> usize {
        match self {
            Flow::Sms => 0,
            Flow::Reverse => 1,
        }
    }
}

/// One `T` per flow, indexed by [`Flow`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PerFlow<T> {
    pub sms: T,
    pub reverse: T,
}

impl<T> PerFlow<T> {
    /// `f` of each flow.
    pub fn new(mut f: impl FnMut(Flow) -> T) -> Self {
        Self {
            sms: f(Flow::Sms),
            reverse: f(Flow::Reverse),
        }
    }
}

impl<T> Index<Flow> for PerFlow<T> {
    type Output = T;
    fn index(&self, flow: Flow) -> &T {
        match flow {
            Flow::Sms => &self.sms,
            Flow::Reverse => &self.reverse,
        }
    }
}

impl<T> IndexMut<Flow> for PerFlow<T> {
    fn index_mut(&mut self, flow: Flow) -> &mut T {
        match flow {
            Flow::Sms => &mut self.sms,
            Flow::Reverse => &mut self.reverse,
        }
    }
}
