//! SIP messages (RFC 3261 §7, §25): the model, the parser, the printer, URIs and header views.
