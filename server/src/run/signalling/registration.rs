//! Outbound registration (RFC 3261 §10.2) for `tandem run`: one `tandem-sip`
//! [`Registration`] state machine per configured `[[registrations]]` entry, driven on the
//! signalling loop's [`TransactionLayer`]. The machine keeps the Call-ID and CSeq rules,
//! answers digest challenges, refreshes at `min(expires/2, expires - 30 s)`, backs off on
//! failure and un-registers at shutdown; this module gives it addresses, a Via and a
//! transaction, and logs what it reports.
//!
//! # Contract for the signalling loop
//!
//! It sends on the loop's layer itself (drain `poll_transmit` afterwards, as after any
//! other call):
//!
//! - at start, and whenever [`Registrations::poll_timeout`] is due:
//!   [`Registrations::handle_timeout`] sends the REGISTERs that are due;
//! - `Event::Response` for a transaction [`Registrations::owns_transaction`]:
//!   [`Registrations::handle_response`] (a challenge is answered at once, on the layer);
//! - `Event::Timeout` / `Event::TransportError` for one:
//!   [`Registrations::handle_transaction_failed`];
//! - when draining: [`Registrations::unregister_all`], then wait until
//!   [`Registrations::is_settled`] (or the drain deadline).
//!
//! - [`Registrations::poll_locate`] has a registrar name to look up: run it off the loop
//!   ([`spawn_locate`](crate::run::locate::spawn_locate)) and report the answer with
//!   [`Registrations::handle_located`], which sends the REGISTER that waited for it.
//!
//! A registrar by IP address is used as it is; one by host name is looked up as RFC 3263
//! says ([`crate::run::locate`]: SRV, else A/AAAA) before its first REGISTER, and again after
//! every address it gave has failed. A lookup that finds nothing counts as a failed
//! REGISTER (logged; retried after the back-off). `;transport=tcp` (or an SRV `_sip._tcp`
//! choice) sends the REGISTERs over TCP, with a TCP Via; the Contact says `;transport=tcp`
//! when the registrar URI does. Entries that cannot work (`sips:`, another transport) are
//! logged and left out at start.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::net::SocketAddr;
use std::time::Instant;

use tandem_sip::auth::DigestClient;
use tandem_sip::dialog::{
    Backoff, Registration, RegistrationConfig, RegistrationEvent, RegistrationState,
};
use tandem_sip::message::{HeaderName, NameAddr, Response, Uri};
use tandem_sip::transaction::{TransactionId, TransactionLayer};

use crate::run::config::Registration as RegistrationEntry;
use crate::run::locate::{Hop, LocateError, Plan, Query, plan};
use crate::run::transport::Transport as Wire;

/// One configured registration and its machine.
#[derive(Debug)]
struct Entry {
    /// For logs.
    registrar: Uri,
    aor: NameAddr,
    /// The registrar's host name, when it has one (looked up before sending).
    query: Option<Query>,
    /// Where REGISTERs go: the first hop is used, the others are kept for failover.
    hops: Vec<Hop>,
    /// A lookup is wanted ([`Registrations::poll_locate`]) or under way.
    lookup: LookupState,
    machine: Registration,
    /// The REGISTER transaction outstanding, if any.
    transaction: Option<TransactionId>,
    /// Given up at shutdown without an un-REGISTER (nothing was bound): ignored from then on.
    stopped: bool,
}

/// Where an entry's lookup stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LookupState {
    /// Nothing to look up now.
    Idle,
    /// A REGISTER waits for a lookup the loop has not started.
    Wanted,
    /// Started; [`Registrations::handle_located`] will report.
    InFlight,
}

/// Every outbound registration. See the module docs.
#[derive(Debug)]
pub struct Registrations {
    local: SocketAddr,
    entries: Vec<Entry>,
}

fn random_u64() -> u64 {
    RandomState::new().hash_one(0u8)
}

impl Registrations {
    /// The registrations of `configs`, registering our SIP address `local`; the first
    /// REGISTERs are ready at once ([`Self::handle_timeout`]).
    pub fn new(configs: &[RegistrationEntry], local: SocketAddr) -> Self {
        let entries = configs
            .iter()
            .filter_map(|c| match Entry::new(c, local) {
                Ok(e) => Some(e),
                Err(why) => {
                    tracing::warn!(registrar = %c.registrar, user = %c.user, "registration left out: {why}");
                    None
                }
            })
            .collect();
        Self { local, entries }
    }

