//! admission (under construction).
