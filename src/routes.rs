//! routes (under construction).
