//! The dialogs a server holds, keyed by dialog id (RFC 3261 §12), with a bounded capacity.
//!
//! A [`DialogStore`] never grows past the capacity given at construction: an insert into a
//! full store hands the dialog back ([`InsertError::Full`]) and the caller answers the INVITE
//! with 503 (STYLE: resource limits reject, count, never grow without bound). Terminated
//! dialogs stay until [`DialogStore::remove_terminated`] or [`DialogStore::remove`] drops
//! them, so [`DialogStore::len`] counts what is still held: leak tests assert it returns to
//! zero.

use std::collections::HashMap;

use super::DialogError;
use super::dialog::{Dialog, DialogState, InDialogRejection};
use super::id::DialogId;
use crate::message::{Request, Response};

/// Why [`DialogStore::insert`] refused a dialog; the dialog is handed back.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InsertError {
    /// The store holds [`DialogStore::capacity`] dialogs: answer the INVITE with 503.
    #[error("dialog store full")]
    Full(Box<Dialog>),
    /// A dialog with the same id is already stored (a retransmitted response: use the
    /// stored one).
    #[error("dialog already exists")]
    Exists(Box<Dialog>),
}

impl InsertError {
    /// The dialog that was not inserted.
    pub fn into_dialog(self) -> Dialog {
        match self {
            Self::Full(d) | Self::Exists(d) => *d,
        }
    }
}

/// Dialogs by id, at most `capacity` of them.
#[derive(Debug, Clone)]
pub struct DialogStore {
    dialogs: HashMap<DialogId, Dialog>,
    capacity: usize,
}

impl DialogStore {
    /// An empty store for at most `capacity` dialogs. Allocates the table up front.
    pub fn new(capacity: usize) -> Self {
        Self {
            dialogs: HashMap::with_capacity(capacity),
            capacity,
        }
    }

    /// The most dialogs the store holds.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Dialogs held (terminated ones included until removed).
    pub fn len(&self) -> usize {
        self.dialogs.len()
    }

    /// True when no dialog is held.
    pub fn is_empty(&self) -> bool {
        self.dialogs.is_empty()
    }

    /// Adds a dialog and returns it in place.
    ///
    /// # Errors
    /// [`InsertError::Full`] at capacity, [`InsertError::Exists`] when the id is taken; both
    /// hand the dialog back.
    pub fn insert(&mut self, dialog: Dialog) -> Result<&mut Dialog, InsertError> {
        if self.dialogs.contains_key(dialog.id()) {
            return Err(InsertError::Exists(Box::new(dialog)));
        }
        if self.dialogs.len() >= self.capacity {
            return Err(InsertError::Full(Box::new(dialog)));
        }
        let id = dialog.id().clone();
        Ok(self.dialogs.entry(id).or_insert(dialog))
    }

    /// The dialog with `id`.
    pub fn get(&self, id: &DialogId) -> Option<&Dialog> {
        self.dialogs.get(id)
    }

    /// The dialog with `id`, mutably.
    pub fn get_mut(&mut self, id: &DialogId) -> Option<&mut Dialog> {
        self.dialogs.get_mut(id)
    }

    /// Removes and returns the dialog with `id`.
    pub fn remove(&mut self, id: &DialogId) -> Option<Dialog> {
        self.dialogs.remove(id)
    }

    /// Drops every terminated dialog; returns how many.
    pub fn remove_terminated(&mut self) -> usize {
        let before = self.dialogs.len();
        self.dialogs.retain(|_, d| !d.is_terminated());
        before - self.dialogs.len()
    }

