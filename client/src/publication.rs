//! Publications: what the application holds of each of its registrations, and the
//! session's answers to them ([`Acknowledgement`], waited on blocking or as a future).
//!
//! Every publication has a revision: 1 for `publish`, one more per `update`. The core
//! client reports each acknowledged revision (`Event::Registered`), a refusal with its code
//! (`Event::Rejected`) and a withdrawal (`Event::Unregistered`); [`Answers`] keeps the
//! latest of these per publication, and wakes whoever waits on one.

use crate::{Error, Io, lock};
use bytes::Bytes;
use roster_core::client::Command;
use roster_core::model::{Attribute, DataInfoId, Text};
use roster_core::wire::ErrorCode;
use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Condvar, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

/// What the session said of one publication so far.
#[derive(Debug, Default)]
struct Answer {
    /// The newest revision the session acknowledged (0: none yet).
    registered: u64,
    /// The session's refusal since the last update, if any.
    rejected: Option<(ErrorCode, String)>,
    /// Futures waiting on this publication.
    wakers: Vec<Waker>,
}

/// The answers to every live publication of a client. A publication is listed from its
/// `publish` until its withdrawal is reported; absent means withdrawn.
#[derive(Debug, Default)]
pub(crate) struct Answers {
    by_id: Mutex<HashMap<Text, Answer>>,
    changed: Condvar,
}

impl Answers {
    pub(crate) fn listen(&self, register_id: &Text) {
        lock(&self.by_id).insert(register_id.clone(), Answer::default());
    }

    fn update(&self, register_id: &Text, f: impl FnOnce(&mut Answer)) {
        let mut by_id = lock(&self.by_id);
        if let Some(a) = by_id.get_mut(register_id) {
            f(a);
            a.wakers.drain(..).for_each(Waker::wake);
        }
        self.changed.notify_all();
    }

    /// The session acknowledged `revision` of `register_id`.
    pub(crate) fn registered(&self, register_id: &Text, revision: u64) {
        self.update(register_id, |a| a.registered = a.registered.max(revision));
    }

    /// The session refused `register_id`.
    pub(crate) fn rejected(&self, register_id: &Text, code: ErrorCode, reason: &str) {
        self.update(register_id, |a| {
            a.rejected = Some((code, reason.to_string()))
        });
    }

    /// The refusal of `register_id`, if the session refused it.
    pub(crate) fn refusal(&self, register_id: &Text) -> Option<(ErrorCode, String)> {
        lock(&self.by_id).get(register_id)?.rejected.clone()
    }

    /// `register_id` is withdrawn.
    pub(crate) fn unregistered(&self, register_id: &Text) {
        let mut by_id = lock(&self.by_id);
        if let Some(a) = by_id.remove(register_id) {
            a.wakers.into_iter().for_each(Waker::wake);
        }
        self.changed.notify_all();
    }

    /// Whether `want` of `register_id` has an outcome yet, and which.
    fn outcome(
        by_id: &HashMap<Text, Answer>,
        register_id: &Text,
        want: Want,
    ) -> Option<Result<(), Error>> {
        let answer = by_id.get(register_id);
        match (want, answer) {
            (Want::Unregistered, None) => Some(Ok(())),
            (Want::Unregistered, Some(_)) => None,
            (Want::Registered(_), None) => Some(Err(Error::Closed)),
            (Want::Registered(revision), Some(a)) => {
                if let Some((code, reason)) = &a.rejected {
                    Some(Err(Error::Rejected {
                        register_id: register_id.as_str().to_string(),
                        code: *code,
                        reason: reason.clone(),
                    }))
                } else if a.registered >= revision {
                    Some(Ok(()))
                } else {
                    None
                }
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Want {
    /// The session acknowledged this revision or a later one.
    Registered(u64),
    /// The publication is withdrawn.
    Unregistered,
}

/// A session's answer to come: a registration or an update acknowledged, or a withdrawal
/// done. Wait on it with [`wait`](Acknowledgement::wait), or `.await` it on any executor.
/// It resolves to `Ok(())`, to [`Error::Rejected`] with the session's code and reason,
/// or to [`Error::Closed`] if the publication was withdrawn first. It holds the client
/// open while it waits.
#[must_use = "an acknowledgement does nothing unless waited on"]
pub struct Acknowledgement {
    io: Arc<Io>,
    register_id: Text,
    want: Want,
}

impl fmt::Debug for Acknowledgement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Acknowledgement")
            .field("register_id", &self.register_id.as_str())
            .field("want", &self.want)
            .finish()
    }
}

impl Acknowledgement {
    /// Blocks until the session answered, at most `timeout` ([`Error::Timeout`] then; the
    /// registration itself carries on and may still be acknowledged later).
    pub fn wait(&self, timeout: Duration) -> Result<(), Error> {
        let answers = &self.io.shared.answers;
        let deadline = Instant::now() + timeout;
        let mut by_id = lock(&answers.by_id);
        loop {
            if let Some(outcome) = Answers::outcome(&by_id, &self.register_id, self.want) {
                return outcome;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(Error::Timeout);
            }
            by_id = answers
                .changed
                .wait_timeout(by_id, left)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }
}

impl Future for Acknowledgement {
    type Output = Result<(), Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut by_id = lock(&self.io.shared.answers.by_id);
        if let Some(outcome) = Answers::outcome(&by_id, &self.register_id, self.want) {
            return Poll::Ready(outcome);
        }
        if let Some(a) = by_id.get_mut(&self.register_id)
            && !a.wakers.iter().any(|w| w.will_wake(cx.waker()))
        {
            a.wakers.push(cx.waker().clone());
        }
        Poll::Pending
    }
}

/// A publication. Dropping it unregisters (without waiting); so does
/// [`unregister`](Publication::unregister), which can be waited on.
///
/// ```no_run
/// # async fn run(client: roster_client::Client) -> Result<(), roster_client::Error> {
/// let mut instance = client.publish_with("my.service", ["10.0.0.3:8080"], [("weight", "10")])?;
/// instance.registered().await?; // the session holds it
/// instance.update(["10.0.0.3:8081"])?; // in place: one new list, same attributes
/// instance.registered().await?;
/// instance.unregister().await?; // gone from every list
/// # Ok(())
/// # }
/// ```
pub struct Publication {
    io: Arc<Io>,
    data_info_id: DataInfoId,
    register_id: Text,
    /// This handle's latest revision: 1, plus one per update.
    revision: u64,
    /// Cleared once withdrawn explicitly, so the drop sends nothing more.
    live: bool,
    /// Sent with every revision; [`Publication::update`] keeps them.
    attributes: Vec<Attribute>,
}

impl fmt::Debug for Publication {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Publication")
            .field("data_info_id", &self.data_info_id.to_string())
            .field("register_id", &self.register_id.as_str())
            .field("revision", &self.revision)
            .finish()
    }
}

impl Publication {
    /// Registers `payload` under `data_info_id` with a new register id.
    pub(crate) fn publish(
        io: Arc<Io>,
        data_info_id: DataInfoId,
        payload: Vec<Bytes>,
        attributes: Vec<Attribute>,
    ) -> Result<Publication, Error> {
        let register_id = io.register_id();
        io.shared.answers.listen(&register_id);
        let publication = Publication {
            io,
            data_info_id,
            register_id,
            revision: 1,
            live: true,
            attributes,
        };
        publication.send(payload)?;
        Ok(publication)
    }