    /// The next registrar name to look up (the entry's index and the query); report the
    /// answer with [`Self::handle_located`].
    pub fn poll_locate(&mut self) -> Option<(usize, Query)> {
        let (index, entry) = self
            .entries
            .iter_mut()
            .enumerate()
            .find(|(_, e)| e.lookup == LookupState::Wanted)?;
        entry.lookup = LookupState::InFlight;
        Some((index, entry.query.clone()?))
    }

    /// The lookup for entry `index` finished: its REGISTER goes out, or it counts as a
    /// failed one (retried after the back-off).
    pub fn handle_located(
        &mut self,
        now: Instant,
        layer: &mut TransactionLayer,
        index: usize,
        hops: Result<Vec<Hop>, LocateError>,
    ) {
        let local = self.local;
        let Some(entry) = self.entries.get_mut(index) else {
            return;
        };
        if entry.lookup != LookupState::InFlight || entry.stopped {
            return;
        }
        entry.lookup = LookupState::Idle;
        match hops {
            Ok(hops) if !hops.is_empty() => entry.hops = hops,
            failed => {
                let why = failed
                    .err()
                    .map_or_else(|| "no address".to_owned(), |e| e.to_string());
                tracing::warn!(registrar = %entry.registrar, "registrar not resolved: {why}");
                // The machine backs off only from a REGISTER it handed out: take the one that
                // waited for the lookup and fail it, as a transport error would.
                if entry.machine.poll_request().is_some() {
                    entry.machine.handle_transaction_failure(now);
                }
            }
        }
        entry.flush(now, layer, local);
    }

    /// True when `id` is one of our REGISTER transactions.
    pub fn owns_transaction(&self, id: TransactionId) -> bool {
        self.entries.iter().any(|e| e.transaction == Some(id))
    }

    /// How many registrations hold a current binding at `now`.
    pub fn registered(&self, now: Instant) -> usize {
        self.entries
            .iter()
            .filter(|e| e.machine.is_registered(now))
            .count()
    }

    /// True when no REGISTER awaits an answer or is ready to go (shutdown waits for this
    /// after [`Self::unregister_all`]).
    pub fn is_settled(&self) -> bool {
        self.entries.iter().all(|e| {
            e.stopped
                || (e.transaction.is_none() && e.machine.state() != RegistrationState::ReadyToSend)
        })
    }

    /// When [`Self::handle_timeout`] has something to do.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.entries
            .iter()
            .filter(|e| !e.stopped)
            .filter_map(|e| e.machine.poll_timeout())
            .min()
    }

    /// Sends every REGISTER due at `now` (refreshes, retries, and the first ones).
    pub fn handle_timeout(&mut self, now: Instant, layer: &mut TransactionLayer) {
        let local = self.local;
        for entry in self.entries.iter_mut().filter(|e| !e.stopped) {
            entry.machine.handle_timeout(now);
            entry.flush(now, layer, local);
        }
    }

    /// A response on REGISTER transaction `id`.
    pub fn handle_response(
        &mut self,
        now: Instant,
        layer: &mut TransactionLayer,
        id: TransactionId,
        response: &Response,
    ) {
        let local = self.local;
        let Some(entry) = self.entries.iter_mut().find(|e| e.transaction == Some(id)) else {
            return;
        };
        if response.status.is_final() {
            entry.transaction = None;
        }
        entry.machine.handle_response(now, response);
        entry.flush(now, layer, local);
    }

    /// REGISTER transaction `id` timed out or could not be sent: retried after a back-off.
    pub fn handle_transaction_failed(
        &mut self,
        now: Instant,
        layer: &mut TransactionLayer,
        id: TransactionId,
    ) {
        let local = self.local;
        if let Some(entry) = self.entries.iter_mut().find(|e| e.transaction == Some(id)) {
            entry.transaction = None;
            // This address failed: the next one, or a new lookup, next time (RFC 3263 §4.3).
            if entry.query.is_some() && !entry.hops.is_empty() {
                entry.hops.remove(0);
            }
            entry.machine.handle_transaction_failure(now);
            entry.flush(now, layer, local);
        }
    }

    /// Shutdown: removes every binding we hold (`Expires: 0`; a REGISTER still awaiting
    /// its answer is followed by one) and stops retrying the others, which hold nothing to
    /// remove and whose registrar may not answer at all (waiting for it would only hold up
    /// the drain).
    pub fn unregister_all(&mut self, now: Instant, layer: &mut TransactionLayer) {
        let local = self.local;
        for entry in &mut self.entries {
            if entry.transaction.is_none() && !entry.machine.is_registered(now) {
                entry.stopped = true;
                continue;
            }
            entry.machine.unregister(now);
            entry.flush(now, layer, local);
        }
    }
}

