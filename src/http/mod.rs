//! http (under construction).
