//! Code shared by the backends' integration tests.

pub(crate) mod contract;
