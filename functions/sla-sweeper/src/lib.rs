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
use helpdesk_adapters::aws::SnsAlertSink;
use helpdesk_app::sla::AlertSink;
use helpdesk_app::Helpdesk;
use helpdesk_compose::{aws::Stack, Capability, ComposeError, Settings};
use lambda_runtime::LambdaEvent;
use serde::Serialize;

/// What the function needs besides its table: the alert topic; mail (alerts to the team, queued
/// mail retried), attachments of queued replies and stranded received mail (the mail bucket),
/// inbound settings (recovery), signed links (surveys), the routing queue (re-enqueues) and
/// the classifier models (the retraining task).
pub const NEEDS: &[Capability] = &[
    Capability::SlaAlerts,
    Capability::Mail,
    Capability::MailBucket,
    Capability::Inbound,
    Capability::Links,
    Capability::RoutingQueue,
    Capability::ClassifierModels,
];

/// Unrouted-ticket markers (and stranded messages, and KB resolutions) examined per shard and
/// minute; the next minute continues.
pub const RESWEEP_LIMIT: usize = 200;

/// The function as `main` runs it (and the tests start it).
pub struct Function {
    helpdesk: Helpdesk,
    sink: SnsAlertSink,
}

impl Function {
    pub async fn build(settings: &Settings) -> Result<Self, ComposeError> {
        let stack = Stack::connect(settings).await;
        Ok(Self {
            helpdesk: stack.helpdesk(NEEDS)?,
            sink: stack.alert_sink()?,
        })
    }

    pub fn helpdesk(&self) -> &Helpdesk {
        &self.helpdesk
    }

    /// One invocation of either schedule. A sweep also delivers queued mail (retries, and
    /// sends a crash interrupted), as the self-hosted server's timer does, re-enqueues tickets
    /// left unrouted, ingests again received mail left pending and counts KB links of
    /// resolutions whose follow-up did not finish. Failures of those are logged; the next
    /// minute catches up.
    pub async fn handle(
        &self,
        event: LambdaEvent<serde_json::Value>,
    ) -> Result<Outcome, lambda_runtime::Error> {
        let helpdesk = &self.helpdesk;
        // The daily schedule's payload asks for retraining instead of a sweep.
        let report = match run(helpdesk, &self.sink, event).await? {
            retrain @ Outcome::Retrain(_) => return Ok(retrain),
            Outcome::Sweep(report) => report,
        };
        if let Some(mail) = helpdesk.mail_settings() {
            if let Err(e) = helpdesk
                .deliver_pending_mail(Utc::now(), mail.sender.as_ref())
                .await
            {
                tracing::error!(error = %e, "mail delivery sweep failed");
            }
        }
        match helpdesk.resweep_unrouted(Utc::now(), RESWEEP_LIMIT).await {
            Ok(r) if r.enqueued + r.errors > 0 => tracing::info!(
                enqueued = r.enqueued,
                errors = r.errors,
                "re-enqueued unrouted tickets"
            ),
            Ok(_) => {}
            Err(e) => tracing::error!(error = %e, "routing resweep failed"),
        }
        match helpdesk.recover_inbound(Utc::now(), RESWEEP_LIMIT).await {
            Ok(r) if r.examined > 0 => tracing::info!(
                recovered = r.recovered,
                quarantined = r.quarantined,
                errors = r.errors,
                "recovered stranded inbound mail"
            ),
            Ok(_) => {}
            Err(e) => tracing::error!(error = %e, "inbound recovery sweep failed"),
        }
        if let Err(e) = helpdesk.sweep_kb_resolutions(RESWEEP_LIMIT).await {
            tracing::error!(error = %e, "KB resolution sweep failed");
        }
        Ok(Outcome::Sweep(report))
    }
}

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

/// What an invocation is for: the minute schedule's sweep (any event without `task`), or the
/// daily schedule's classifier retraining (`{"task": "retrain-classifier"}`). One function for
/// both keeps the deployment lean: retraining needs only this function's table access plus the
/// classifier prefix of the bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Task {
    Sweep,
    RetrainClassifier,
}

