//! Status codes (RFC 3261 §7.2, §21) and their default reason phrases.

use std::fmt;

/// A response Status-Code: three digits from 100 to 699 (RFC 3261 §7.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StatusCode(u16);

impl StatusCode {
    /// 100 Trying.
    pub const TRYING: Self = Self(100);
    /// 180 Ringing.
    pub const RINGING: Self = Self(180);
    /// 181 Call Is Being Forwarded.
    pub const CALL_IS_BEING_FORWARDED: Self = Self(181);
    /// 182 Queued.
    pub const QUEUED: Self = Self(182);
    /// 183 Session Progress.
    pub const SESSION_PROGRESS: Self = Self(183);
    /// 200 OK.
    pub const OK: Self = Self(200);
    /// 202 Accepted (RFC 3265, deprecated by RFC 6665 but still sent).
    pub const ACCEPTED: Self = Self(202);
    /// 301 Moved Permanently.
    pub const MOVED_PERMANENTLY: Self = Self(301);
    /// 302 Moved Temporarily.
    pub const MOVED_TEMPORARILY: Self = Self(302);
    /// 400 Bad Request.
    pub const BAD_REQUEST: Self = Self(400);
    /// 401 Unauthorized.
    pub const UNAUTHORIZED: Self = Self(401);
    /// 403 Forbidden.
    pub const FORBIDDEN: Self = Self(403);
    /// 404 Not Found.
    pub const NOT_FOUND: Self = Self(404);
    /// 405 Method Not Allowed.
    pub const METHOD_NOT_ALLOWED: Self = Self(405);
    /// 407 Proxy Authentication Required.
    pub const PROXY_AUTHENTICATION_REQUIRED: Self = Self(407);
    /// 408 Request Timeout.
    pub const REQUEST_TIMEOUT: Self = Self(408);
    /// 415 Unsupported Media Type.
    pub const UNSUPPORTED_MEDIA_TYPE: Self = Self(415);
    /// 420 Bad Extension.
    pub const BAD_EXTENSION: Self = Self(420);
    /// 422 Session Interval Too Small (RFC 4028).
    pub const SESSION_INTERVAL_TOO_SMALL: Self = Self(422);
    /// 423 Interval Too Brief.
    pub const INTERVAL_TOO_BRIEF: Self = Self(423);
    /// 480 Temporarily Unavailable.
    pub const TEMPORARILY_UNAVAILABLE: Self = Self(480);
    /// 481 Call/Transaction Does Not Exist.
    pub const CALL_OR_TRANSACTION_DOES_NOT_EXIST: Self = Self(481);
    /// 482 Loop Detected.
    pub const LOOP_DETECTED: Self = Self(482);
    /// 483 Too Many Hops.
    pub const TOO_MANY_HOPS: Self = Self(483);
    /// 486 Busy Here.
    pub const BUSY_HERE: Self = Self(486);
    /// 487 Request Terminated.
    pub const REQUEST_TERMINATED: Self = Self(487);
    /// 488 Not Acceptable Here.
    pub const NOT_ACCEPTABLE_HERE: Self = Self(488);
    /// 491 Request Pending.
    pub const REQUEST_PENDING: Self = Self(491);
    /// 500 Server Internal Error.
    pub const SERVER_INTERNAL_ERROR: Self = Self(500);
    /// 501 Not Implemented.
    pub const NOT_IMPLEMENTED: Self = Self(501);
    /// 503 Service Unavailable.
    pub const SERVICE_UNAVAILABLE: Self = Self(503);
    /// 505 Version Not Supported.
    pub const VERSION_NOT_SUPPORTED: Self = Self(505);
    /// 513 Message Too Large.
    pub const MESSAGE_TOO_LARGE: Self = Self(513);
    /// 600 Busy Everywhere.
    pub const BUSY_EVERYWHERE: Self = Self(600);
    /// 603 Decline.
    pub const DECLINE: Self = Self(603);