    /// Every dialog, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = &Dialog> + '_ {
        self.dialogs.values()
    }

    /// Every dialog, mutably, in no particular order (e.g. to drive session timers).
    pub fn iter_mut(&mut self) -> impl Iterator<Item = &mut Dialog> + '_ {
        self.dialogs.values_mut()
    }

    /// The dialogs of one dialog set (same Call-ID and local tag: the early dialogs forking
    /// made from one INVITE, RFC 3261 §12.1.2).
    pub fn dialog_set<'a>(&'a self, id: &'a DialogId) -> impl Iterator<Item = &'a Dialog> + 'a {
        self.dialogs
            .values()
            .filter(move |d| d.id().same_dialog_set(id))
    }

    /// Terminates the other early dialogs of `id`'s dialog set, once one of them is
    /// confirmed and the caller does not want the others (it sends BYE on those it confirms
    /// later, RFC 3261 §13.2.2.4). Returns how many were terminated.
    pub fn terminate_early_siblings(&mut self, id: &DialogId) -> usize {
        let mut n = 0;
        for d in self.dialogs.values_mut() {
            if d.id() != id && d.id().same_dialog_set(id) && d.state() == DialogState::Early {
                d.terminate();
                n += 1;
            }
        }
        n
    }

    /// Finds the dialog a received request belongs to and lets it check the request
    /// ([`Dialog::handle_request`]).
    ///
    /// # Errors
    /// [`InDialogRejection::NoDialog`] when the request has a To tag but no dialog matches
    /// (481), or when it has no To tag (it is not an in-dialog request: route it elsewhere);
    /// [`InDialogRejection::Malformed`] for malformed headers; else as
    /// [`Dialog::handle_request`].
    pub fn handle_request(&mut self, request: &Request) -> Result<&mut Dialog, InDialogRejection> {
        let id = match DialogId::of_received_request(request) {
            Ok(Some(id)) => id,
            Ok(None) => return Err(InDialogRejection::NoDialog),
            Err(DialogError::Header(e)) => return Err(InDialogRejection::Malformed(e)),
            Err(_) => return Err(InDialogRejection::NoDialog),
        };
        let dialog = self
            .dialogs
            .get_mut(&id)
            .ok_or(InDialogRejection::NoDialog)?;
        dialog.handle_request(request)?;
        Ok(dialog)
    }

    /// Finds the dialog a received response belongs to and lets it take the response
    /// ([`Dialog::handle_response`]). `Ok(None)` when no dialog matches (a new fork's
    /// response: create its dialog with [`Dialog::new_uac`]).
    ///
    /// # Errors
    /// As [`Dialog::handle_response`].
    pub fn handle_response(
        &mut self,
        response: &Response,
    ) -> Result<Option<&mut Dialog>, DialogError> {
        let id = DialogId::of_received_response(response)?;
        match self.dialogs.get_mut(&id) {
            None => Ok(None),
            Some(d) => {
                d.handle_response(response)?;
                Ok(Some(d))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::{HeaderName, StatusCode};

    const INVITE: &[u8] = b"INVITE sip:bob@biloxi.example SIP/2.0\r\n\
        Via: SIP/2.0/UDP 192.0.2.10;branch=z9hG4bK-i\r\n\
        Max-Forwards: 70\r\n\
        From: <sip:tandem@192.0.2.10>;tag=t9\r\n\
        To: <sip:bob@biloxi.example>\r\n\
        Call-ID: fork-1@192.0.2.10\r\n\
        CSeq: 1 INVITE\r\n\
        Contact: <sip:tandem@192.0.2.10>\r\n\r\n";

    fn reply(invite: &Request, code: u16, tag: &str) -> Response {
        let mut r = Response::from_request(invite, StatusCode::new(code).unwrap());
        r.set_to_tag(tag).unwrap();
        r.headers
            .push(HeaderName::Contact, format!("<sip:{tag}@192.0.2.20>"));
        r
    }

    #[test]
    fn forked_early_dialogs_coexist_and_siblings_end_when_one_is_confirmed() {
        let invite = Request::parse(INVITE).unwrap();
        let mut store = DialogStore::new(8);
        for tag in ["b1", "b2", "b3"] {
            let r = reply(&invite, 180, tag);
            assert!(store.handle_response(&r).unwrap().is_none());
            store.insert(Dialog::new_uac(&invite, &r).unwrap()).unwrap();
        }
        // A retransmitted 180 finds its dialog.
        assert!(
            store
                .handle_response(&reply(&invite, 180, "b2"))
                .unwrap()
                .is_some()
        );
        assert_eq!(store.len(), 3);
        let ok = reply(&invite, 200, "b2");
        let id = store.handle_response(&ok).unwrap().unwrap().id().clone();
        assert_eq!(store.get(&id).unwrap().state(), DialogState::Confirmed);
        assert_eq!(store.dialog_set(&id).count(), 3);
        assert_eq!(store.terminate_early_siblings(&id), 2);
        assert_eq!(store.remove_terminated(), 2);
        assert_eq!(store.len(), 1);
        assert!(store.remove(&id).is_some());
        assert!(store.is_empty());
    }

    #[test]
    fn store_is_bounded_and_hands_back_what_it_refuses() {
        let invite = Request::parse(INVITE).unwrap();
        let mut store = DialogStore::new(2);
        store
            .insert(Dialog::new_uac(&invite, &reply(&invite, 180, "a")).unwrap())
            .unwrap();
        let dup = Dialog::new_uac(&invite, &reply(&invite, 180, "a")).unwrap();
        assert!(matches!(
            store.insert(dup.clone()),
            Err(InsertError::Exists(_))
        ));
        store
            .insert(Dialog::new_uac(&invite, &reply(&invite, 180, "b")).unwrap())
            .unwrap();
        let third = Dialog::new_uac(&invite, &reply(&invite, 180, "c")).unwrap();
        let err = store.insert(third.clone()).unwrap_err();
        assert!(matches!(err, InsertError::Full(_)));
        assert_eq!(err.into_dialog(), third);
        assert_eq!(store.len(), store.capacity());
    }

    #[test]
    fn requests_for_unknown_dialogs_get_481() {
        let mut store = DialogStore::new(1);
        let bye = Request::parse(
            b"BYE sip:tandem@192.0.2.10 SIP/2.0\r\n\
            Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK-b\r\n\
            Max-Forwards: 70\r\n\
            From: <sip:alice@example.com>;tag=a1\r\n\
            To: <sip:tandem@192.0.2.10>;tag=nope\r\n\
            Call-ID: gone@192.0.2.1\r\n\
            CSeq: 2 BYE\r\n\r\n",
        )
        .unwrap();
        let err = store.handle_request(&bye).unwrap_err();
        assert_eq!(err, InDialogRejection::NoDialog);
        assert_eq!(err.response(&bye, 0).status.as_u16(), 481);
    }
}
