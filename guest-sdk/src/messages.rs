//! Messages to the workflow: signals ([`SignalChannel`], signal handlers), updates, queries and
//! cancel requests. Owns their registration and their delivery: the messages the host hands
//! over (`take-messages`, or a wake while waiting) go to their handler or channel here.

use crate::failure::{Failure, Result, decode, encode};
use crate::runtime::{
    STATE, request_cancel, wait_condition_async, wait_condition_timeout, wait_message,
};
use crate::{host, tasks, wit};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::rc::Rc;
use std::time::Duration;

/// Hands every recorded message the code can see and has not handled yet (signals, cancel
/// requests, accepted updates) to its handler or channel, in history order, before the code
/// goes on: at the start of the workflow and after every wait. No recorded message is skipped.
pub(crate) fn deliver_pending() {
    for m in host::take_messages() {
        dispatch(m);
    }
}

pub(crate) type Handler = Rc<dyn Fn(Vec<u8>) -> Result<Vec<u8>>>;
pub(crate) type AsyncHandler =
    Rc<dyn Fn(Vec<u8>) -> Pin<Box<dyn Future<Output = Result<Vec<u8>>>>>>;
pub(crate) type SignalHandler = Rc<dyn Fn(Vec<u8>)>;
pub(crate) type Validator = Rc<dyn Fn(&[u8]) -> Result<()>>;

pub(crate) fn dispatch(message: wit::Message) {
    match message {
        wit::Message::Signal((name, input)) => {
            let handler = STATE.with(|s| s.borrow().signal_handlers.get(&name).cloned());
            match handler {
                Some(h) => h(input),
                None => STATE.with(|s| {
                    s.borrow_mut()
                        .signals
                        .entry(name)
                        .or_default()
                        .push_back(input)
                }),
            }
        }
        wit::Message::CancelRequested(reason) => {
            let pending: Vec<u32> = STATE.with(|s| {
                let mut s = s.borrow_mut();
                s.cancel = Some(reason);
                s.pending.iter().copied().collect()
            });
            // Cancel everything the workflow is waiting for, in handle order; operations
            // started from now on (compensation) are not canceled.
            for h in pending {
                request_cancel(h);
            }
        }
        wit::Message::Update(u) => {
            let async_handler = STATE.with(|s| s.borrow().async_updates.get(&u.name).cloned());
            if let Some((validator, handler)) = async_handler {
                if u.validate {
                    if let Some(v) = validator
                        && let Err(f) = v(&u.input)
                    {
                        host::reject_update(&u.id, &f.into_wit());
                        return;
                    }
                    host::accept_update(&u.id);
                }
                // The handler runs as a task beside the main code.
                let fut = handler(u.input);
                let id = u.id;
                tasks::spawn_handler(async move {
                    let outcome = fut.await.map_err(Failure::into_wit);
                    host::complete_update(&id, outcome.as_deref());
                });
                return;
            }
            let handler = STATE.with(|s| s.borrow().updates.get(&u.name).cloned());
            let Some((validator, handler)) = handler else {
                if u.validate {
                    let f = Failure::non_retryable(
                        "UnknownUpdate",
                        format!("the workflow has no update handler named '{}'", u.name),
                    );
                    host::reject_update(&u.id, &f.into_wit());
                    return;
                }
                panic!(
                    "the history accepted update '{}' but the workflow has no handler for it at this point",
                    u.name
                );
            };
            if u.validate {
                if let Some(v) = validator
                    && let Err(f) = v(&u.input)
                {
                    host::reject_update(&u.id, &f.into_wit());
                    return;
                }
                host::accept_update(&u.id);
            }
            let outcome = handler(u.input).map_err(Failure::into_wit);
            host::complete_update(&u.id, outcome.as_deref());
        }
        wit::Message::Query(q) => answer_query(q),
    }
}

pub(crate) fn answer_query(q: wit::QueryRequest) {
    let handler = STATE.with(|s| s.borrow().queries.get(&q.name).cloned());
    let outcome = match handler {
        Some(h) => h(q.input),
        None => Err(Failure::non_retryable(
            "UnknownQuery",
            format!("the workflow has no query handler named '{}'", q.name),
        )),
    };
    let outcome = outcome.map_err(Failure::into_wit);
    host::respond_query(outcome.as_deref());
    unreachable!("respond-query does not return");
}

