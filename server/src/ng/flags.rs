//! The options of `offer` and `answer`, read from the command's dictionary: what rewriting to
//! do, which codecs to offer, and what is refused or ignored.
//!
//! # Contract
//!
//! - Every key and flag Kamailio's rtpengine module sends is either applied, accepted as
//!   meaningless here (documented beside it), ignored with a [`Flags::warnings`] entry (the
//!   reply carries it as `warning`, which Kamailio logs), or refused with a [`FlagError`]
//!   (the reply is an error): the SDP returned is never silently wrong.
//! - Codec options come as the `codec` dictionary (`codec: {mask: [all], transcode:
//!   [opus/48000/2]}`, how Kamailio 5.6 sends `codec-mask=all codec-transcode=opus/48000/2`)
//!   or as flags (`codec-strip-PCMA`, `codec-mask=all`, rtpengine's older flat form).

use std::net::{IpAddr, SocketAddr};

use super::bencode::Value;

/// Why the options cannot be honoured. The reply is `result: error` with this text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FlagError {
    /// ICE other than `remove` (Tandem does not run ICE).
    #[error("ICE={0} is not supported (only ICE=remove)")]
    Ice(String),
    /// A transport protocol Tandem cannot terminate (SRTP, DTLS).
    #[error("transport-protocol {0} is not supported (RTP/AVP and RTP/AVPF only)")]
    TransportProtocol(String),
    /// An address family other than the media interface's.
    #[error("address family {0} does not match the media interface")]
    AddressFamily(String),
    /// A value of the wrong type or form.
    #[error("malformed {0}")]
    Malformed(&'static str),
}

/// The `codec` options (rtpengine's codec manipulation).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CodecFlags {
    /// Removed from the SDP and unusable on either side; `all` strips every codec.
    pub strip: Vec<String>,
    /// Removed from the SDP sent on, still usable on the offerer's side (we transcode from
    /// them); `all` masks every codec.
    pub mask: Vec<String>,
    /// Added to the SDP sent on when absent; Tandem transcodes to them. A codec string may
    /// carry a bitrate: `opus/48000/2/32000`.
    pub transcode: Vec<String>,
    /// Exempt from `strip: [all]` / `mask: [all]`.
    pub except: Vec<String>,
    /// Codecs the answerer may choose although they were masked. Tandem accepts any codec it
    /// offered, so this changes nothing here.
    pub accept: Vec<String>,
}

/// What an `offer` or `answer` asks for beyond the SDP.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Flags {
    /// `replace: [origin]`: the `o=` address becomes ours.
    pub replace_origin: bool,
    /// `flags: [no-rtcp-attribute]`: do not add `a=rtcp`.
    pub no_rtcp_attribute: bool,
    /// `flags: [full-rtcp-attribute]`: `a=rtcp:<port> IN IP4 <address>`.
    pub full_rtcp_attribute: bool,
    /// `flags: [SIP-source-address]`: the peer's media address is `received-from`'s, not
    /// the SDP's.
    pub sip_source_address: bool,
    /// `received-from: [IP4, address]`.
    pub received_from: Option<IpAddr>,
    /// `media address`: the address to advertise instead of the media interface's.
    pub media_address: Option<IpAddr>,
    /// `transport-protocol`, when given (`RTP/AVP` or `RTP/AVPF`).
    pub transport_protocol: Option<String>,
    /// `address family`: `IP4` or `IP6`.
    pub address_family: Option<String>,
    /// `codec`.
    pub codec: CodecFlags,
    /// `ptime`: the packet time Tandem sends with towards the recipient of this SDP, and
    /// writes as `a=ptime`.
    pub ptime_ms: Option<u32>,
    /// `label`, kept with the monologue for `query`.
    pub label: Option<String>,
    /// `record call: yes` or `flags: [record-call]`: record the call (stereo WAV in
    /// `[recording] dir`).
    pub record_call: bool,
    /// `flags: [loop-protect]`: mark the SDP Tandem returns, and return an SDP that already
    /// carries this instance's mark untouched, without processing it (a signalling loop
    /// through the same proxy must not make the call's media loop through Tandem).
    pub loop_protect: bool,
    /// `flags: [asymmetric]` (`Some(true)`) or `[symmetric]` (`Some(false)`): whether the
    /// endpoint whose SDP this is receives elsewhere than it sends from, so that its media
    /// must go to its SDP's address rather than back to its source.
    pub asymmetric: Option<bool>,
    /// `flags: [media-handover]`: the endpoint whose SDP this is may move to another
    /// address mid-call; its leg follows its media there instead of dropping it.
    pub media_handover: bool,
    /// `flags: [strip-extmap]`: remove `a=extmap` (RTP header extensions) from the SDP.
    pub strip_extmap: bool,
    /// `flags: [generate-mid]`: give every stream without one an `a=mid`.
    pub generate_mid: bool,
    /// `DTMF-log-dest: "ADDR:PORT"`: where this call's digits are reported, one JSON
    /// datagram per digit (overrides `[ng] dtmf_log_dest`).
    pub dtmf_log_dest: Option<SocketAddr>,
    /// What was asked and is not done, one sentence each.
    pub warnings: Vec<String>,
}

