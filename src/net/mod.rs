//! Outbound work: the worker pool that keeps blocking I/O off the event loop.

pub mod workers;
