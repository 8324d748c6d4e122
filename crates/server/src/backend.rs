//! What the HTTP adapter needs from wherever challenges live, as futures.
//!
//! The embedded [`Verifier`] over a [`Store`] answers at once (its futures are ready when made),
//! so the simulator and benches keep calling it synchronously. A networked store (Redis) needs
//! real I/O and can fail; its failures are [`Unavailable`], which the server answers with 503.
//! Either way the decisions (TTL range, sender parsing, extraction, protocol policy) come from
//! the same pure code in [`mo2fa_core::verifier`].

use mo2fa_core::clock::Millis;
use mo2fa_core::metrics::Counters;
use mo2fa_core::store::{Store, Unavailable};
use mo2fa_core::verifier::{
    Config, InboundMessage, ReceiveOutcome, StartError, StartRequest, Started, StatusView, Verifier,
};
use rand::Rng;
use std::future::{Future, ready};

pub trait Backend: Send + Sync + 'static {
    fn config(&self) -> &Config;
    /// Where SMS codes, the SMS guard's log and the start limits live when they are shared
    /// with other instances (Redis); `None`: in this process.
    fn shared(&self) -> Option<&crate::redis::sms::SharedState> {
        None
    }
    fn counters(&self) -> &Counters;
    /// Randomness is drawn from `rng` before the future is returned, so the future does not
    /// hold it (thread-local RNGs are not `Send`).
    fn start<'a, R: Rng + ?Sized>(
        &'a self,
        req: &StartRequest,
        now: Millis,
        rng: &mut R,
    ) -> impl Future<Output = Result<Started, StartError>> + Send + use<'a, Self, R>;
    fn status(
        &self,
        id: &str,
        now: Millis,
    ) -> impl Future<Output = Result<Option<StatusView>, Unavailable>> + Send;
    /// Handles delivery `delivery_id` once; a repeat gets the first answer and `true`.
    fn receive_once(
        &self,
        delivery_id: &str,
        msg: &InboundMessage<'_>,
        now: Millis,
    ) -> impl Future<Output = Result<(ReceiveOutcome, bool), Unavailable>> + Send;
    /// The first answer to delivery `delivery_id` if it was handled (a duplicate, counted as
    /// such), else `None`; records nothing. `msg` is the delivery's message (a cluster keeps
    /// the record in the slot of the code it names).
    fn recorded(
        &self,
        delivery_id: &str,
        msg: &InboundMessage<'_>,
    ) -> impl Future<Output = Result<Option<ReceiveOutcome>, Unavailable>> + Send;
    /// Periodic housekeeping (about once a second).
    fn sweep(&self, now: Millis);
    /// Pending challenges as last known (for metrics).
    fn pending(&self) -> usize;
    fn max_pending(&self) -> usize;
    /// Readiness (`/readyz`): whether the store answers now. Cheap, and bounded in time.
    fn ready(&self) -> impl Future<Output = Result<(), Unavailable>> + Send;
}

impl<S: Store + 'static> Backend for Verifier<S> {
    fn config(&self) -> &Config {
        Verifier::config(self)
    }

    fn counters(&self) -> &Counters {
        &self.counters
    }

    fn start<'a, R: Rng + ?Sized>(
        &'a self,
        req: &StartRequest,
        now: Millis,
        rng: &mut R,
    ) -> impl Future<Output = Result<Started, StartError>> + Send + use<'a, S, R> {
        ready(Verifier::start(self, req, now, rng))
    }

    fn status(
        &self,
        id: &str,
        now: Millis,
    ) -> impl Future<Output = Result<Option<StatusView>, Unavailable>> + Send {
        ready(Ok(Verifier::status(self, id, now)))
    }

    fn receive_once(
        &self,
        delivery_id: &str,
        msg: &InboundMessage<'_>,
        now: Millis,
    ) -> impl Future<Output = Result<(ReceiveOutcome, bool), Unavailable>> + Send {
        ready(Ok(Verifier::receive_once(self, delivery_id, msg, now)))
    }

    fn recorded(
        &self,
        delivery_id: &str,
        _msg: &InboundMessage<'_>,
    ) -> impl Future<Output = Result<Option<ReceiveOutcome>, Unavailable>> + Send {
        ready(Ok(Verifier::recorded(self, delivery_id)))
    }

    fn sweep(&self, now: Millis) {
        Verifier::sweep(self, now);
    }

    fn pending(&self) -> usize {
        self.store().pending()
    }

    fn max_pending(&self) -> usize {
        self.store().max_pending()
    }

    /// The store is in this process: always ready.
    fn ready(&self) -> impl Future<Output = Result<(), Unavailable>> + Send {
        ready(Ok(()))
    }
}
