//! RFC 3261 §17 transactions (with RFC 6026): client and server, INVITE and non-INVITE.
