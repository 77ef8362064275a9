//! Call routing: where an INVITE goes, decided from its request URI alone. Pure: no I/O, no
//! state, the same answer for the same URI and configuration.
//!
//! In order:
//!
//! 1. the built-in destinations, by the URI's user part (case-sensitive, as RFC 3261 §19.1.4
//!    compares user parts): `echo`, `tone`, and `conf-<room>` where `<room>` is 1 to
//!    [`ROOM_NAME_MAX`] characters of `A-Z a-z 0-9 . _ -`;
//! 2. the configured `[[routes]]`, first match wins, each matched against the whole printed
//!    request URI;
//! 3. otherwise [`Destination::NotFound`]: the SIP layer then asks its registrar whether the
//!    user part is a registered endpoint (calls to registered users), and answers 480 or 404
//!    when it is not. That lookup stays out of here so routing keeps no state.

use super::config::{CodecPref, Config};

/// Longest conference room name.
pub const ROOM_NAME_MAX: usize = 64;

/// The user part prefix that names a conference room.
pub const CONFERENCE_PREFIX: &str = "conf-";

/// Where a call goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination<'c> {
    /// Media is sent back to the caller.
    Echo,
    /// A test tone is played to the caller.
    Tone,
    /// The caller joins conference room `room` (created by its first caller).
    Conference {
        /// The room's name.
        room: String,
    },
    /// The call is bridged to `target` (B2BUA), offering `codecs` on the outgoing leg.
    Gateway {
        /// Index of the matching route in [`Config::routes`].
        route: usize,
        /// The target URI, capture groups substituted.
        target: String,
        /// Codecs to offer on the outgoing leg, in order.
        codecs: &'c [CodecPref],
    },
    /// Nothing here: answer 404.
    NotFound,
}

/// True for a valid conference room name.
fn is_room_name(room: &str) -> bool {
    (1..=ROOM_NAME_MAX).contains(&room.len())
        && room
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// Routes a call for `request_uri` (the printed request URI) whose user part is `user`
/// (unescaped; `None` when the URI has no user part).
pub fn route<'c>(config: &'c Config, request_uri: &str, user: Option<&str>) -> Destination<'c> {
    match user {
        Some("echo") => return Destination::Echo,
        Some("tone") => return Destination::Tone,
        Some(user) => {
            if let Some(room) = user.strip_prefix(CONFERENCE_PREFIX) {
                if is_room_name(room) {
                    return Destination::Conference { room: room.into() };
                }
            }
        }
        None => {}
    }
    config
        .routes
        .iter()
        .enumerate()
        .find_map(|(index, route)| {
            route
                .target_for(request_uri)
                .map(|target| Destination::Gateway {
                    route: index,
                    target,
                    codecs: config.codecs_of_route(route),
                })
        })
        .unwrap_or(Destination::NotFound)
}

#[cfg(test)]
mod tests {
    use tandem_codecs::CodecId;

    use super::*;

    fn config() -> Config {
        Config::from_toml(
            r#"
            [[routes]]
            match = '^sip:9(\d+)@'
            target = "sip:$1@127.0.0.1:5080"
            codecs = ["opus"]
            [[routes]]
            match = '^sip:9'
            target = "sip:second@127.0.0.1"
            [[routes]]
            match = '^sip:echo@gateway\.example'
            target = "sip:never@127.0.0.1"
            [[routes]]
            match = '^sip:127\.0\.0\.1'
            target = "sip:bare@127.0.0.1"
            "#,
        )
        .unwrap()
    }

    #[test]
    fn built_in_destinations_go_by_user_part() {
        let c = config();
        assert_eq!(
            route(&c, "sip:echo@127.0.0.1", Some("echo")),
            Destination::Echo
        );
        assert_eq!(
            route(&c, "sip:tone@127.0.0.1", Some("tone")),
            Destination::Tone
        );
        assert_eq!(
            route(&c, "sip:conf-x@127.0.0.1", Some("conf-x")),
            Destination::Conference { room: "x".into() }
        );
        assert_eq!(
            route(&c, "sip:conf-Team_1.a-b@h", Some("conf-Team_1.a-b")),
            Destination::Conference {
                room: "Team_1.a-b".into()
            }
        );
    }

    #[test]
    fn user_parts_compare_case_sensitively() {
        assert_eq!(
            route(&config(), "sip:Echo@h", Some("Echo")),
            Destination::NotFound
        );
    }

    #[test]
    fn built_ins_win_over_routes() {
        let c = config();
        assert_eq!(
            route(&c, "sip:echo@gateway.example", Some("echo")),
            Destination::Echo
        );
    }

    #[test]
    fn bad_room_names_are_not_found() {
        let c = config();
        let long = format!("conf-{}", "r".repeat(ROOM_NAME_MAX + 1));
        for user in ["conf-", "conf-a b", "conf-x/y", "conf-é", long.as_str()] {
            assert_eq!(
                route(&c, "sip:x@h", Some(user)),
                Destination::NotFound,
                "{user}"
            );
        }
        let longest = format!("conf-{}", "r".repeat(ROOM_NAME_MAX));
        assert!(matches!(
            route(&c, "sip:x@h", Some(&longest)),
            Destination::Conference { .. }
        ));
    }

    #[test]
    fn the_first_matching_route_wins_and_gets_its_codecs() {
        let c = config();
        match route(&c, "sip:9555@tandem", Some("9555")) {
            Destination::Gateway {
                route,
                target,
                codecs,
            } => {
                assert_eq!(route, 0);
                assert_eq!(target, "sip:555@127.0.0.1:5080");
                assert_eq!(codecs, [CodecPref::any_rate(CodecId::Opus)]);
            }
            other => panic!("{other:?}"),
        }
        match route(&c, "sip:9x@tandem", Some("9x")) {
            Destination::Gateway {
                route,
                target,
                codecs,
            } => {
                assert_eq!((route, target.as_str()), (1, "sip:second@127.0.0.1"));
                assert_eq!(codecs, c.codecs.preferences.as_slice());
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn uris_without_a_user_part_can_match_routes() {
        let c = config();
        assert!(matches!(
            route(&c, "sip:127.0.0.1:5060", None),
            Destination::Gateway { route: 3, .. }
        ));
    }

    #[test]
    fn anything_else_is_not_found() {
        let c = config();
        assert_eq!(
            route(&c, "sip:alice@tandem", Some("alice")),
            Destination::NotFound
        );
        let empty = Config::default();
        assert_eq!(
            route(&empty, "sip:9555@tandem", Some("9555")),
            Destination::NotFound
        );
    }
}
