//! HTTP digest authentication for SIP (RFC 8760): challenges, credentials, verification.
