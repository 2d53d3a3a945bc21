//! validators (under construction).
