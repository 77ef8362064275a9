//! OPTIONS (RFC 3261 §11): 200 with what Tandem supports (Allow, Accept, Supported), in or
//! out of a dialog. Tandem always accepts calls while it runs, so OPTIONS doubles as a
//! health check; when draining, INVITEs get 503 but OPTIONS still gets 200.

use tandem_sip::dialog::uas::{ACCEPT, ALLOW, SUPPORTED};
use tandem_sip::message::{HeaderName, Request, Response, StatusCode};

use super::random::Random;

/// The 200 to `options`. An out-of-dialog request gets a new To tag; an in-dialog one keeps
/// its tag (it is the dialog's).
pub(super) fn response(options: &Request, random: &mut Random) -> Response {
    let mut response = Response::from_request(options, StatusCode::OK);
    let tagged = response
        .headers
        .to()
        .is_ok_and(|to| to.tag().is_some_and(|t| !t.is_empty()));
    if !tagged {
        // A To that cannot take a tag was refused by the layer's validation already.
        let _ = response.set_to_tag(&random.tag());
    }
    response
        .with_header(HeaderName::Allow, ALLOW)
        .with_header(HeaderName::Accept, ACCEPT)
        .with_header(HeaderName::Supported, SUPPORTED)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(to: &str) -> Request {
        Request::parse(
            format!(
                "OPTIONS sip:127.0.0.1 SIP/2.0\r\n\
                 Via: SIP/2.0/UDP 127.0.0.1:5062;branch=z9hG4bK-o\r\n\
                 Max-Forwards: 70\r\n\
                 From: <sip:sipp@127.0.0.1>;tag=f1\r\n\
                 To: {to}\r\n\
                 Call-ID: o1\r\n\
                 CSeq: 1 OPTIONS\r\n\r\n"
            )
            .as_bytes(),
        )
        .unwrap()
    }

    #[test]
    fn out_of_dialog_options_get_200_with_capabilities_and_a_tag() {
        let r = response(&options("<sip:127.0.0.1>"), &mut Random::new());
        assert_eq!(r.status, StatusCode::OK);
        assert!(r.headers.to().unwrap().tag().is_some());
        for name in [HeaderName::Allow, HeaderName::Accept, HeaderName::Supported] {
            assert!(r.headers.first(name).is_some(), "{name:?}");
        }
    }

    #[test]
    fn in_dialog_options_keep_the_dialogs_tag() {
        let r = response(&options("<sip:127.0.0.1>;tag=ours"), &mut Random::new());
        assert_eq!(r.headers.to().unwrap().tag(), Some("ours"));
    }
}
