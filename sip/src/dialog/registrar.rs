//! A registrar (RFC 3261 §10.3): processes REGISTER requests against a bounded binding store
//! and answers them.
//!
//! The caller authenticates the request first (see [`crate::auth`]) and checks the
//! Request-URI names a domain it serves (§10.3 steps 1–4); [`Registrar::handle_register`]
//! does the rest: it canonicalizes the address-of-record from To (step 5), checks the
//! Contacts (step 6: `*` only alone and with `Expires: 0`), picks each binding's expiry
//! (Contact `expires` parameter, else the Expires header, else the default; 423 with
//! Min-Expires below the minimum; shortened to the maximum), applies the Call-ID/CSeq rule
//! (step 7: a binding updated again from the same Call-ID needs a higher CSeq, otherwise the
//! whole request fails with 500) and returns the 200 listing every current binding of the AOR
//! with its remaining `expires` (step 8).
//!
//! A request is applied atomically: on any error nothing changes.
//!
//! # Limits
//! The store holds at most [`RegistrarConfig::max_bindings`] bindings in all and
//! [`RegistrarConfig::max_bindings_per_aor`] per AOR. A REGISTER that would exceed either is
//! answered 503 Service Unavailable and changes nothing (expired bindings are dropped first,
//! so they never count). Bindings expire in the caller's time: pass `now` to every call, and
//! call [`Registrar::handle_timeout`] at [`Registrar::poll_timeout`] to drop them eagerly.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::message::{Contact, HeaderName, Method, NameAddr, Request, Response, StatusCode, Uri};

/// Registrar settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RegistrarConfig {
    /// Expiry when the REGISTER names none, in seconds (RFC 3261 §10.2.1.1 suggests 3600).
    pub default_expires: u32,
    /// Shortest expiry accepted; shorter non-zero requests get 423 (§10.3 step 7).
    pub min_expires: u32,
    /// Longest expiry granted; longer requests are shortened (§10.3 step 7).
    pub max_expires: u32,
    /// Most bindings held in all.
    pub max_bindings: usize,
    /// Most bindings held for one AOR.
    pub max_bindings_per_aor: usize,
}

impl Default for RegistrarConfig {
    fn default() -> Self {
        Self {
            default_expires: 3600,
            min_expires: 60,
            max_expires: 7200,
            max_bindings: 10_000,
            max_bindings_per_aor: 10,
        }
    }
}

/// One stored binding of an AOR to a contact address.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Binding {
    /// The contact, without its `expires` parameter.
    contact: NameAddr,
    call_id: String,
    cseq: u32,
    expires_at: Instant,
}

/// A current binding as [`Registrar::lookup`] reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CurrentBinding {
    /// The contact address with its parameters (`q`…), without `expires`.
    pub contact: NameAddr,
    /// Seconds until it expires (rounded up, at least 1).
    pub expires: u32,
}

impl CurrentBinding {
    /// The Contact value for a 200 to REGISTER: the address with `expires=<remaining>`.
    pub fn to_contact(&self) -> NameAddr {
        let mut c = self.contact.clone();
        // A number is a valid parameter value.
        let _ = c.params.set("expires", Some(&self.expires.to_string()));
        c
    }
}

/// The registrar's binding store and REGISTER logic.
#[derive(Debug, Clone)]
pub struct Registrar {
    config: RegistrarConfig,
    aors: HashMap<String, Vec<Binding>>,
    total: usize,
}

/// What a REGISTER asks for one contact.
struct Change {
    contact: NameAddr,
    expires: u32,
}

impl Registrar {
    /// An empty registrar. `min_expires` is raised to at least 1 and `max_expires` to at
    /// least `min_expires`; `default_expires` is kept between them.
    pub fn new(config: RegistrarConfig) -> Self {
        let mut config = config;
        config.min_expires = config.min_expires.max(1);
        config.max_expires = config.max_expires.max(config.min_expires);
        config.default_expires = config
            .default_expires
            .clamp(config.min_expires, config.max_expires);
        Self {
            config,
            aors: HashMap::new(),
            total: 0,
        }
    }

