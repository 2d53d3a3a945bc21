//! tls (under construction).
