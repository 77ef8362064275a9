//! One ng datagram in, one reply out: framing (`<cookie> <bencoded dictionary>`), the command
//! name, dispatch to the call table, and the error replies.
//!
//! Replies are always dictionaries with `result`: `ok` (or `pong`), or `error` with an
//! `error-reason`. A datagram without a cookie cannot be answered (the peer could not match
//! the reply) and is dropped; anything after a cookie gets a reply, an error if need be.

use super::bencode::{Value, decode, dict};
use super::calls::{CallError, Calls, MediaControl};

/// A datagram split at the first space: the cookie and the encoded dictionary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame<'a> {
    /// The cookie, echoed in the reply.
    pub cookie: &'a [u8],
    /// The bencoded dictionary.
    pub body: &'a [u8],
}

/// Longest cookie accepted: Kamailio's are about 20 bytes.
pub const MAX_COOKIE: usize = 128;

impl<'a> Frame<'a> {
    /// Splits `datagram`, or `None` when it has no cookie (nothing before a space, or a
    /// cookie too long or not printable).
    pub fn split(datagram: &'a [u8]) -> Option<Frame<'a>> {
        let space = datagram.iter().position(|&b| b == b' ')?;
        let cookie = &datagram[..space];
        if cookie.is_empty()
            || cookie.len() > MAX_COOKIE
            || !cookie.iter().all(u8::is_ascii_graphic)
        {
            return None;
        }
        Some(Frame {
            cookie,
            body: &datagram[space + 1..],
        })
    }

    /// `<cookie> <reply>`.
    pub fn reply(&self, reply: &Value) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.cookie.len() + 64);
        out.extend_from_slice(self.cookie);
        out.push(b' ');
        reply.encode(&mut out);
        out
    }
}

/// The commands of the ng protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Command {
    /// `ping`.
    Ping,
    /// `offer`.
    Offer,
    /// `answer`.
    Answer,
    /// `delete`.
    Delete,
    /// `query`.
    Query,
    /// `list`.
    List,
    /// `statistics`.
    Statistics,
    /// `play DTMF`.
    PlayDtmf,
    /// `start recording`.
    StartRecording,
    /// `stop recording`.
    StopRecording,
    /// `pause recording`.
    PauseRecording,
    /// `block media`, `unblock media`, `silence media`, `unsilence media`, `block DTMF`,
    /// `unblock DTMF`.
    Control(MediaControl),
    /// `play media`.
    PlayMedia,
    /// `stop media`.
    StopMedia,
    /// The other known commands of [`REFUSED`]: refused with "not supported yet".
    NotSupported(&'static str),
}

/// Commands Tandem knows but refuses, by their normalised names.
const REFUSED: &[&str] = &["start forwarding", "stop forwarding"];

impl Command {
    /// The command named `name`: case, `-` and `_` do not matter (`play DTMF`,
    /// `play-dtmf`).
    pub fn from_name(name: &str) -> Option<Command> {
        let normal: String = name
            .chars()
            .map(|c| match c {
                '-' | '_' => ' ',
                c => c.to_ascii_lowercase(),
            })
            .collect();
        Some(match normal.as_str() {
            "ping" => Command::Ping,
            "offer" => Command::Offer,
            "answer" => Command::Answer,
            "delete" => Command::Delete,
            "query" => Command::Query,
            "list" => Command::List,
            "statistics" => Command::Statistics,
            "play dtmf" => Command::PlayDtmf,
            "start recording" => Command::StartRecording,
            "stop recording" => Command::StopRecording,
            "pause recording" => Command::PauseRecording,
            "block media" => Command::Control(MediaControl::BlockMedia(true)),
            "unblock media" => Command::Control(MediaControl::BlockMedia(false)),
            "silence media" => Command::Control(MediaControl::SilenceMedia(true)),
            "unsilence media" => Command::Control(MediaControl::SilenceMedia(false)),
            "block dtmf" => Command::Control(MediaControl::BlockDtmf(true)),
            "unblock dtmf" => Command::Control(MediaControl::BlockDtmf(false)),
            "play media" => Command::PlayMedia,
            "stop media" => Command::StopMedia,
            other => Command::NotSupported(REFUSED.iter().find(|r| **r == other)?),
        })
    }
}

/// `{result: error, error-reason: reason}`.
pub fn error_reply(reason: &str) -> Value {
    dict([
        ("result", Value::str("error")),
        ("error-reason", Value::str(reason)),
    ])
}