    /// The settings in force.
    pub fn config(&self) -> &RegistrarConfig {
        &self.config
    }

    /// Bindings held, expired ones included until dropped.
    pub fn len(&self) -> usize {
        self.total
    }

    /// True when no binding is held.
    pub fn is_empty(&self) -> bool {
        self.total == 0
    }

    /// AORs with at least one binding held.
    pub fn aor_count(&self) -> usize {
        self.aors.len()
    }

    /// The canonical form of an address-of-record (RFC 3261 §10.3 step 5):
    /// `sip:user@host[:port]` with escapes decoded, the host in lower case and every
    /// parameter and header removed (`sips:` for SIPS). `None` for a URI that is not SIP.
    pub fn canonical_aor(uri: &Uri) -> Option<String> {
        let sip = uri.as_sip()?;
        let mut s = String::from(if sip.secure { "sips:" } else { "sip:" });
        if let Some(user) = sip.user_unescaped() {
            s.push_str(&String::from_utf8_lossy(&user));
            s.push('@');
        }
        s.push_str(&sip.host.to_string().to_ascii_lowercase());
        if let Some(port) = sip.port {
            s.push(':');
            s.push_str(&port.to_string());
        }
        Some(s)
    }

    /// Processes a REGISTER (already authenticated by the caller) at `now` and returns the
    /// response to send, with `local_tag` on its To (RFC 3261 §8.2.6.2; the caller's
    /// randomness).
    ///
    /// - 200 OK listing every current binding of the AOR with its remaining `expires`
    ///   (also for a query: a REGISTER without Contact).
    /// - 400 for malformed To, Contact, Expires, Call-ID or CSeq, and for a `*` Contact that
    ///   is not alone or not with `Expires: 0`.
    /// - 404 when To is not a SIP or SIPS URI.
    /// - 423 Interval Too Brief with Min-Expires when a non-zero expiry is below the minimum.
    /// - 500 when a binding would be updated from the same Call-ID without a higher CSeq.
    /// - 503 when the store or the AOR is at its binding limit.
    pub fn handle_register(
        &mut self,
        now: Instant,
        request: &Request,
        local_tag: &str,
    ) -> Response {
        let (status, reason) = match self.process(now, request) {
            Ok(aor) => {
                let mut r = respond(request, StatusCode::OK, None, local_tag);
                for b in self.current(now, &aor) {
                    r.headers.push(HeaderName::Contact, b.to_contact());
                }
                return r;
            }
            Err(e) => e,
        };
        let mut r = respond(request, status, reason, local_tag);
        if status == StatusCode::INTERVAL_TOO_BRIEF {
            r.headers
                .push(HeaderName::MinExpires, self.config.min_expires);
        }
        r
    }

    /// The current bindings of `aor` at `now` (any URI form; it is canonicalized).
    pub fn lookup(&self, now: Instant, aor: &Uri) -> Vec<CurrentBinding> {
        match Self::canonical_aor(aor) {
            Some(key) => self.current(now, &key),
            None => Vec::new(),
        }
    }

