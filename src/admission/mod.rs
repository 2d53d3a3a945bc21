//! Admission: from the bytes of an AdmissionReview to the bytes of its answer.

pub mod response;
pub mod review;
pub mod settings;
pub mod workload;

pub use settings::Settings;