impl Entry {
    fn new(config: &RegistrationEntry, local: SocketAddr) -> Result<Self, String> {
        let registrar = Uri::parse(config.registrar.as_str()).map_err(|e| e.to_string())?;
        let (query, hops, transport) = match plan(&registrar).map_err(|e| e.to_string())? {
            Plan::Ready(hop) => (None, vec![hop], hop.transport),
            Plan::Lookup(query) => {
                let transport = query.transport.unwrap_or(Wire::Udp);
                (Some(query), Vec::new(), transport)
            }
        };
        let aor_text = match &config.aor {
            Some(aor) => format!("<{aor}>"),
            None => {
                let sip = config.registrar.uri();
                match sip.port {
                    Some(port) => format!("<sip:{}@{}:{port}>", config.user, sip.host),
                    None => format!("<sip:{}@{}>", config.user, sip.host),
                }
            }
        };
        let aor = NameAddr::parse(&aor_text).map_err(|e| format!("{aor_text}: {e}"))?;
        let param = match transport {
            Wire::Tcp => ";transport=tcp",
            Wire::Udp => "",
        };
        let contact_text = format!("<sip:{}@{local}{param}>", config.user);
        let contact = NameAddr::parse(&contact_text).map_err(|e| format!("{contact_text}: {e}"))?;
        let username = config.auth_user.as_deref().unwrap_or(&config.user);
        let client =
            DigestClient::new(username, config.password.clone()).map_err(|e| e.to_string())?;
        let mut seed = [0u8; 32];
        for chunk in seed.chunks_mut(8) {
            chunk.copy_from_slice(&random_u64().to_le_bytes());
        }
        let machine = Registration::new(
            RegistrationConfig {
                registrar: registrar.clone(),
                aor: aor.clone(),
                contact,
                expires: config.expires_s,
                call_id: format!("{:016x}@tandem", random_u64()),
                from_tag: format!("{:016x}", random_u64()),
                backoff: Backoff::default(),
            },
            Some(client),
            seed,
        );
        Ok(Self {
            registrar,
            aor,
            query,
            hops,
            lookup: LookupState::Idle,
            machine,
            transaction: None,
            stopped: false,
        })
    }

