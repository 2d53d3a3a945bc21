//! The serving side: one single-threaded `mio` event loop owning every client connection.

pub mod conn;
pub mod deadlines;
pub mod event_loop;
pub mod idle_memory;
pub mod signals;

pub use event_loop::{serve, Settings};
