//! [`Subscription`]: the application's handle on one subscription, read blocking (an
//! `Iterator`, [`Subscription::recv_timeout`]) or asynchronously (a `Stream`,
//! [`Subscription::next_update`]) on any executor.

use crate::{Error, Io, Update, lock};
use roster_core::client::Command;
use roster_core::model::{DataInfoId, Text};
use roster_mio::watch::Reader;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

/// A subscription: a blocking iterator and a `Stream` of updates, each newer than the one
/// before (the first may come from the cache, [`Update::is_cached`]; the first live one
/// replaces it whatever its version). Ends when the client is closed; dropping it
/// unsubscribes.
///
/// ```no_run
/// # fn run(client: roster_client::Client) -> Result<(), roster_client::Error> {
/// use std::time::Duration;
///
/// let sub = client.subscribe("my.service")?;
/// match sub.recv_timeout(Duration::from_secs(5)) {
///     Ok(update) if update.is_cached() => println!("registry unreachable; the last list seen"),
///     Ok(update) => println!("{} instances", update.publishers().len()),
///     Err(roster_client::Error::Timeout) => println!("no list yet"),
///     Err(e) => return Err(e),
/// }
/// # Ok(())
/// # }
/// ```
pub struct Subscription {
    pub(crate) io: Arc<Io>,
    pub(crate) data_info_id: DataInfoId,
    pub(crate) register_id: Text,
    pub(crate) newest: Reader<Update>,
}

impl fmt::Debug for Subscription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Subscription")
            .field("data_info_id", &self.data_info_id.to_string())
            .field("register_id", &self.register_id.as_str())
            .finish()
    }
}

impl Subscription {
    /// Waits at most `timeout` for a list newer than the last one received.
    pub fn recv_timeout(&self, timeout: Duration) -> Result<Update, Error> {
        self.newest.next_timeout(timeout).map_err(|closed| {
            if closed {
                Error::Closed
            } else {
                Error::Timeout
            }
        })
    }

    /// A list newer than the last one received, if there is one.
    pub fn try_recv(&self) -> Option<Update> {
        self.newest.try_next()
    }

    /// The next list newer than the last one received, as a future for any executor
    /// (it needs no runtime: the client's own IO thread wakes it). Resolves to
    /// [`Error::Closed`] once the client is closed. Bound it with the executor's timeout
    /// if the program must not wait for ever.
    ///
    /// ```no_run
    /// # async fn run(client: roster_client::Client) -> Result<(), roster_client::Error> {
    /// let sub = client.subscribe("my.service")?;
    /// loop {
    ///     let update = sub.next_update().await?;
    ///     println!("{} instances", update.publishers().len());
    /// }
    /// # }
    /// ```
    pub fn next_update(&self) -> NextUpdate<'_> {
        NextUpdate { sub: self }
    }

    /// The session's refusal of this subscription, if it refused it: for instance
    /// [`ErrorCode::Forbidden`](crate::ErrorCode::Forbidden) when its access rules do not let
    /// this client read the key (docs/security.md). A refused subscription receives nothing.
    pub fn rejected(&self) -> Option<Error> {
        let (code, reason) = self.io.shared.answers.refusal(&self.register_id)?;
        Some(Error::Rejected {
            register_id: self.register_id.as_str().to_string(),
            code,
            reason,
        })
    }

    /// The key subscribed to.
    pub fn data_info_id(&self) -> &DataInfoId {
        &self.data_info_id
    }
}

/// The future of [`Subscription::next_update`].
#[must_use = "a future does nothing unless awaited"]
#[derive(Debug)]
pub struct NextUpdate<'a> {
    sub: &'a Subscription,
}

impl Future for NextUpdate<'_> {
    type Output = Result<Update, Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.sub
            .newest
            .poll_next(cx)
            .map(|u| u.ok_or(Error::Closed))
    }
}

impl Iterator for Subscription {
    type Item = Update;
    fn next(&mut self) -> Option<Update> {
        self.newest.next_blocking()
    }
}

impl futures_core::Stream for Subscription {
    type Item = Update;
    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Update>> {
        self.newest.poll_next(cx)
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        {
            let mut topics = lock(&self.io.shared.topics);
            if let Some(t) = topics.get_mut(&self.data_info_id) {
                t.subscriptions -= 1;
                if t.subscriptions == 0 {
                    topics.remove(&self.data_info_id);
                }
            }
        }
        self.io.shared.answers.unregistered(&self.register_id);
        let _ = self.io.command(Command::Unsubscribe {
            data_info_id: self.data_info_id.clone(),
            register_id: self.register_id.clone(),
        });
    }
}