/// Decodes `body` and carries out its command on `calls`. Never fails: errors are replies.
pub fn handle(calls: &mut Calls, body: &[u8]) -> Value {
    let message = match decode(body) {
        Ok(message @ Value::Dict(_)) => message,
        Ok(_) => return error_reply("the message is not a dictionary"),
        Err(e) => return error_reply(&format!("could not decode the message: {e}")),
    };
    let Some(name) = message.get("command").and_then(Value::as_str) else {
        return error_reply("no command");
    };
    let Some(command) = Command::from_name(name) else {
        return error_reply(&format!("unknown command {name:?}"));
    };
    let result = match command {
        Command::Ping => return dict([("result", Value::str("pong"))]),
        Command::Offer => calls.offer(&message),
        Command::Answer => calls.answer(&message),
        Command::Delete => calls.delete(&message),
        Command::Query => calls.query(&message),
        Command::List => Ok(calls.list(&message)),
        Command::Statistics => Ok(calls.statistics()),
        Command::PlayDtmf => calls.play_dtmf(&message),
        Command::StartRecording => calls.start_recording(&message),
        Command::StopRecording => calls.stop_recording(&message),
        Command::PauseRecording => calls.pause_recording(&message),
        Command::Control(control) => calls.control(&message, control),
        Command::PlayMedia => calls.play_media(&message),
        Command::StopMedia => calls.stop_media(&message),
        Command::NotSupported(name) => Err(CallError::NotSupported(name.to_owned())),
    };
    result.unwrap_or_else(|e| {
        tracing::info!("ng {name}: {e}");
        error_reply(&e.to_string())
    })
}

/// The fuzz target's entry (`fuzz/fuzz_targets/ng_message.rs`), also replayed on stable by
/// `tests/ng_corpus.rs`: frames and decodes `datagram` and reads its options the way
/// [`handle`] would, without a media runtime. True when it is a framed dictionary with a
/// command whose options are accepted. Asserts that whatever decodes re-encodes to the same
/// bytes (the reader keeps key order and accepts only canonical forms).
pub fn check(datagram: &[u8]) -> bool {
    let Some(frame) = Frame::split(datagram) else {
        return false;
    };
    let Ok(message) = decode(frame.body) else {
        return false;
    };
    assert_eq!(
        message.to_bytes(),
        frame.body,
        "decode then encode changed the bytes"
    );
    let Some(name) = message.get("command").and_then(Value::as_str) else {
        return false;
    };
    let known = Command::from_name(name).is_some();
    let flags = super::flags::Flags::parse(&message);
    if let Ok(flags) = &flags {
        for text in flags.codec.transcode.iter().chain(&flags.codec.strip) {
            let _ = super::codecs::CodecName::parse(text);
        }
    }
    known && flags.is_ok()
}

/// Most messages [`handle_sequence`] carries out from one input.
pub const SEQUENCE_MAX_MESSAGES: usize = 16;

/// The `ng_calls` fuzz target's entry (`fuzz/fuzz_targets/ng_calls.rs`), also replayed on
/// stable by `tests/ng_calls_corpus.rs`: `data` holds up to [`SEQUENCE_MAX_MESSAGES`] message
/// bodies separated by `\n--\n`, each carried out on `calls` by [`handle`] as the ng
/// listener would; then every call left is deleted, so that `calls` is empty again. Returns
/// the replies.
pub fn handle_sequence(calls: &mut Calls, data: &[u8]) -> Vec<Value> {
    const SEPARATOR: &[u8] = b"\n--\n";
    let mut replies = Vec::new();
    let mut rest = data;
    while replies.len() < SEQUENCE_MAX_MESSAGES {
        let (message, next) = match rest.windows(SEPARATOR.len()).position(|w| w == SEPARATOR) {
            Some(at) => (&rest[..at], Some(&rest[at + SEPARATOR.len()..])),
            None => (rest, None),
        };
        replies.push(handle(calls, message));
        match next {
            Some(next) => rest = next,
            None => break,
        }
    }
    let listed = handle(calls, b"d7:command4:list5:limiti1000000ee");
    let ids: Vec<Value> = listed
        .get("calls")
        .and_then(Value::as_list)
        .map(<[Value]>::to_vec)
        .unwrap_or_default();
    for id in ids {
        let delete = dict([("call-id", id), ("command", Value::str("delete"))]);
        handle(calls, &delete.to_bytes());
    }
    replies
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_split_at_the_first_space() {
        let f = Frame::split(b"0_5140_0 d7:command4:pinge").unwrap();
        assert_eq!(f.cookie, b"0_5140_0");
        assert_eq!(f.body, b"d7:command4:pinge");
        assert_eq!(
            f.reply(&dict([("result", Value::str("pong"))])),
            b"0_5140_0 d6:result4:ponge"
        );
        assert_eq!(Frame::split(b"nospace"), None);
        assert_eq!(Frame::split(b" d7:command4:pinge"), None);
        assert_eq!(Frame::split(b"a\x01b d7:command4:pinge"), None);
    }

    #[test]
    fn command_names_ignore_case_and_separators() {
        assert_eq!(Command::from_name("play DTMF"), Some(Command::PlayDtmf));
        assert_eq!(Command::from_name("play-dtmf"), Some(Command::PlayDtmf));
        assert_eq!(
            Command::from_name("start-recording"),
            Some(Command::StartRecording)
        );
        assert_eq!(Command::from_name("stop media"), Some(Command::StopMedia));
        assert_eq!(
            Command::from_name("start forwarding"),
            Some(Command::NotSupported("start forwarding"))
        );
        assert_eq!(Command::from_name("frobnicate"), None);
        assert_eq!(
            Command::from_name("unblock-DTMF"),
            Some(Command::Control(MediaControl::BlockDtmf(false)))
        );
        assert_eq!(
            Command::from_name("silence media"),
            Some(Command::Control(MediaControl::SilenceMedia(true)))
        );
    }
}
