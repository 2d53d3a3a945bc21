//! Outbound work: the worker pool that keeps blocking I/O off the event loop, and the
//! blocking HTTP/1.1 client the workers use to talk to registries, with its proxy settings.

pub mod http_response;
pub mod https_client;
pub mod proxy;
pub mod workers;
