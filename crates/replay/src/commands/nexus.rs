//! `schedule-nexus-operation` → ScheduleNexusOperation → NexusOperationScheduled (then
//! Started / Completed / Failed / Canceled / TimedOut resolve the handle). Canceling is in
//! `cancel`.

use super::positive;
use crate::machine::Replay;
use crate::strict::{Compare, opt_ms};
use crate::task::Interrupt;
use crate::types::NexusOptions;
use weft_core::command::Command;
use weft_core::history::{EventKind, Payload};

impl Replay {
    pub fn schedule_nexus_operation(
        &mut self,
        endpoint: String,
        service: String,
        operation: String,
        input: Vec<u8>,
        options: NexusOptions,
    ) -> Result<u32, Interrupt> {
        if let Err(i) = self.check_payload(
            &format_args!("input of Nexus operation {endpoint}/{service}/{operation}"),
            &input,
        ) {
            return Err(self.stop(i));
        }
        let key = (endpoint.clone(), service.clone(), operation.clone());
        if !self.served.remote_workers && !self.served.nexus_operations.contains(&key) {
            return Err(self.stop(Interrupt::InvalidCall(format!(
                "schedule-nexus-operation: endpoint '{endpoint}' has no operation '{operation}' of service '{service}' in this namespace"
            ))));
        }
        let cmd = Command::ScheduleNexusOperation {
            endpoint,
            service,
            operation,
            input: Payload(input),
            schedule_to_close_timeout_ms: positive(options.schedule_to_close_timeout_ms),
        };
        self.command(cmd).map_err(|i| self.stop(i))
    }
}

/// A recorded NexusOperationScheduled matches by endpoint, service and operation.
pub(super) fn matches(cmd: &Command, event: &EventKind) -> bool {
    match (cmd, event) {
        (
            Command::ScheduleNexusOperation {
                endpoint,
                service,
                operation,
                ..
            },
            EventKind::NexusOperationScheduled {
                endpoint: e,
                service: s,
                operation: o,
                ..
            },
        ) => endpoint == e && service == s && operation == o,
        _ => false,
    }
}

pub(super) fn describe(endpoint: &str, service: &str, operation: &str) -> String {
    format!("ScheduleNexusOperation({endpoint}/{service}/{operation})")
}

/// Strict replay: every attribute the code decides, compared with the recorded event (the
/// identity was matched already).
pub(super) fn compare(cmd: &Command, recorded: &EventKind, c: &mut Compare) {
    if let (
        Command::ScheduleNexusOperation {
            endpoint,
            service,
            operation,
            input,
            schedule_to_close_timeout_ms,
        },
        EventKind::NexusOperationScheduled {
            endpoint: r_endpoint,
            service: r_service,
            operation: r_operation,
            input: r_input,
            schedule_to_close_timeout_ms: r_s2c,
            request_id: _, // chosen by the host
        },
    ) = (cmd, recorded)
    {
        c.text("endpoint", r_endpoint, endpoint);
        c.text("service", r_service, service);
        c.text("operation", r_operation, operation);
        c.payload("input", r_input, input);
        c.value(
            "schedule_to_close_timeout_ms",
            r_s2c,
            schedule_to_close_timeout_ms,
            opt_ms,
        );
    }
}
