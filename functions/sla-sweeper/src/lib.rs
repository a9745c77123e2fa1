//! The SLA sweeper Lambda: EventBridge Scheduler invokes it every minute; it runs one sweep and
//! publishes each new warning or breach to the SLA alert topic, then runs the scheduled jobs
//! due by the same instant (surveys, follow-ups, auto-close, reminders).
//!
//! The schedule's input (template.yaml) is an EventBridge-shaped "Scheduled Event" whose `time`
//! is the schedule's own `<aws.scheduler.scheduled-time>`, so a retried or late invocation
//! sweeps as of the minute it stood for, and a replay with a fixture is deterministic. Without a
//! usable `time` (a hand-made `{}` test invoke) the sweep runs at the clock's now; a `time`
//! ahead of the clock is capped at now, so no alert is raised before it is due.
//!
//! Overlapping or repeated invocations are safe: every alert is claimed by a conditional write
//! before it is published (see `helpdesk_app::sla`).

use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use chrono::{DateTime, Utc};
use helpdesk_app::sla::AlertSink;
use helpdesk_app::Helpdesk;
use lambda_runtime::LambdaEvent;
use serde::Serialize;

/// What one invocation did; the function's result (visible in `sam local invoke` and tests).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SweepSummary {
    /// The instant swept at.
    pub now: DateTime<Utc>,
    /// Whether `now` came from the event (`true`) or the clock.
    pub from_event: bool,
    pub examined: usize,
    /// New alerts published this time (0 for a repeat of the same minute).
    pub alerts: usize,
    pub queries: usize,
    /// Scheduled jobs (CSAT surveys, follow-ups, auto-close, reminders) run or cancelled.
    pub jobs: usize,
}

/// The instant to sweep at: the event's `time` if it has one, never later than the clock.
pub fn sweep_time(event: &serde_json::Value, clock_now: DateTime<Utc>) -> (DateTime<Utc>, bool) {
    let time = serde_json::from_value::<EventBridgeEvent>(event.clone())
        .ok()
        .and_then(|e| e.time)
        .or_else(|| {
            // Scheduler input that is not a full EventBridge envelope but still carries a time.
            event
                .get("time")
                .and_then(|t| t.as_str())
                .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
                .map(|t| t.with_timezone(&Utc))
        });
    match time {
        Some(t) if t <= clock_now => (t, true),
        Some(t) => {
            tracing::warn!(event_time = %t, now = %clock_now, "event time is ahead of the clock; sweeping at the clock's now");
            (clock_now, false)
        }
        None => (clock_now, false),
    }
}

/// One invocation: sweep at the event's time and publish what is due. A storage error fails
/// the invocation, so the schedule's retry policy runs it again (claims make that safe).
pub async fn handle(
    helpdesk: &Helpdesk,
    sink: &dyn AlertSink,
    event: LambdaEvent<serde_json::Value>,
) -> Result<SweepSummary, lambda_runtime::Error> {
    let (now, from_event) = sweep_time(&event.payload, helpdesk.now());
    let report = helpdesk.sweep_sla(now, sink).await.map_err(|e| {
        tracing::error!(error = %e, %now, "SLA sweep failed");
        lambda_runtime::Error::from(e.to_string())
    })?;
    // The same minute runs the scheduled jobs due by then (claimed like alerts: once).
    let jobs = helpdesk.sweep_jobs(now).await.map_err(|e| {
        tracing::error!(error = %e, %now, "scheduled jobs sweep failed");
        lambda_runtime::Error::from(e.to_string())
    })?;
    let summary = SweepSummary {
        now,
        from_event,
        examined: report.examined,
        alerts: report.alerts.len(),
        queries: report.queries,
        jobs: jobs.done + jobs.cancelled,
    };
    tracing::info!(
        %now,
        from_event,
        examined = summary.examined,
        alerts = summary.alerts,
        queries = summary.queries,
        "SLA sweep done"
    );
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use serde_json::json;

    fn t(h: u32, m: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 5, h, m, 0)
            .single()
            .expect("t")
    }

    #[test]
    fn the_event_time_is_the_sweep_time() {
        let event = json!({
            "version": "0", "id": "d32c5kddcf5bb8c3", "detail-type": "Scheduled Event",
            "source": "aws.scheduler", "account": "123456789012", "time": "2026-01-05T09:00:00Z",
            "region": "us-east-1", "resources": ["arn:aws:scheduler:us-east-1:123456789012:schedule/default/x"],
            "detail": {}
        });
        assert_eq!(sweep_time(&event, t(9, 1)), (t(9, 0), true));
        // A bare object with a time still counts.
        assert_eq!(
            sweep_time(&json!({"time": "2026-01-05T08:59:00+00:00"}), t(9, 1)),
            (t(8, 59), true)
        );
    }

    #[test]
    fn no_time_or_a_future_time_uses_the_clock() {
        assert_eq!(sweep_time(&json!({}), t(9, 1)), (t(9, 1), false));
        assert_eq!(
            sweep_time(&json!({"time": "not a time"}), t(9, 1)),
            (t(9, 1), false)
        );
        assert_eq!(
            sweep_time(&json!({"time": "2026-01-05T10:00:00Z"}), t(9, 1)),
            (t(9, 1), false)
        );
    }
}