/// True once cancellation of the workflow was requested. Operations pending at that moment
/// were asked to cancel; new ones (compensation) run normally.
pub fn is_cancel_requested() -> bool {
    STATE.with(|s| s.borrow().cancel.is_some())
}

/// The reason given with the cancel request, once there is one.
pub fn cancel_reason() -> Option<String> {
    STATE.with(|s| s.borrow().cancel.clone())
}

/// Receives the signals named `name`, in the order the history recorded them. Signals that
/// arrive before anyone reads them are buffered.
pub struct SignalChannel<T> {
    name: String,
    _t: PhantomData<fn() -> T>,
}

/// The channel of signals named `name`.
pub fn signal_channel<T: DeserializeOwned>(name: &str) -> SignalChannel<T> {
    SignalChannel {
        name: name.to_string(),
        _t: PhantomData,
    }
}

impl<T: DeserializeOwned> SignalChannel<T> {
    /// The next buffered signal, without waiting.
    pub fn try_recv(&self) -> Option<Result<T>> {
        let bytes = STATE.with(|s| {
            s.borrow_mut()
                .signals
                .get_mut(&self.name)
                .and_then(|q| q.pop_front())
        })?;
        Some(decode(&format_args!("signal '{}'", self.name), &bytes))
    }

    /// Waits for the next signal. Returns a `Canceled` failure if the workflow is canceled
    /// before one arrives.
    pub fn recv(&self) -> Result<T> {
        loop {
            if let Some(v) = self.try_recv() {
                return v;
            }
            if is_cancel_requested() {
                return Err(Failure::canceled(format!(
                    "the workflow was canceled while waiting for signal '{}'",
                    self.name
                )));
            }
            wait_message();
        }
    }

    /// Waits for the next signal for at most `timeout` of workflow time: `Ok(None)` when
    /// none came.
    pub fn recv_timeout(&self, timeout: Duration) -> Result<Option<T>> {
        let name = self.name.clone();
        let has =
            move || STATE.with(|s| s.borrow().signals.get(&name).is_some_and(|q| !q.is_empty()));
        if wait_condition_timeout(has, timeout)? {
            self.try_recv().transpose()
        } else {
            Ok(None)
        }
    }
}

impl<T: DeserializeOwned> SignalChannel<T> {
    /// Waits, in an async workflow, for the next signal. Returns a `Canceled` failure if the
    /// workflow is canceled before one arrives.
    pub async fn recv_async(&self) -> Result<T> {
        let name = self.name.clone();
        let has =
            move || STATE.with(|s| s.borrow().signals.get(&name).is_some_and(|q| !q.is_empty()));
        wait_condition_async(has).await?;
        self.try_recv().expect("a buffered signal")
    }
}

/// Registers the signal handler `name`: every signal of that name, also those recorded before
/// the handler was registered (for example with signal-with-start), is handed to it in history
/// order before the workflow code goes on. A signal whose input does not decode as `T` is
/// dropped with a message on stderr. A [`SignalChannel`] of the same name receives nothing
/// once a handler is registered.
pub fn set_signal_handler<T, F>(name: &str, handler: F)
where
    T: DeserializeOwned + 'static,
    F: Fn(T) + 'static,
{
    let what = format!("signal '{name}'");
    let h: SignalHandler = Rc::new(move |bytes| match decode::<T>(&what, &bytes) {
        Ok(v) => handler(v),
        Err(f) => eprintln!("{what} dropped: {}", f.message),
    });
    let buffered = STATE.with(|s| {
        let mut s = s.borrow_mut();
        s.signal_handlers.insert(name.to_string(), h.clone());
        s.signals.remove(name).unwrap_or_default()
    });
    for input in buffered {
        h(input);
    }
}

/// Registers the query handler `name`. It answers from the workflow's state and must not
/// start activities, timers or anything else (that fails the query). Register handlers at the
/// start of the workflow function.
pub fn set_query_handler<I, O, F>(name: &str, handler: F)
where
    I: DeserializeOwned,
    O: Serialize,
    F: Fn(I) -> Result<O> + 'static,
{
    let what = format!("query '{name}'");
    let h: Handler = Rc::new(move |bytes| {
        let input = decode(&format_args!("input of {what}"), &bytes)?;
        encode(&format_args!("result of {what}"), &handler(input)?)
    });
    STATE.with(|s| s.borrow_mut().queries.insert(name.to_string(), h));
}

