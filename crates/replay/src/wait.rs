//! `wait-any` and the messages: which awaited result or recorded message comes next (history
//! order decides, never the host's timing), which messages the code can see without waiting,
//! and the update or query a task brings when the history is exhausted.

use crate::machine::{HandleRef, Replay};
use crate::task::{Extra, Interrupt, UpdateState};
use crate::types::{Message, QueryMessage, UpdateMessage, Wake};
use weft_core::history::{Failure, Payload};
use weft_core::ids::EventId;

impl Replay {
    /// The recorded messages the code can see now (recorded before the task in which it runs
    /// at this point) and has not been given.
    pub(crate) fn visible_messages(&self) -> &[(EventId, Message)] {
        let frontier = self.task_starts[self.current_task].0;
        let rest = &self.messages[self.next_message.min(self.messages.len())..];
        let n = rest.iter().take_while(|(at, _)| *at < frontier).count();
        &rest[..n]
    }

    /// Refuses a close while messages the code could see were never delivered to it.
    pub(crate) fn all_messages_delivered(&self, how: &str) -> Result<(), Interrupt> {
        let left = self.visible_messages();
        if left.is_empty() {
            return Ok(());
        }
        let list: Vec<String> = left
            .iter()
            .take(5)
            .map(|(at, m)| match m {
                Message::Signal(name, _) => format!("signal '{name}' (event {at})"),
                Message::CancelRequested(_) => format!("cancel request (event {at})"),
                Message::Update(u) => format!("update '{}' (event {at})", u.name),
                Message::Query(q) => format!("query '{}'", q.name),
            })
            .collect();
        Err(Interrupt::UnhandledMessages(format!(
            "the workflow {how} while {} recorded message(s) it could see were never delivered to it: {}{}; take pending messages with take-messages (the SDKs do at the start of the code and after every wait) and handle them before closing. The run stays open",
            left.len(),
            list.join(", "),
            if left.len() > 5 { ", ..." } else { "" }
        )))
    }

    /// One look at the history for `wait-any`: a wake, or `None` after a cached instance
    /// was resumed on a longer history (look again).
    fn try_wake(&mut self, handles: &[u32]) -> Result<Option<Wake>, Interrupt> {
        if self.update_state == UpdateState::Validating {
            return Err(self.stop(Interrupt::InvalidCall(
                "wait-any called while validating an update: call accept-update or reject-update first".into(),
            )));
        }
        if let (true, Extra::Query(q)) = (self.query_running, &self.extra) {
            let msg = format!("query handler '{}' must not wait", q.name);
            return Err(self.stop(Interrupt::InvalidCall(msg)));
        }
        let mut best: Option<(EventId, u32)> = None;
        for &h in handles {
            let Some((r, _)) = self.handles.get(h as usize).copied() else {
                return Err(self.stop(Interrupt::InvalidCall(format!(
                    "wait-any called with unknown handle {h}; this run has created {} handles",
                    self.handles.len()
                ))));
            };
            if let HandleRef::Recorded(start) = r
                && let Some((resolved_at, _)) = self.resolutions.get(&start)
                && best.is_none_or(|(b, _)| *resolved_at < b)
            {
                best = Some((*resolved_at, h));
            }
        }
        // A message recorded before every awaited result comes first.
        if let Some((at, msg)) = self.messages.get(self.next_message).cloned()
            && best.is_none_or(|(b, _)| at < b)
        {
            self.check_issued_before(at, "a message")?;
            self.next_message += 1;
            if matches!(msg, Message::Update(_)) {
                // An accepted update was delivered in the task that recorded it (at the end
                // of that task's history), not in the next one.
                self.see_recorded_in(at);
            } else {
                self.see(at);
            }
            if matches!(msg, Message::CancelRequested(_)) {
                self.cancel_seen = true;
            }
            return Ok(Some(Wake::Message(msg)));
        }
        let Some((resolved_at, h)) = best else {
            if let Some(e) = self.unmatched() {
                return Err(self.stop(Interrupt::NonDeterminism(format!(
                    "the workflow waits, but the history has more commands from this point: {e} was not issued. Deploy the code that wrote this history"
                ))));
            }
            // Nothing left in the history: deliver what this task brings, else suspend.
            let last = self.task_starts.len() - 1;
            match &self.extra {
                Extra::Update(u) if self.update_state == UpdateState::Pending => {
                    let msg = Message::Update(UpdateMessage {
                        id: u.id.clone(),
                        name: u.name.clone(),
                        input: u.input.0.clone(),
                        validate: true,
                    });
                    self.update_state = UpdateState::Validating;
                    self.current_task = last;
                    self.publish_task();
                    return Ok(Some(Wake::Message(msg)));
                }
                Extra::Query(q) if !self.query_running => {
                    let msg = Message::Query(QueryMessage {
                        name: q.name.clone(),
                        input: q.input.0.clone(),
                    });
                    self.query_running = true;
                    return Ok(Some(Wake::Message(msg)));
                }
                _ => {}
            }
            self.suspend()?;
            return Ok(None);
        };
        self.check_issued_before(resolved_at, "the result it waits for")?;
        self.see(resolved_at);
        let (HandleRef::Recorded(start), _) = self.handles[h as usize] else {
            unreachable!("only recorded handles resolve")
        };
        self.observed.insert(h);
        Ok(Some(Wake::Resolved(h, self.resolutions[&start].1.clone())))
    }