pub const RETRAIN_TASK: &str = "retrain-classifier";

/// The task an event asks for; an unknown `task` is an error (a misconfigured schedule).
pub fn task_of(event: &serde_json::Value) -> Result<Task, String> {
    match event.get("task") {
        None | Some(serde_json::Value::Null) => Ok(Task::Sweep),
        Some(serde_json::Value::String(t)) if t == RETRAIN_TASK => Ok(Task::RetrainClassifier),
        Some(other) => Err(format!(
            "unknown task {other}: expected none (sweep) or \"{RETRAIN_TASK}\""
        )),
    }
}

/// What one retraining invocation did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RetrainSummary {
    pub retrained: bool,
    /// The new current model's name, when one was trained.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub examples: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub holdout_accuracy: Option<f64>,
    /// Why nothing was trained, when nothing was.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skipped: Option<String>,
}

/// The scheduled retraining (`retrain_classifier_if_needed`). Idempotent: it trains only when
/// agents categorised tickets since the current model, so a retried or repeated invocation
/// finds nothing new; two runs at once store one model (the pointer's conditional write
/// refuses the second, reported as skipped). The model blob is content-addressed
/// (`classifier/models/{sha256}.bin`), so writing it twice is harmless. Storage errors fail the
/// invocation (the schedule's retry runs it again).
pub async fn retrain(helpdesk: &Helpdesk) -> Result<RetrainSummary, lambda_runtime::Error> {
    match helpdesk.retrain_classifier_if_needed().await {
        Ok(Some(info)) => {
            tracing::info!(model = %info.model, examples = info.examples, holdout_accuracy = info.holdout_accuracy, "classifier retrained");
            Ok(RetrainSummary {
                retrained: true,
                model: Some(info.model),
                examples: Some(info.examples),
                holdout_accuracy: Some(info.holdout_accuracy),
                skipped: None,
            })
        }
        Ok(None) => Ok(RetrainSummary {
            retrained: false,
            model: None,
            examples: None,
            holdout_accuracy: None,
            skipped: Some(
                "no new categorised tickets since the current model (or too few, or no model store)"
                    .into(),
            ),
        }),
        Err(helpdesk_app::AppError::Conflict { detail, .. }) => {
            tracing::info!(%detail, "another retraining stored its model first");
            Ok(RetrainSummary {
                retrained: false,
                model: None,
                examples: None,
                holdout_accuracy: None,
                skipped: Some(detail),
            })
        }
        Err(e) => {
            tracing::error!(error = %e, "classifier retraining failed");
            Err(lambda_runtime::Error::from(e.to_string()))
        }
    }
}

/// What an invocation did, by task.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Outcome {
    Sweep(SweepSummary),
    Retrain(RetrainSummary),
}

/// One invocation of either schedule: the task named by the event (see [`task_of`]).
pub async fn run(
    helpdesk: &Helpdesk,
    sink: &dyn AlertSink,
    event: LambdaEvent<serde_json::Value>,
) -> Result<Outcome, lambda_runtime::Error> {
    match task_of(&event.payload)? {
        Task::RetrainClassifier => Ok(Outcome::Retrain(retrain(helpdesk).await?)),
        Task::Sweep => Ok(Outcome::Sweep(handle(helpdesk, sink, event).await?)),
    }
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
    fn the_task_comes_from_the_event() {
        assert_eq!(
            task_of(&json!({"time": "2026-01-05T09:00:00Z"})),
            Ok(Task::Sweep)
        );
        assert_eq!(task_of(&json!({"task": null})), Ok(Task::Sweep));
        assert_eq!(
            task_of(&json!({"task": "retrain-classifier", "time": "2026-01-05T03:00:00Z"})),
            Ok(Task::RetrainClassifier)
        );
        assert!(task_of(&json!({"task": "retrain"})).is_err());
        assert!(task_of(&json!({"task": 1})).is_err());
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
