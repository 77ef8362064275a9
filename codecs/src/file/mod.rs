//! Audio file containers. Being written.