    /// When the next binding expires.
    ///
    /// Scans every binding (O(bindings)); call it after a change, not on every tick.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.aors.values().flatten().map(|b| b.expires_at).min()
    }

    /// Drops every binding expired at `now`; returns how many.
    pub fn handle_timeout(&mut self, now: Instant) -> usize {
        let before = self.total;
        let mut total = 0;
        self.aors.retain(|_, bindings| {
            bindings.retain(|b| b.expires_at > now);
            total += bindings.len();
            !bindings.is_empty()
        });
        self.total = total;
        before - total
    }

    fn current(&self, now: Instant, key: &str) -> Vec<CurrentBinding> {
        self.aors
            .get(key)
            .into_iter()
            .flatten()
            .filter(|b| b.expires_at > now)
            .map(|b| CurrentBinding {
                contact: b.contact.clone(),
                expires: remaining_secs(b.expires_at, now),
            })
            .collect()
    }

    /// Applies the request; the AOR key on success, or the status (and reason) to answer.
    fn process(
        &mut self,
        now: Instant,
        request: &Request,
    ) -> Result<String, (StatusCode, Option<&'static str>)> {
        const BAD: (StatusCode, Option<&str>) = (StatusCode::BAD_REQUEST, None);
        if request.method != Method::Register {
            return Err((StatusCode::METHOD_NOT_ALLOWED, None));
        }
        let h = &request.headers;
        let to = h.to().map_err(|_| BAD)?;
        let call_id = h.call_id().map_err(|_| BAD)?;
        let cseq = h.cseq().map_err(|_| BAD)?.seq;
        let header_expires = h.expires().map_err(|_| BAD)?;
        let contacts = h
            .contacts()
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| BAD)?;
        let aor = Self::canonical_aor(&to.uri).ok_or((StatusCode::NOT_FOUND, None))?;
        if self.total >= self.config.max_bindings {
            // Full: make room from expired bindings before judging (O(bindings), only then).
            self.handle_timeout(now);
        }

        // Drop this AOR's expired bindings first: they neither count nor conflict.
        let mut bindings = self.aors.get(&aor).cloned().unwrap_or_default();
        bindings.retain(|b| b.expires_at > now);
        let held_before = self.aors.get(&aor).map_or(0, Vec::len);

        if contacts.contains(&Contact::Wildcard) {
            if contacts.len() != 1 || header_expires != Some(0) {
                return Err((StatusCode::BAD_REQUEST, Some("Invalid Wildcard Contact")));
            }
            if bindings
                .iter()
                .any(|b| b.call_id == call_id && cseq <= b.cseq)
            {
                return Err((StatusCode::SERVER_INTERNAL_ERROR, Some("CSeq Out Of Order")));
            }
            bindings.clear();
        } else {
            let mut changes = Vec::with_capacity(contacts.len());
            for c in contacts {
                let Contact::Address(mut contact) = c else {
                    continue;
                };
                let asked = Contact::Address(contact.clone())
                    .expires()
                    .or(header_expires)
                    .unwrap_or(self.config.default_expires);
                // §10.3 step 7: only intervals under an hour may be refused as too brief.
                if asked > 0 && asked < 3600 && asked < self.config.min_expires {
                    return Err((StatusCode::INTERVAL_TOO_BRIEF, None));
                }
                contact.params.remove("expires");
                changes.push(Change {
                    contact,
                    expires: asked.min(self.config.max_expires),
                });
            }
            let mut touched = vec![false; bindings.len()];
            for change in changes {
                let found = bindings
                    .iter()
                    .position(|b| b.contact.uri.equivalent(&change.contact.uri));
                match found {
                    Some(i) => {
                        let b = &bindings[i];
                        if !touched[i] && b.call_id == call_id && cseq <= b.cseq {
                            return Err((
                                StatusCode::SERVER_INTERNAL_ERROR,
                                Some("CSeq Out Of Order"),
                            ));
                        }
                        touched[i] = true;
                        if change.expires == 0 {
                            bindings.remove(i);
                            touched.remove(i);
                        } else {
                            bindings[i] = binding(change, call_id, cseq, now);
                        }
                    }
                    None if change.expires == 0 => {}
                    None => {
                        bindings.push(binding(change, call_id, cseq, now));
                        touched.push(true);
                    }
                }
            }
        }

        if bindings.len() > self.config.max_bindings_per_aor {
            return Err((
                StatusCode::SERVICE_UNAVAILABLE,
                Some("Too Many Contacts For This AOR"),
            ));
        }
        let total = self.total - held_before + bindings.len();
        if bindings.len() > held_before && total > self.config.max_bindings {
            return Err((StatusCode::SERVICE_UNAVAILABLE, Some("Registrar Full")));
        }
        self.total = total;
        if bindings.is_empty() {
            self.aors.remove(&aor);
        } else {
            self.aors.insert(aor.clone(), bindings);
        }
        Ok(aor)
    }
}

