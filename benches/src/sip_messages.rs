//! The SIP messages the `sip` criterion bench and the `sip_parse_count` harness parse: one
//! typical INVITE (about 825 bytes: 12 headers and an SDP offer) and the same INVITE as a
//! terse peer writes it (compact names, a folded Via).

/// The SDP offer both INVITEs carry.
const SDP: &str = "v=0\r\n\
o=alice 2890844526 2890844526 IN IP4 pc33.atlanta.example.com\r\n\
s=Session SDP\r\n\
c=IN IP4 192.0.2.101\r\n\
t=0 0\r\n\
m=audio 49172 RTP/AVP 0 8 9 101\r\n\
a=rtpmap:0 PCMU/8000\r\n\
a=rtpmap:8 PCMA/8000\r\n\
a=rtpmap:9 G722/8000\r\n\
a=rtpmap:101 telephone-event/8000\r\n\
a=fmtp:101 0-16\r\n\
a=ptime:20\r\n\
a=sendrecv\r\n";

/// A typical INVITE with full header names.
pub fn invite() -> Vec<u8> {
    let head = "INVITE sip:bob@biloxi.example.com SIP/2.0\r\n\
Via: SIP/2.0/UDP pc33.atlanta.example.com:5060;branch=z9hG4bK776asdhds;rport\r\n\
Max-Forwards: 70\r\n\
To: \"Bob\" <sip:bob@biloxi.example.com>\r\n\
From: \"Alice\" <sip:alice@atlanta.example.com>;tag=1928301774\r\n\
Call-ID: a84b4c76e66710@pc33.atlanta.example.com\r\n\
CSeq: 314159 INVITE\r\n\
Contact: <sip:alice@pc33.atlanta.example.com:5060;transport=udp>\r\n\
Allow: INVITE, ACK, CANCEL, BYE, OPTIONS, UPDATE, INFO\r\n\
Supported: timer, 100rel\r\n\
User-Agent: Tandem/0.1\r\n\
Content-Type: application/sdp\r\n";
    let m = format!("{head}Content-Length: {}\r\n\r\n{SDP}", SDP.len());
    m.into_bytes()
}

/// The same INVITE as a terse peer writes it: compact names, a folded Via (folding replaces
/// an existing space, so the parsed message equals the plain one).
pub fn invite_compact() -> Vec<u8> {
    let head = "INVITE sip:bob@biloxi.example.com SIP/2.0\r\n\
v: SIP/2.0/UDP\r\n pc33.atlanta.example.com:5060;branch=z9hG4bK776asdhds;rport\r\n\
Max-Forwards: 70\r\n\
t: \"Bob\" <sip:bob@biloxi.example.com>\r\n\
f: \"Alice\" <sip:alice@atlanta.example.com>;tag=1928301774\r\n\
i: a84b4c76e66710@pc33.atlanta.example.com\r\n\
CSeq: 314159 INVITE\r\n\
m: <sip:alice@pc33.atlanta.example.com:5060;transport=udp>\r\n\
Allow: INVITE, ACK, CANCEL, BYE, OPTIONS, UPDATE, INFO\r\n\
k: timer, 100rel\r\n\
User-Agent: Tandem/0.1\r\n\
c: application/sdp\r\n";
    let m = format!("{head}l: {}\r\n\r\n{SDP}", SDP.len());
    m.into_bytes()
}