    fn send(&self, payload: Vec<Bytes>) -> Result<(), Error> {
        self.io.command(Command::Publish {
            data_info_id: self.data_info_id.clone(),
            register_id: self.register_id.clone(),
            payload: payload.into_iter().collect(),
            attributes: self.attributes.clone(),
        })
    }

    /// Its registration id.
    pub fn register_id(&self) -> &str {
        self.register_id.as_str()
    }

    /// Its latest revision: 1 after `publish`, one more per [`update`](Self::update).
    pub fn revision(&self) -> u64 {
        self.revision
    }

    /// The session's acknowledgement of the latest revision (or its refusal).
    pub fn registered(&self) -> Acknowledgement {
        Acknowledgement {
            io: self.io.clone(),
            register_id: self.register_id.clone(),
            want: Want::Registered(self.revision),
        }
    }

    /// Waits at most `timeout` until the session acknowledged the latest revision.
    pub fn wait_registered(&self, timeout: Duration) -> Result<(), Error> {
        self.registered().wait(timeout)
    }

    /// The session's refusal of it since the last update, if any.
    pub fn rejected(&self) -> Option<Error> {
        let by_id = lock(&self.io.shared.answers.by_id);
        let (code, reason) = by_id.get(&self.register_id)?.rejected.clone()?;
        Some(Error::Rejected {
            register_id: self.register_id.as_str().to_string(),
            code,
            reason,
        })
    }

    /// Replaces the payload in place: the same registration at a newer version, so the
    /// session makes one write and subscribers see one new list holding the new payload
    /// (never both, never neither). Wait on [`registered`](Self::registered) for the
    /// session's acknowledgement.
    pub fn update<P: Into<Bytes>>(
        &mut self,
        payload: impl IntoIterator<Item = P>,
    ) -> Result<(), Error> {
        self.io
            .shared
            .answers
            .update(&self.register_id, |a| a.rejected = None);
        self.revision += 1;
        self.send(payload.into_iter().map(Into::into).collect())
    }

    /// Like [`update`](Self::update), and replaces the attributes too.
    pub fn update_with<P: Into<Bytes>, K: Into<String>, V: Into<String>>(
        &mut self,
        payload: impl IntoIterator<Item = P>,
        attributes: impl IntoIterator<Item = (K, V)>,
    ) -> Result<(), Error> {
        self.attributes = to_attributes(attributes);
        self.update(payload)
    }

    /// Withdraws it; the acknowledgement resolves once the session removed it (or the
    /// connection holding it is gone, which removes it too).
    pub fn unregister(mut self) -> Acknowledgement {
        self.live = false;
        self.withdraw();
        Acknowledgement {
            io: self.io.clone(),
            register_id: self.register_id.clone(),
            want: Want::Unregistered,
        }
    }

    fn withdraw(&self) {
        let sent = self.io.command(Command::Unpublish {
            data_info_id: self.data_info_id.clone(),
            register_id: self.register_id.clone(),
        });
        if sent.is_err() {
            // The client is closed: nothing will answer, and nothing is registered.
            self.io.shared.answers.unregistered(&self.register_id);
        }
    }
}

impl Drop for Publication {
    fn drop(&mut self) {
        if self.live {
            self.withdraw();
        }
    }
}

/// Attributes as the wire carries them.
pub(crate) fn to_attributes<K: Into<String>, V: Into<String>>(
    attributes: impl IntoIterator<Item = (K, V)>,
) -> Vec<Attribute> {
    attributes
        .into_iter()
        .map(|(k, v)| Attribute {
            key: Text::from(k.into()),
            value: Text::from(v.into()),
        })
        .collect()
}