/// Flags and keys that change nothing here because Tandem already behaves that way.
///
/// - `trust-address`, `port-latching`, `strict-source`: each leg sends to the SDP's address
///   until it locks onto the source of the peer's RTP (symmetric RTP with strict source
///   once locked; `asymmetric` keeps sending to the SDP's address, `media-handover` lets
///   the lock move).
/// - `fatal`, `reset`, `allow-transcoding`, `single-codec`, `no-codec-renegotiation`,
///   `pad-crypto`, `original-sendrecv`, `port-latching`, `no-passthrough`: no crypto, one
///   codec per direction, directions are passed through already.
const HARMLESS_FLAGS: &[&str] = &[
    "trust-address",
    "port-latching",
    "strict-source",
    "fatal",
    "reset",
    "allow-transcoding",
    "single-codec",
    "no-codec-renegotiation",
    "pad-crypto",
    "original-sendrecv",
    "no-passthrough",
    "all",
];

/// Keys that are part of the command's addressing or are read elsewhere (`command`,
/// `call-id`, tags, `sdp`, the `play DTMF` and `list` options), and keys accepted because
/// they change nothing here:
///
/// - `supports: [load limit]`: Kamailio says it understands a "load limit" reply; Tandem
///   never sends one.
/// - `direction` and `interface`: names of rtpengine's logical interfaces for bridging
///   networks; Tandem has one media interface (`[media] interface`), which every direction
///   maps to.
/// - `received-from`: used only with `SIP-source-address`; otherwise each leg learns its
///   peer's real source from the RTP (symmetric RTP), which covers NAT.
/// - `metadata`: opaque to rtpengine as well (it stores it for recordings).
/// - `delete-delay`: calls are deleted at once; a late retransmitted `delete` is answered
///   from the cookie cache.
/// - `from-label`/`to-label`: `label` is kept per side; these only select sides in
///   rtpengine's media-playback commands, which Tandem refuses.
const STRUCTURAL_KEYS: &[&str] = &[
    "command",
    "call-id",
    "from-tag",
    "to-tag",
    "via-branch",
    "sdp",
    "supports",
    "flags",
    "replace",
    "ICE",
    "transport-protocol",
    "transport protocol",
    "direction",
    "address family",
    "media address",
    "received-from",
    "codec",
    "ptime",
    "label",
    "from-label",
    "to-label",
    "record call",
    "DTMF-log-dest",
    "dtmf-log-dest",
    "DTMF-log-destination",
    "dtmf-log-destination",
    "rtcp-mux",
    "metadata",
    "delete-delay",
    "code",
    "digit",
    "duration",
    "volume",
    "pause",
    "limit",
    "interface",
    "all",
];

