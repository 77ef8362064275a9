//! Dialogs (RFC 3261 §12), registrations and session timers (RFC 4028).