    /// Sends the REGISTER the machine has ready (one at most: it never has two
    /// outstanding) and logs what it reported.
    fn flush(&mut self, now: Instant, layer: &mut TransactionLayer, local: SocketAddr) {
        let ready = self.machine.state() == RegistrationState::ReadyToSend;
        let hop = self.hops.first().copied();
        if self.transaction.is_none() && ready && hop.is_none() {
            // The REGISTER waits for the registrar's addresses.
            if self.lookup == LookupState::Idle {
                self.lookup = LookupState::Wanted;
            }
        } else if let (None, Some(hop)) = (self.transaction, hop) {
            if let Some(mut request) = self.machine.poll_request() {
                request.headers.push_front(
                    HeaderName::Via,
                    format!("SIP/2.0/{} {local};rport", hop.transport),
                );
                match layer.send_request(now, request, hop.addr, hop.sip_transport()) {
                    Ok(id) => self.transaction = Some(id),
                    Err(e) => {
                        tracing::warn!(registrar = %self.registrar, "REGISTER not sent: {e}");
                        self.machine.handle_transaction_failure(now);
                    }
                }
            }
        }
        while let Some(event) = self.machine.poll_event() {
            let (registrar, aor) = (&self.registrar, &self.aor);
            match event {
                RegistrationEvent::Registered { expires } => {
                    tracing::info!(%registrar, %aor, expires, "registered upstream");
                }
                RegistrationEvent::Unregistered => {
                    tracing::info!(%registrar, %aor, "unregistered upstream");
                }
                RegistrationEvent::AuthenticationFailed { status } => {
                    tracing::warn!(%registrar, %aor, %status, "upstream registrar refused our credentials");
                }
                RegistrationEvent::Failed { status, retry_at } => {
                    let retry_in = retry_at.map(|t| t.saturating_duration_since(now));
                    tracing::warn!(%registrar, %aor, ?status, ?retry_in, "upstream registration failed");
                }
                other => tracing::debug!(%registrar, ?other, "registration event"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tandem_sip::message::{Message, Transport};
    use tandem_sip::transaction::{Config as LayerConfig, Event, Input};

    use super::super::registrar::Registrar;
    use super::*;
    use crate::run::config::Config;

    /// The origin of virtual time: only offsets from it matter.
    fn origin() -> Instant {
        Instant::now()
    }

    const LOCAL: &str = "127.0.0.1:5060";
    const UPSTREAM: &str = "127.0.0.1:5070";

    /// Tandem registering as alice with a Tandem registrar that knows alice's password
    /// `registrar_password`.
    fn setup(password: &str, registrar_password: &str) -> (Registrations, Registrar, Instant) {
        let t0 = origin();
        let client = Config::from_toml(&format!(
            "[[registrations]]\nregistrar = \"sip:{UPSTREAM}\"\nuser = \"alice\"\n\
             password = \"{password}\"\nexpires_s = 120\n"
        ))
        .unwrap();
        let server = Config::from_toml(&format!(
            "[[endpoints]]\nusername = \"alice\"\npassword = \"{registrar_password}\"\n"
        ))
        .unwrap();
        let regs = Registrations::new(&client.registrations, LOCAL.parse().unwrap());
        (regs, Registrar::new(&server, t0), t0)
    }

    /// Sends what is due, lets `registrar` answer every REGISTER and feeds the answers back
    /// until nothing more goes out. Returns the statuses seen.
    fn exchange(
        now: Instant,
        regs: &mut Registrations,
        registrar: &mut Registrar,
        layer: &mut TransactionLayer,
    ) -> Vec<u16> {
        let mut statuses = Vec::new();
        regs.handle_timeout(now, layer);
        while let Some(t) = layer.poll_transmit() {
            assert_eq!(t.destination, UPSTREAM.parse().unwrap());
            let Ok(Message::Request(request)) = Message::parse(&t.bytes) else {
                panic!("a REGISTER");
            };
            let response = registrar.handle_register(now, &request, LOCAL.parse().unwrap());
            statuses.push(response.status.as_u16());
            let bytes = Message::from(response).to_bytes();
            layer.handle(
                now,
                Input::Received {
                    source: UPSTREAM.parse().unwrap(),
                    local: LOCAL.parse().unwrap(),
                    transport: Transport::Udp,
                    connection: None,
                    bytes: &bytes,
                },
            );
            while let Some(event) = layer.poll_event() {
                if let Event::Response { id, response } = event {
                    assert!(regs.owns_transaction(id));
                    regs.handle_response(now, layer, id, &response);
                }
            }
        }
        statuses
    }

    #[test]
    fn registers_through_a_challenge_refreshes_and_unregisters() {
        let (mut regs, mut registrar, t0) = setup("secret", "secret");
        let mut layer = TransactionLayer::new(LayerConfig::default(), [1; 16]);
        assert_eq!(
            regs.poll_timeout(),
            None,
            "the first REGISTER is ready at once"
        );
        assert_eq!(
            exchange(t0, &mut regs, &mut registrar, &mut layer),
            [401, 200]
        );
        assert_eq!(regs.registered(t0), 1);
        assert!(regs.is_settled());
        let contact: Uri = "sip:alice@127.0.0.1:5060".parse::<Uri>().unwrap();
        assert_eq!(registrar.contacts_for(t0, "alice"), [contact]);
        // Refreshed at half the 120 s granted, reusing the nonce: no new challenge.
        let refresh = t0 + Duration::from_secs(60);
        assert_eq!(regs.poll_timeout(), Some(refresh));
        assert!(
            exchange(
                refresh - Duration::from_secs(1),
                &mut regs,
                &mut registrar,
                &mut layer
            )
            .is_empty()
        );
        assert_eq!(
            exchange(refresh, &mut regs, &mut registrar, &mut layer),
            [200]
        );
        assert_eq!(regs.registered(refresh), 1);
        // Shutdown removes the binding.
        regs.unregister_all(refresh, &mut layer);
        assert!(!regs.is_settled());
        let mut statuses = Vec::new();
        while let Some(t) = layer.poll_transmit() {
            let Ok(Message::Request(request)) = Message::parse(&t.bytes) else {
                panic!("a REGISTER");
            };
            assert_eq!(request.headers.expires(), Ok(Some(0)));
            let response = registrar.handle_register(refresh, &request, LOCAL.parse().unwrap());
            statuses.push(response.status.as_u16());
            let bytes = Message::from(response).to_bytes();
            layer.handle(
                refresh,
                Input::Received {
                    source: UPSTREAM.parse().unwrap(),
                    local: LOCAL.parse().unwrap(),
                    transport: Transport::Udp,
                    connection: None,
                    bytes: &bytes,
                },
            );
            while let Some(event) = layer.poll_event() {
                if let Event::Response { id, response } = event {
                    regs.handle_response(refresh, &mut layer, id, &response);
                }
            }
        }
        assert_eq!(statuses, [200]);
        assert!(regs.is_settled());
        assert_eq!(regs.registered(refresh), 0);
        assert!(registrar.contacts_for(refresh, "alice").is_empty());
        assert_eq!(regs.poll_timeout(), None);
    }

    #[test]
    fn a_refused_password_is_retried_later_not_in_a_loop() {
        let (mut regs, mut registrar, t0) = setup("wrong", "secret");
        let mut layer = TransactionLayer::new(LayerConfig::default(), [2; 16]);
        assert_eq!(
            exchange(t0, &mut regs, &mut registrar, &mut layer),
            [401, 403]
        );
        assert_eq!(regs.registered(t0), 0);
        assert_eq!(regs.poll_timeout(), Some(t0 + Backoff::default().first));
        // Nothing is bound: shutdown sends no un-REGISTER and waits for nothing.
        regs.unregister_all(t0, &mut layer);
        assert!(layer.poll_transmit().is_none());
        assert!(regs.is_settled());
        assert_eq!(regs.poll_timeout(), None);
    }

    #[test]
    fn a_registrar_that_never_answers_is_retried() {
        let (mut regs, _registrar, t0) = setup("secret", "secret");
        let mut layer = TransactionLayer::new(LayerConfig::default(), [3; 16]);
        regs.handle_timeout(t0, &mut layer);
        while layer.poll_transmit().is_some() {}
        // Timer F: 64*T1 later the transaction times out.
        let later = t0 + Duration::from_secs(40);
        layer.handle(later, Input::Timeout);
        let mut failed = 0;
        while let Some(event) = layer.poll_event() {
            if let Event::Timeout { id, .. } = event {
                assert!(regs.owns_transaction(id));
                regs.handle_transaction_failed(later, &mut layer, id);
                failed += 1;
            }
        }
        assert_eq!(failed, 1);
        assert_eq!(regs.poll_timeout(), Some(later + Backoff::default().first));
    }

    #[test]
    fn a_registrar_by_name_is_looked_up_first_and_reached_over_its_transport() {
        let config = Config::from_toml(
            "[[registrations]]\nregistrar = \"sip:registrar.example;transport=tcp\"\n\
             user = \"a\"\npassword = \"p\"\n",
        )
        .unwrap();
        let t0 = origin();
        let mut regs = Registrations::new(&config.registrations, LOCAL.parse().unwrap());
        let mut layer = TransactionLayer::new(LayerConfig::default(), [4; 16]);
        regs.handle_timeout(t0, &mut layer);
        assert!(layer.poll_transmit().is_none(), "nothing before the lookup");
        let (entry, query) = regs.poll_locate().expect("a lookup");
        assert_eq!(query.host, "registrar.example");
        assert!(regs.poll_locate().is_none(), "one lookup at a time");
        assert!(!regs.is_settled());
        // Nothing found: a failed REGISTER, retried after the back-off with a new lookup.
        regs.handle_located(
            t0,
            &mut layer,
            entry,
            Err(LocateError::NotFound("registrar.example".into())),
        );
        assert!(layer.poll_transmit().is_none());
        let retry = regs.poll_timeout().expect("a retry");
        assert_eq!(retry, t0 + Backoff::default().first);
        regs.handle_timeout(retry, &mut layer);
        let (entry, _) = regs.poll_locate().expect("looked up again");
        let hop = Hop {
            addr: UPSTREAM.parse().unwrap(),
            transport: Wire::Tcp,
        };
        regs.handle_located(retry, &mut layer, entry, Ok(vec![hop]));
        let sent = layer.poll_transmit().expect("the REGISTER");
        assert_eq!(
            (sent.destination, sent.transport),
            (hop.addr, Transport::Tcp)
        );
        let Ok(Message::Request(register)) = Message::parse(&sent.bytes) else {
            panic!("a REGISTER");
        };
        assert_eq!(
            register.headers.top_via().unwrap().transport,
            Transport::Tcp
        );
        let contact = register.headers.get("Contact").unwrap().to_owned();
        assert!(contact.contains(";transport=tcp"), "{contact}");
        // sips: cannot work: left out at start.
        let config = Config::from_toml(
            "[[registrations]]\nregistrar = \"sips:registrar.example\"\nuser = \"a\"\npassword = \"p\"\n",
        )
        .unwrap();
        let regs = Registrations::new(&config.registrations, LOCAL.parse().unwrap());
        assert!(regs.is_settled() && regs.poll_timeout().is_none());
    }
}