fn strings(value: Option<&Value>, what: &'static str) -> Result<Vec<String>, FlagError> {
    match value {
        None => Ok(Vec::new()),
        Some(Value::List(items)) => items
            .iter()
            .map(|v| {
                v.as_str()
                    .map(str::to_owned)
                    .ok_or(FlagError::Malformed(what))
            })
            .collect(),
        // A single string where a list is expected: rtpengine accepts it, so do we.
        Some(v) => v
            .as_str()
            .map(|s| vec![s.to_owned()])
            .ok_or(FlagError::Malformed(what)),
    }
}

/// Reads a codec option given as a flag (`codec-strip-PCMA`, `codec-mask=all`). Returns
/// false when `flag` is not one.
fn codec_flag(codec: &mut CodecFlags, flag: &str) -> bool {
    let Some(rest) = flag.strip_prefix("codec-") else {
        return false;
    };
    let Some(split) = rest.find(['-', '=']) else {
        return false;
    };
    let (kind, name) = (&rest[..split], &rest[split + 1..]);
    let list = match kind {
        "strip" => &mut codec.strip,
        "mask" => &mut codec.mask,
        "transcode" | "offer" => &mut codec.transcode,
        "except" => &mut codec.except,
        "accept" => &mut codec.accept,
        _ => return false,
    };
    list.push(name.to_owned());
    true
}

/// The names rtpengine reads `DTMF-log-dest` under, as a key or as a `flags` item
/// `NAME=ADDR:PORT` (how Kamailio's rtpengine module passes options it has no key for).
const DTMF_LOG_DEST_KEYS: &[&str] = &[
    "DTMF-log-dest",
    "dtmf-log-dest",
    "DTMF-log-destination",
    "dtmf-log-destination",
];

impl Flags {
    /// `DTMF-log-dest`: an `ADDR:PORT`, else a warning (rtpengine logs one and goes on).
    fn set_dtmf_log_dest(&mut self, text: &str) {
        match text.trim().parse::<SocketAddr>() {
            Ok(dest) => self.dtmf_log_dest = Some(dest),
            Err(_) => self.warnings.push(format!(
                "DTMF-log-dest {text:?} is not an ADDR:PORT (an IPv6 address in brackets): \
                 digits are not logged"
            )),
        }
    }

