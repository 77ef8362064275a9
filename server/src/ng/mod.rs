//! The ng control protocol: Kamailio's and OpenSIPS's `rtpengine` modules drive Tandem as they
//! drive rtpengine.
//!
//! A message is `<cookie> <bencoded dictionary>`; the reply is `<cookie> <dictionary>`. Over
//! UDP each datagram holds one; over TCP (`[ng] tcp`, same address) they follow each other on
//! the stream.
//!
//! - [`bencode`]: the encoding (a reader that rejects malformed input with a typed error).
//! - [`command`]: framing, command names, dispatch, error replies.
//! - [`cookie_cache`]: replies kept per cookie, so retransmissions are answered, not re-run.
//! - [`flags`]: the options of `offer`/`answer`: applied, ignored with a warning, or refused.
//! - [`codecs`]: `codec` `strip`/`mask`/`transcode`/`except` on the offerer's formats.
//! - [`sdp_rewrite`]: the SDP with Tandem's address and ports.
//! - [`calls`]: rtpengine's call model (call-id, tags) on the media runtime.
//! - [`dtmf_log`]: digits reported as JSON datagrams (`DTMF-log-dest`, `[ng] dtmf_log_dest`).
//! - [`server`]: the UDP listener, the dispatcher both transports share, and the watcher of
//!   the runtime's events (media timeouts, locked sources, digits to report).
//! - [`tcp`]: the TCP listener: cutting the stream into messages, bounds on connections.
//!
//! # Supported
//!
//! `ping`, `offer`, `answer`, `delete`, `query`, `list`, `statistics`, `play DTMF`,
//! `start recording`/`stop recording`/`pause recording` and the `record call` option (one
//! stereo WAV per call in `[recording] dir`, caller left; see [`crate::recordings`]),
//! `play media` (a WAV `file`, `repeat-times`, to the side named by `from-tag`),
//! `stop media`, `block DTMF`/`unblock DTMF`, `block media`/`unblock media`,
//! `silence media`/`unsilence media`, `DTMF-log-dest`. One audio stream per call
//! (other streams are disabled in the SDP, with a warning); plain RTP only (SRTP, DTLS and
//! ICE other than `ICE=remove` are refused).

pub mod bencode;
pub mod calls;
pub mod codecs;
pub mod command;
pub mod cookie_cache;
pub mod dtmf_log;
pub mod flags;
pub mod quality;
pub mod sdp_rewrite;
pub mod server;
pub mod tcp;

pub use calls::Calls;
pub use server::{NgServer, NgStats};