    /// A status code, or `None` outside 100..=699.
    pub const fn new(code: u16) -> Option<Self> {
        if code >= 100 && code <= 699 {
            Some(Self(code))
        } else {
            None
        }
    }

    /// The numeric code.
    pub const fn as_u16(self) -> u16 {
        self.0
    }

    /// The class digit: 1 (provisional) to 6 (global failure).
    pub const fn class(self) -> u8 {
        (self.0 / 100) as u8
    }

    /// 1xx.
    pub const fn is_provisional(self) -> bool {
        self.0 < 200
    }

    /// 2xx.
    pub const fn is_success(self) -> bool {
        self.0 >= 200 && self.0 < 300
    }

    /// 2xx to 6xx: the response ends the transaction (RFC 3261 §17).
    pub const fn is_final(self) -> bool {
        self.0 >= 200
    }

    /// The reason phrase RFC 3261 §21 (and the RFCs that add codes) suggests, or a generic one
    /// for the class when the code is not listed.
    pub const fn canonical_reason(self) -> &'static str {
        match self.0 {
            100 => "Trying",
            180 => "Ringing",
            181 => "Call Is Being Forwarded",
            182 => "Queued",
            183 => "Session Progress",
            199 => "Early Dialog Terminated",
            200 => "OK",
            202 => "Accepted",
            204 => "No Notification",
            300 => "Multiple Choices",
            301 => "Moved Permanently",
            302 => "Moved Temporarily",
            305 => "Use Proxy",
            380 => "Alternative Service",
            400 => "Bad Request",
            401 => "Unauthorized",
            402 => "Payment Required",
            403 => "Forbidden",
            404 => "Not Found",
            405 => "Method Not Allowed",
            406 => "Not Acceptable",
            407 => "Proxy Authentication Required",
            408 => "Request Timeout",
            410 => "Gone",
            412 => "Conditional Request Failed",
            413 => "Request Entity Too Large",
            414 => "Request-URI Too Long",
            415 => "Unsupported Media Type",
            416 => "Unsupported URI Scheme",
            420 => "Bad Extension",
            421 => "Extension Required",
            422 => "Session Interval Too Small",
            423 => "Interval Too Brief",
            480 => "Temporarily Unavailable",
            481 => "Call/Transaction Does Not Exist",
            482 => "Loop Detected",
            483 => "Too Many Hops",
            484 => "Address Incomplete",
            485 => "Ambiguous",
            486 => "Busy Here",
            487 => "Request Terminated",
            488 => "Not Acceptable Here",
            489 => "Bad Event",
            491 => "Request Pending",
            493 => "Undecipherable",
            500 => "Server Internal Error",
            501 => "Not Implemented",
            502 => "Bad Gateway",
            503 => "Service Unavailable",
            504 => "Server Time-out",
            505 => "Version Not Supported",
            513 => "Message Too Large",
            580 => "Precondition Failure",
            600 => "Busy Everywhere",
            603 => "Decline",
            604 => "Does Not Exist Anywhere",
            606 => "Not Acceptable",
            _ => match self.0 / 100 {
                1 => "Provisional",
                2 => "Success",
                3 => "Redirection",
                4 => "Client Error",
                5 => "Server Error",
                _ => "Global Failure",
            },
        }
    }
}

impl fmt::Display for StatusCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl From<StatusCode> for u16 {
    fn from(code: StatusCode) -> u16 {
        code.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_outside_100_to_699_are_rejected() {
        assert_eq!(StatusCode::new(99), None);
        assert_eq!(StatusCode::new(700), None);
        assert_eq!(StatusCode::new(699).map(StatusCode::class), Some(6));
        assert!(StatusCode::RINGING.is_provisional() && !StatusCode::RINGING.is_final());
        assert!(StatusCode::OK.is_success() && StatusCode::OK.is_final());
        assert_eq!(
            StatusCode::new(499).map(StatusCode::canonical_reason),
            Some("Client Error")
        );
    }
}