    /// Reads the options of `message` (an `offer` or `answer` dictionary).
    ///
    /// # Errors
    ///
    /// [`FlagError`] for what Tandem refuses (ICE, SRTP) or cannot read.
    pub fn parse(message: &Value) -> Result<Flags, FlagError> {
        let mut flags = Flags::default();
        for item in strings(message.get("replace"), "replace")? {
            match item.as_str() {
                "origin" => flags.replace_origin = true,
                // c= lines are always rewritten: media goes through Tandem.
                "session-connection" | "session connection" => {}
                other => flags
                    .warnings
                    .push(format!("replace {other} is not supported: ignored")),
            }
        }
        for flag in strings(message.get("flags"), "flags")? {
            match flag.as_str() {
                "no-rtcp-attribute" => flags.no_rtcp_attribute = true,
                "full-rtcp-attribute" => flags.full_rtcp_attribute = true,
                "SIP-source-address" => flags.sip_source_address = true,
                "record-call" => flags.record_call = true,
                "loop-protect" | "loop protect" => flags.loop_protect = true,
                "asymmetric" => flags.asymmetric = Some(true),
                "symmetric" => flags.asymmetric = Some(false),
                "media-handover" | "media handover" => flags.media_handover = true,
                "strip-extmap" | "strip extmap" => flags.strip_extmap = true,
                "generate-mid" | "generate mid" => flags.generate_mid = true,
                f if HARMLESS_FLAGS.contains(&f) => {}
                f if let Some(dest) = DTMF_LOG_DEST_KEYS
                    .iter()
                    .find_map(|k| f.strip_prefix(k)?.strip_prefix('=')) =>
                {
                    flags.set_dtmf_log_dest(dest);
                }
                f if codec_flag(&mut flags.codec, f) => {}
                other => flags
                    .warnings
                    .push(format!("flag {other} is not supported: ignored")),
            }
        }
        match message.get("ICE").map(|v| v.as_str()) {
            None | Some(Some("remove" | "default")) => {}
            Some(Some(other)) => return Err(FlagError::Ice(other.to_owned())),
            Some(None) => return Err(FlagError::Malformed("ICE")),
        }
        let protocol = message
            .get("transport-protocol")
            .or_else(|| message.get("transport protocol"));
        if let Some(protocol) = protocol {
            let protocol = protocol
                .as_str()
                .ok_or(FlagError::Malformed("transport-protocol"))?;
            if !matches!(protocol, "RTP/AVP" | "RTP/AVPF") {
                return Err(FlagError::TransportProtocol(protocol.to_owned()));
            }
            flags.transport_protocol = Some(protocol.to_owned());
        }
        if let Some(family) = message.get("address family") {
            let family = family
                .as_str()
                .ok_or(FlagError::Malformed("address family"))?;
            if !matches!(family, "IP4" | "IP6") {
                return Err(FlagError::AddressFamily(family.to_owned()));
            }
            flags.address_family = Some(family.to_owned());
        }
        if let Some(address) = message.get("media address") {
            flags.media_address = Some(
                address
                    .as_str()
                    .and_then(|s| s.parse().ok())
                    .ok_or(FlagError::Malformed("media address"))?,
            );
        }
        let from = strings(message.get("received-from"), "received-from")?;
        flags.received_from = from.get(1).and_then(|a| a.parse().ok());
        if let Some(codec) = message.get("codec") {
            if !matches!(codec, Value::Dict(_)) {
                return Err(FlagError::Malformed("codec"));
            }
            let c = &mut flags.codec;
            c.strip.extend(strings(codec.get("strip"), "codec strip")?);
            c.mask.extend(strings(codec.get("mask"), "codec mask")?);
            c.transcode
                .extend(strings(codec.get("transcode"), "codec transcode")?);
            c.transcode
                .extend(strings(codec.get("offer"), "codec offer")?);
            c.except
                .extend(strings(codec.get("except"), "codec except")?);
            c.accept
                .extend(strings(codec.get("accept"), "codec accept")?);
            if let Value::Dict(entries) = codec {
                for (key, _) in entries {
                    let key = String::from_utf8_lossy(key);
                    if !matches!(
                        key.as_ref(),
                        "strip" | "mask" | "transcode" | "offer" | "except" | "accept"
                    ) {
                        flags
                            .warnings
                            .push(format!("codec {key} is not supported: ignored"));
                    }
                }
            }
        }
        if let Some(ptime) = message.get("ptime") {
            let ms = ptime
                .as_int()
                .filter(|ms| (1..=1000).contains(ms))
                .ok_or(FlagError::Malformed("ptime"))?;
            flags.ptime_ms = u32::try_from(ms).ok();
        }
        flags.label = message
            .get("label")
            .and_then(Value::as_str)
            .map(str::to_owned);
        let record = message.get("record call").and_then(Value::as_str);
        if matches!(record, Some("yes" | "on" | "true")) {
            flags.record_call = true;
        }
        if let Some(dest) = DTMF_LOG_DEST_KEYS.iter().find_map(|k| message.get(k)) {
            flags.set_dtmf_log_dest(dest.as_str().unwrap_or_default());
        }
        for mux in strings(message.get("rtcp-mux"), "rtcp-mux")? {
            if matches!(mux.as_str(), "offer" | "require") {
                flags
                    .warnings
                    .push(format!("rtcp-mux {mux} is not supported: RTCP uses port+1"));
            }
        }
        if let Value::Dict(entries) = message {
            for (key, _) in entries {
                let key = String::from_utf8_lossy(key);
                if !STRUCTURAL_KEYS.contains(&key.as_ref()) {
                    flags
                        .warnings
                        .push(format!("key {key} is not supported: ignored"));
                }
            }
        }
        Ok(flags)
    }
}