fn binding(change: Change, call_id: &str, cseq: u32, now: Instant) -> Binding {
    Binding {
        contact: change.contact,
        call_id: call_id.to_owned(),
        cseq,
        expires_at: now + Duration::from_secs(u64::from(change.expires)),
    }
}

/// Whole seconds left, rounded up, at least 1 for a binding still current.
fn remaining_secs(expires_at: Instant, now: Instant) -> u32 {
    let left = expires_at.saturating_duration_since(now);
    let secs = left.as_secs() + u64::from(left.subsec_nanos() > 0);
    u32::try_from(secs.max(1)).unwrap_or(u32::MAX)
}

fn respond(
    request: &Request,
    status: StatusCode,
    reason: Option<&str>,
    local_tag: &str,
) -> Response {
    let mut r = Response::from_request(request, status);
    if let Some(reason) = reason {
        r.reason = reason.to_owned();
    }
    // A malformed To or tag leaves the response without a tag; it is still answerable.
    let _ = r.set_to_tag(local_tag);
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The origin of virtual time: only offsets from it matter.
    #[allow(clippy::disallowed_methods)]
    fn origin() -> Instant {
        Instant::now()
    }

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    fn register(call_id: &str, cseq: u32, extra: &str) -> Request {
        Request::parse(
            format!(
                "REGISTER sip:tandem.example SIP/2.0\r\n\
                Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK-r{cseq}\r\n\
                Max-Forwards: 70\r\n\
                From: <sip:alice@tandem.example>;tag=a1\r\n\
                To: <sip:%61lice@TANDEM.example;user=phone>\r\n\
                Call-ID: {call_id}\r\n\
                CSeq: {cseq} REGISTER\r\n{extra}\r\n"
            )
            .as_bytes(),
        )
        .unwrap()
    }

    fn contacts(r: &Response) -> Vec<&str> {
        r.headers.values(HeaderName::Contact).collect()
    }

    #[test]
    fn binds_with_the_expiry_from_param_then_header_then_default() {
        let t0 = origin();
        let mut reg = Registrar::new(RegistrarConfig::default());
        let r = reg.handle_register(
            t0,
            &register(
                "r1@a",
                1,
                "Contact: <sip:alice@192.0.2.1>;expires=120, <sip:alice@192.0.2.2>\r\nExpires: 300\r\n",
            ),
            "reg-tag",
        );
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(r.headers.to().unwrap().tag(), Some("reg-tag"));
        assert_eq!(
            contacts(&r),
            [
                "<sip:alice@192.0.2.1>;expires=120",
                "<sip:alice@192.0.2.2>;expires=300"
            ]
        );
        let r = reg.handle_register(
            t0 + secs(10),
            &register("r2@b", 1, "Contact: <sip:alice@192.0.2.3>;q=0.5\r\n"),
            "t",
        );
        assert_eq!(
            contacts(&r),
            [
                "<sip:alice@192.0.2.1>;expires=110",
                "<sip:alice@192.0.2.2>;expires=290",
                "<sip:alice@192.0.2.3>;q=0.5;expires=3600"
            ]
        );
        assert_eq!(reg.len(), 3);
        assert_eq!(reg.aor_count(), 1);
        let found = reg.lookup(
            t0 + secs(10),
            &Uri::parse("sip:alice@tandem.example").unwrap(),
        );
        assert_eq!(found.len(), 3);
        assert_eq!(
            Registrar::canonical_aor(
                &Uri::parse("sip:%61lice@TANDEM.example:5060;user=phone").unwrap()
            )
            .as_deref(),
            Some("sip:alice@tandem.example:5060")
        );
    }

    #[test]
    fn expires_are_clamped_to_the_maximum_and_423_below_the_minimum() {
        let t0 = origin();
        let mut reg = Registrar::new(RegistrarConfig {
            min_expires: 120,
            ..Default::default()
        });
        let r = reg.handle_register(
            t0,
            &register("c@a", 1, "Contact: <sip:a@192.0.2.1>\r\nExpires: 60\r\n"),
            "t",
        );
        assert_eq!(r.status, StatusCode::INTERVAL_TOO_BRIEF);
        assert_eq!(r.headers.min_expires(), Ok(Some(120)));
        assert!(reg.is_empty());
        let r = reg.handle_register(
            t0,
            &register("c@a", 2, "Contact: <sip:a@192.0.2.1>;expires=999999\r\n"),
            "t",
        );
        assert_eq!(contacts(&r), ["<sip:a@192.0.2.1>;expires=7200"]);
    }

    #[test]
    fn same_call_id_needs_a_higher_cseq_and_other_call_ids_replace() {
        let t0 = origin();
        let mut reg = Registrar::new(RegistrarConfig::default());
        let c = "Contact: <sip:alice@192.0.2.1>\r\n";
        assert_eq!(
            reg.handle_register(t0, &register("c@a", 5, c), "t").status,
            StatusCode::OK
        );
        let stale = reg.handle_register(t0, &register("c@a", 5, c), "t");
        assert_eq!(stale.status, StatusCode::SERVER_INTERNAL_ERROR);
        assert_eq!(
            reg.handle_register(t0, &register("c@a", 4, c), "t")
                .status
                .as_u16(),
            500
        );
        assert_eq!(
            reg.handle_register(t0, &register("c@a", 6, c), "t").status,
            StatusCode::OK
        );
        // Another Call-ID (the UA rebooted) may use any CSeq.
        assert_eq!(
            reg.handle_register(t0, &register("new@a", 1, c), "t")
                .status,
            StatusCode::OK
        );
        // The same contact twice in one request is one binding, not a CSeq conflict.
        let r = reg.handle_register(t0, &register("new@a", 2, "Contact: <sip:alice@192.0.2.1>, <sip:ALICE@192.0.2.1:5060>, <sip:alice@192.0.2.1>\r\n"), "t");
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(reg.len(), 2, "the :5060 one differs under RFC 3261 §19.1.4");
    }

    #[test]
    fn wildcard_with_expires_zero_removes_everything_and_is_checked() {
        let t0 = origin();
        let mut reg = Registrar::new(RegistrarConfig::default());
        reg.handle_register(
            t0,
            &register(
                "c@a",
                1,
                "Contact: <sip:a@192.0.2.1>, <sip:a@192.0.2.2>\r\n",
            ),
            "t",
        );
        assert_eq!(reg.len(), 2);
        for bad in [
            "Contact: *\r\n",
            "Contact: *\r\nExpires: 10\r\n",
            "Contact: *, <sip:a@192.0.2.9>\r\nExpires: 0\r\n",
        ] {
            let r = reg.handle_register(t0, &register("c@a", 2, bad), "t");
            assert_eq!(r.status, StatusCode::BAD_REQUEST, "{bad}");
        }
        let r = reg.handle_register(t0, &register("c@a", 1, "Contact: *\r\nExpires: 0\r\n"), "t");
        assert_eq!(r.status.as_u16(), 500, "same Call-ID, CSeq not higher");
        let r = reg.handle_register(t0, &register("c@a", 3, "Contact: *\r\nExpires: 0\r\n"), "t");
        assert_eq!(r.status, StatusCode::OK);
        assert!(contacts(&r).is_empty());
        assert!(reg.is_empty());
        assert_eq!(reg.aor_count(), 0);
    }

    #[test]
    fn expires_zero_removes_one_binding_and_a_query_lists_them() {
        let t0 = origin();
        let mut reg = Registrar::new(RegistrarConfig::default());
        reg.handle_register(
            t0,
            &register(
                "c@a",
                1,
                "Contact: <sip:a@192.0.2.1>, <sip:a@192.0.2.2>\r\n",
            ),
            "t",
        );
        let r = reg.handle_register(
            t0,
            &register("c@a", 2, "Contact: <sip:a@192.0.2.1>;expires=0\r\n"),
            "t",
        );
        assert_eq!(contacts(&r), ["<sip:a@192.0.2.2>;expires=3600"]);
        let q = reg.handle_register(t0 + secs(1), &register("q@a", 1, ""), "t");
        assert_eq!(contacts(&q), ["<sip:a@192.0.2.2>;expires=3599"]);
    }

    #[test]
    fn bindings_expire_in_virtual_time() {
        let t0 = origin();
        let mut reg = Registrar::new(RegistrarConfig::default());
        reg.handle_register(
            t0,
            &register(
                "c@a",
                1,
                "Contact: <sip:a@192.0.2.1>;expires=60, <sip:a@192.0.2.2>;expires=120\r\n",
            ),
            "t",
        );
        assert_eq!(reg.poll_timeout(), Some(t0 + secs(60)));
        let aor = Uri::parse("sip:alice@tandem.example").unwrap();
        assert_eq!(reg.lookup(t0 + secs(60), &aor).len(), 1);
        assert_eq!(reg.handle_timeout(t0 + secs(59)), 0);
        assert_eq!(reg.handle_timeout(t0 + secs(60)), 1);
        assert_eq!(reg.poll_timeout(), Some(t0 + secs(120)));
        assert_eq!(reg.handle_timeout(t0 + secs(500)), 1);
        assert_eq!(reg.poll_timeout(), None);
        assert!(reg.is_empty());
    }

    #[test]
    fn limits_answer_503_and_change_nothing() {
        let t0 = origin();
        let cfg = RegistrarConfig {
            max_bindings: 3,
            max_bindings_per_aor: 2,
            ..Default::default()
        };
        let mut reg = Registrar::new(cfg);
        let r = reg.handle_register(
            t0,
            &register(
                "c@a",
                1,
                "Contact: <sip:a@192.0.2.1>, <sip:a@192.0.2.2>, <sip:a@192.0.2.3>\r\n",
            ),
            "t",
        );
        assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(reg.is_empty());
        let other = |user: &str, cseq, contact: &str| {
            let mut r = register("o@a", cseq, &format!("Contact: {contact}\r\n"));
            r.headers
                .set(HeaderName::To, format!("<sip:{user}@tandem.example>"));
            r
        };
        assert_eq!(
            reg.handle_register(
                t0,
                &other("bob", 1, "<sip:b@192.0.2.1>;expires=60, <sip:b@192.0.2.2>"),
                "t"
            )
            .status,
            StatusCode::OK
        );
        assert_eq!(
            reg.handle_register(t0, &other("carol", 2, "<sip:c@192.0.2.1>"), "t")
                .status,
            StatusCode::OK
        );
        let full = reg.handle_register(t0, &other("dave", 3, "<sip:d@192.0.2.1>"), "t");
        assert_eq!(full.status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(full.reason, "Registrar Full");
        // Refreshing an existing binding still works when full; room appears as bindings expire.
        assert_eq!(
            reg.handle_register(t0, &other("carol", 4, "<sip:c@192.0.2.1>"), "t")
                .status,
            StatusCode::OK
        );
        assert_eq!(
            reg.handle_register(t0 + secs(60), &other("dave", 5, "<sip:d@192.0.2.1>"), "t")
                .status,
            StatusCode::OK
        );
        assert_eq!(reg.len(), 3);
    }

    #[test]
    fn malformed_or_non_sip_requests_are_refused() {
        let t0 = origin();
        let mut reg = Registrar::new(RegistrarConfig::default());
        let mut bad = register("c@a", 1, "");
        bad.headers.set(HeaderName::Contact, "<sip:a@192.0.2.1");
        let r = reg.handle_register(t0, &bad, "t");
        assert_eq!(r.status, StatusCode::BAD_REQUEST);
        let r = reg.handle_register(t0, &register("c@a", 1, "Expires: soon\r\n"), "t");
        assert_eq!(r.status, StatusCode::BAD_REQUEST);
        let mut tel = register("c@a", 1, "");
        tel.headers.set(HeaderName::To, "<tel:+15551234>");
        assert_eq!(
            reg.handle_register(t0, &tel, "t").status,
            StatusCode::NOT_FOUND
        );
    }
}
