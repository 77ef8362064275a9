//! SDP (RFC 8866) parsing and printing, and the offer/answer model (RFC 3264).