#[cfg(test)]
mod tests {
    use super::super::bencode::decode;
    use super::*;

    #[test]
    fn kamailio_transcoding_offer_options() {
        let message = decode(
            b"d8:supportsl10:load limite7:replacel6:origin18:session-connectione\
              5:codecd4:maskl3:alle9:transcodel12:opus/48000/2ee7:call-id3:abc\
              13:received-froml3:IP49:127.0.0.1e8:from-tag1:a7:command5:offere",
        )
        .unwrap();
        let flags = Flags::parse(&message).unwrap();
        assert!(flags.replace_origin);
        assert_eq!(flags.codec.mask, ["all"]);
        assert_eq!(flags.codec.transcode, ["opus/48000/2"]);
        assert_eq!(flags.received_from, Some("127.0.0.1".parse().unwrap()));
        assert!(flags.warnings.is_empty(), "{:?}", flags.warnings);
    }

    #[test]
    fn dtmf_log_dest_is_read_under_rtpengines_names_as_a_key_or_a_flag() {
        let dest = Some("127.0.0.1:22223".parse().unwrap());
        for message in [
            &b"d13:DTMF-log-dest15:127.0.0.1:22223e"[..],
            b"d20:dtmf-log-destination15:127.0.0.1:22223e",
            b"d5:flagsl29:DTMF-log-dest=127.0.0.1:22223ee",
        ] {
            let flags = Flags::parse(&decode(message).unwrap()).unwrap();
            assert_eq!(
                flags.dtmf_log_dest,
                dest,
                "{}",
                String::from_utf8_lossy(message)
            );
            assert!(flags.warnings.is_empty(), "{:?}", flags.warnings);
        }
        let flags = Flags::parse(&decode(b"d13:DTMF-log-dest9:localhoste").unwrap()).unwrap();
        assert_eq!(flags.dtmf_log_dest, None);
        assert!(
            flags.warnings[0].contains("not an ADDR:PORT"),
            "{:?}",
            flags.warnings
        );
    }

    #[test]
    fn flat_codec_flags_read_like_the_dictionary() {
        let message = decode(
            b"d5:flagsl14:codec-mask-all28:codec-transcode=opus/48000/216:codec-strip-G729ee",
        )
        .unwrap();
        let flags = Flags::parse(&message).unwrap();
        assert_eq!(flags.codec.mask, ["all"]);
        assert_eq!(flags.codec.transcode, ["opus/48000/2"]);
        assert_eq!(flags.codec.strip, ["G729"]);
    }

    #[test]
    fn ice_and_srtp_are_refused_unknown_things_are_warned_about() {
        let ice = decode(b"d3:ICE5:forcee").unwrap();
        assert_eq!(Flags::parse(&ice), Err(FlagError::Ice("force".into())));
        let srtp = decode(b"d18:transport-protocol8:RTP/SAVPe").unwrap();
        assert!(matches!(
            Flags::parse(&srtp),
            Err(FlagError::TransportProtocol(_))
        ));
        let odd = decode(b"d5:flagsl10:frobnicatee11:record call3:yes5:ptime2:30e").unwrap();
        let flags = Flags::parse(&odd).unwrap();
        assert_eq!(flags.ptime_ms, Some(30));
        assert!(flags.record_call);
        assert_eq!(flags.warnings.len(), 1, "{:?}", flags.warnings);
        let bad = decode(b"d5:ptime3:abce").unwrap();
        assert_eq!(Flags::parse(&bad), Err(FlagError::Malformed("ptime")));
    }
}