/// Registers the update handler `name`. An accepted update runs `handler`, which may start
/// activities, timers and children and wait for them; the caller receives its result.
pub fn set_update_handler<I, O, F>(name: &str, handler: F)
where
    I: DeserializeOwned + 'static,
    O: Serialize,
    F: Fn(I) -> Result<O> + 'static,
{
    register_update(name, None::<fn(&I) -> Result<()>>, handler);
}

/// Registers update handler `name` with a validator. A validator error rejects the update and
/// leaves no trace in the history; the validator must not change state or start anything.
pub fn set_update_handler_with_validator<I, O, V, F>(name: &str, validator: V, handler: F)
where
    I: DeserializeOwned + 'static,
    O: Serialize,
    V: Fn(&I) -> Result<()> + 'static,
    F: Fn(I) -> Result<O> + 'static,
{
    register_update(name, Some(validator), handler);
}

fn register_update<I, O, V, F>(name: &str, validator: Option<V>, handler: F)
where
    I: DeserializeOwned + 'static,
    O: Serialize,
    V: Fn(&I) -> Result<()> + 'static,
    F: Fn(I) -> Result<O> + 'static,
{
    let what = format!("update '{name}'");
    let what2 = what.clone();
    let v: Option<Validator> = validator.map(|v| {
        Rc::new(move |bytes: &[u8]| {
            let input: I = decode(&format_args!("input of {what2}"), bytes)?;
            v(&input)
        }) as Validator
    });
    let h: Handler = Rc::new(move |bytes| {
        let input = decode(&format_args!("input of {what}"), &bytes)?;
        encode(&format_args!("result of {what}"), &handler(input)?)
    });
    STATE.with(|s| s.borrow_mut().updates.insert(name.to_string(), (v, h)));
}

/// Registers the async update handler `name` for an async workflow
/// ([`workflow_async!`](crate::workflow_async!)): an accepted update runs `handler` as a task
/// beside the main code, so both can wait on activities and timers at once. Wait for
/// [`all_handlers_finished`](crate::all_handlers_finished) before returning.
pub fn set_update_handler_async<I, O, F, Fut>(name: &str, handler: F)
where
    I: DeserializeOwned + 'static,
    O: Serialize + 'static,
    F: Fn(I) -> Fut + 'static,
    Fut: Future<Output = Result<O>> + 'static,
{
    register_update_async(name, None::<fn(&I) -> Result<()>>, handler);
}

/// [`set_update_handler_async`] with a validator: a validator error rejects the update and
/// leaves no trace in the history.
pub fn set_update_handler_async_with_validator<I, O, V, F, Fut>(
    name: &str,
    validator: V,
    handler: F,
) where
    I: DeserializeOwned + 'static,
    O: Serialize + 'static,
    V: Fn(&I) -> Result<()> + 'static,
    F: Fn(I) -> Fut + 'static,
    Fut: Future<Output = Result<O>> + 'static,
{
    register_update_async(name, Some(validator), handler);
}

fn register_update_async<I, O, V, F, Fut>(name: &str, validator: Option<V>, handler: F)
where
    I: DeserializeOwned + 'static,
    O: Serialize + 'static,
    V: Fn(&I) -> Result<()> + 'static,
    F: Fn(I) -> Fut + 'static,
    Fut: Future<Output = Result<O>> + 'static,
{
    let what = format!("update '{name}'");
    let what2 = what.clone();
    let v: Option<Validator> = validator.map(|v| {
        Rc::new(move |bytes: &[u8]| {
            let input: I = decode(&format_args!("input of {what2}"), bytes)?;
            v(&input)
        }) as Validator
    });
    let handler = Rc::new(handler);
    let h: AsyncHandler = Rc::new(move |bytes: Vec<u8>| {
        let (handler, what) = (handler.clone(), what.clone());
        Box::pin(async move {
            let input: I = decode(&format_args!("input of {what}"), &bytes)?;
            let out = handler(input).await?;
            encode(&format_args!("result of {what}"), &out)
        })
    });
    STATE.with(|s| {
        s.borrow_mut()
            .async_updates
            .insert(name.to_string(), (v, h))
    });
}
