//! Date (RFC 3261 §20.17): an RFC 1123 date that must be in GMT.
//!
//! Only checked, not converted: Tandem never acts on a peer's Date, but a malformed one (RFC
//! 4475 §3.1.2.12 sends `EST`) makes the request invalid.

use crate::error::{ParseErrorKind, ValueError};

/// Checks `wkday "," SP 2DIGIT SP month SP 4DIGIT SP 2DIGIT ":" 2DIGIT ":" 2DIGIT SP "GMT"`.
pub(crate) fn check_date(s: &str) -> Result<(), ValueError> {
    const WKDAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let b = s.as_bytes();
    let digits =
        |r: std::ops::Range<usize>| b.get(r).is_some_and(|d| d.iter().all(u8::is_ascii_digit));
    let bad = |at| Err(ValueError::new(ParseErrorKind::InvalidNumber, at));
    if b.len() != 29 {
        return bad(0);
    }
    if !WKDAYS.contains(&&s[0..3]) || &b[3..5] != b", " {
        return bad(0);
    }
    if !digits(5..7) || b[7] != b' ' || !MONTHS.contains(&&s[8..11]) || b[11] != b' ' {
        return bad(5);
    }
    if !digits(12..16) || b[16] != b' ' {
        return bad(12);
    }
    if !digits(17..19) || b[19] != b':' || !digits(20..22) || b[22] != b':' || !digits(23..25) {
        return bad(17);
    }
    if &b[25..] != b" GMT" {
        return bad(25);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_gmt_rfc1123_dates_pass() {
        assert!(check_date("Sat, 13 Nov 2010 23:29:00 GMT").is_ok());
        assert_eq!(
            check_date("Fri, 01 Jan 2010 16:00:00 EST").map_err(|e| e.offset),
            Err(25)
        );
        assert!(check_date("Fri, 1 Jan 2010 16:00:00 GMT").is_err());
        assert!(check_date("Xyz, 01 Jan 2010 16:00:00 GMT").is_err());
        assert!(check_date("Fri, 01 Jan 2010 16:00 GMT").is_err());
        assert!(check_date("Fri, 01 Jan 2010 16:00:00 GMT ").is_err());
    }
}