    /// `wait-any`: the first of the awaited results and undelivered messages, in history
    /// order; at the end of the history, the task's update or query, or a suspension. A cached
    /// instance waits with [`Replay::wait_any_resumable`] instead; here it is evicted.
    pub fn wait_any(&mut self, handles: &[u32]) -> Result<Wake, Interrupt> {
        match self.try_wake(handles)? {
            Some(wake) => Ok(wake),
            None => Err(self.stop(Interrupt::Evicted)),
        }
    }

    /// `wait-any` of a cached instance: at the end of its history it suspends in place,
    /// pending until the host resumes it with the next task ([`crate::StickyLink`]), and goes
    /// on waiting on the grown history. Without a link it is [`Replay::wait_any`].
    pub async fn wait_any_resumable(&mut self, handles: &[u32]) -> Result<Wake, Interrupt> {
        loop {
            if let Some(wake) = self.try_wake(handles)? {
                return Ok(wake);
            }
            let link = self
                .sticky
                .clone()
                .expect("only a cached instance suspends in place");
            let next = link.next().await;
            self.resumed(next)?;
        }
    }

    /// `take-messages`: every recorded message the code can see and was not given.
    pub fn take_messages(&mut self) -> Result<Vec<Message>, Interrupt> {
        if self.update_state == UpdateState::Validating {
            return Err(self.stop(Interrupt::InvalidCall(
                "take-messages called while validating an update: call accept-update or reject-update first".into(),
            )));
        }
        let taken: Vec<Message> = self
            .visible_messages()
            .iter()
            .map(|(_, m)| m.clone())
            .collect();
        self.next_message += taken.len();
        if taken
            .iter()
            .any(|m| matches!(m, Message::CancelRequested(_)))
        {
            self.cancel_seen = true;
        }
        Ok(taken)
    }

    /// `respond-query`: the answer of the task's query; the guest unwinds.
    pub fn respond_query(&mut self, outcome: Result<Vec<u8>, Failure>) -> Result<(), Interrupt> {
        if !self.query_running {
            return Err(self.stop(Interrupt::InvalidCall(
                "respond-query called, but no query is being answered".into(),
            )));
        }
        self.query_answer = Some(outcome.map(Payload));
        Err(self.stop(Interrupt::QueryAnswered))
    }

    /// `take-query`: the task's query, if it was not delivered yet.
    pub fn take_query(&mut self) -> Result<Option<QueryMessage>, Interrupt> {
        match &self.extra {
            Extra::Query(q) if !self.query_running => {
                let q = QueryMessage {
                    name: q.name.clone(),
                    input: q.input.0.clone(),
                };
                self.query_running = true;
                Ok(Some(q))
            }
            _ => Ok(None),
        }
    }

    /// The code is about to see event `at`. When the original code saw it, every command
    /// recorded before it had been issued (an event is seen only in a task that started after
    /// it was recorded, and a task's commands are recorded when it completes), so a recorded
    /// command before `at` that the code has not issued again means the code changed order.
    fn check_issued_before(&mut self, at: EventId, what: &str) -> Result<(), Interrupt> {
        match self.command_events.get(self.next_command) {
            Some(e) if e.id < at => {
                let e = crate::commands::describe_event(&e.kind);
                let id = self.command_events[self.next_command].id;
                Err(self.stop(Interrupt::NonDeterminism(format!(
                    "the workflow waits and would receive {what} recorded at event {at}, but the history has event {id} {e} recorded before it, which the code has not issued. The workflow code changed in a way that is incompatible with this run; deploy the code that wrote this history, or version the change"
                ))))
            }
            _ => Ok(()),
        }
    }
}
