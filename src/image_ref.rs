//! image_ref (under construction).
