//! How the gateway puts SIP on the wire: tags and Call-IDs, our Via and Contact, where an
//! in-dialog request goes (its hop and transport), final responses to the caller, and the
//! ACK and BYE of an outbound dialog. Plain functions over the transaction layer; no call
//! state.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use tandem_sip::dialog::Dialog;
use tandem_sip::message::{
    HeaderName, Host, NameAddr, Request, Response, StatusCode, Transport, Uri,
};
use tandem_sip::transaction::TransactionLayer;

use super::Call;
use crate::run::locate::{Hop, Plan, plan};
use crate::run::transport::Transport as Wire;

/// 64 unpredictable bits (per-process random hash keys: enough for tags and Call-IDs).
pub(super) fn random_u64() -> u64 {
    RandomState::new().hash_one(0u8)
}

pub(super) fn token() -> String {
    format!("{:016x}", random_u64())
}

/// The address a request to `uri` goes to: its host, which must be an IP literal, and its
/// port (5060 when absent).
pub fn uri_destination(uri: &Uri) -> Option<SocketAddr> {
    let sip = uri.as_sip()?;
    let ip = match &sip.host {
        Host::Ipv4(ip) => IpAddr::V4(*ip),
        Host::Ipv6(ip) => IpAddr::V6(*ip),
        Host::Domain(_) => return None,
    };
    Some(SocketAddr::new(ip, sip.port.unwrap_or(5060)))
}

/// Where an in-dialog request built by [`Dialog`] goes: its first Route (loose routing),
/// else its Request-URI, over the URI's `;transport=`, else over `side` (the transport that
/// side's INVITE used). `None` for a URI by host name: inside a dialog there is no lookup.
pub(super) fn next_hop(request: &Request, side: Wire) -> Option<Hop> {
    let uri = match request.headers.routes().next() {
        Some(Ok(route)) => route.uri,
        Some(Err(_)) => return None,
        None => request.uri.clone(),
    };
    let explicit = uri.as_sip()?.transport().is_some();
    match plan(&uri).ok()? {
        Plan::Ready(hop) if explicit => Some(hop),
        Plan::Ready(hop) => Some(Hop {
            transport: side,
            ..hop
        }),
        Plan::Lookup(_) => None,
    }
}

/// How a request arrived, from its top Via (UDP when it names anything else).
pub(super) fn arrived_over(request: &Request) -> Wire {
    match request.headers.top_via().map(|v| v.transport) {
        Ok(Transport::Tcp) => Wire::Tcp,
        _ => Wire::Udp,
    }
}

/// Our Via for requests we send from `local` over `transport` (the layer adds the branch).
pub(super) fn via(local: SocketAddr, transport: Wire) -> String {
    format!("SIP/2.0/{transport} {local};rport")
}

/// Our Contact at `local`, with `user` (escaped as on the wire) when there is one, and
/// `;transport=tcp` when the peer must reach us over TCP.
pub(super) fn contact(local: SocketAddr, user: Option<&str>, transport: Wire) -> NameAddr {
    let param = match transport {
        Wire::Tcp => ";transport=tcp",
        Wire::Udp => "",
    };
    let text = match user {
        Some(u) if !u.is_empty() => format!("<sip:{u}@{local}{param}>"),
        _ => format!("<sip:tandem@{local}{param}>"),
    };
    NameAddr::parse(&text).unwrap_or_else(|_| NameAddr::new(Uri::Other(text)))
}

/// 502 Bad Gateway (RFC 3261 §21.5.3): the route's target cannot be reached as written.
pub(super) fn bad_gateway() -> StatusCode {
    StatusCode::new(502).unwrap_or(StatusCode::SERVICE_UNAVAILABLE)
}

/// The inbound final status for an outbound final non-2xx status.
pub(super) fn inbound_status(outbound: StatusCode) -> StatusCode {
    match outbound.as_u16() {
        // Redirects are not followed, and a challenge was for us, not for the caller.
        300..=399 | 401 | 407 => StatusCode::SERVICE_UNAVAILABLE,
        _ => outbound,
    }
}

/// A final response to the caller's INVITE, with our tag.
pub(super) fn respond_inbound(
    now: Instant,
    layer: &mut TransactionLayer,
    call: &Call,
    status: StatusCode,
) {
    let mut r = Response::from_request(&call.inbound_request, status);
    let _ = r.set_to_tag(&call.inbound_tag);
    if let Err(e) = layer.send_response(now, call.inbound_txn, r) {
        tracing::debug!("gateway: response {status} to the caller not sent: {e}");
    }
}

/// The ACK for the 2xx that created `dialog`, sent from `local` to its next hop (over
/// `side` unless the remote target names a transport).
pub(super) fn send_ack(
    layer: &mut TransactionLayer,
    dialog: &Dialog,
    local: SocketAddr,
    side: Wire,
) {
    let Ok(mut ack) = dialog.ack() else {
        return;
    };
    let Some(hop) = next_hop(&ack, side) else {
        tracing::debug!("gateway: ACK has no IP destination");
        return;
    };
    ack.headers
        .push_front(HeaderName::Via, via(local, hop.transport));
    if let Err(e) = layer.send_ack(ack, hop.addr, hop.sip_transport()) {
        tracing::debug!("gateway: ACK not sent: {e}");
    }
}

/// A BYE in `dialog`, on a client transaction of its own, sent from `local` as
/// [`send_ack`] sends.
pub(super) fn send_bye(
    now: Instant,
    layer: &mut TransactionLayer,
    dialog: &mut Dialog,
    local: SocketAddr,
    side: Wire,
) {
    let Ok(mut bye) = dialog.bye() else {
        return;
    };
    let Some(hop) = next_hop(&bye, side) else {
        tracing::debug!("gateway: BYE has no IP destination");
        return;
    };
    bye.headers
        .push_front(HeaderName::Via, via(local, hop.transport));
    if let Err(e) = layer.send_request(now, bye, hop.addr, hop.sip_transport()) {
        tracing::debug!("gateway: BYE not sent: {e}");
    }
}
