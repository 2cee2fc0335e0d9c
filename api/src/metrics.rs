//! Prometheus metrics: requests and latencies, appends, projection lag,
//! projectors' checkpoints, events applied and stops.

use projections::Progress;
use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGaugeVec, Opts, Registry, TextEncoder,
};

/// The server's metrics.
pub struct Metrics {
    registry: Registry,
    pub requests: IntCounterVec,
    pub latency: HistogramVec,
    pub events_appended: IntCounter,
    pub commands: IntCounterVec,
    projection_lag: IntGaugeVec,
    checkpoint: IntGaugeVec,
    applied: IntGaugeVec,
    stopped: IntGaugeVec,
    stopped_at: IntGaugeVec,
}

impl Metrics {
    /// # Errors
    /// When a metric cannot be registered (a programming error).
    pub fn new() -> prometheus::Result<Self> {
        let registry = Registry::new();
        let requests = IntCounterVec::new(
            Opts::new("groupware_http_requests_total", "HTTP requests by route and status"),
            &["route", "status"],
        )?;
        let latency = HistogramVec::new(
            HistogramOpts::new("groupware_http_request_duration_seconds", "HTTP request latency by route"),
            &["route"],
        )?;
        let events_appended = IntCounter::new("groupware_events_appended_total", "Events appended by commands")?;
        let commands =
            IntCounterVec::new(Opts::new("groupware_commands_total", "Commands handled by outcome"), &["outcome"])?;
        let projection_lag = IntGaugeVec::new(
            Opts::new("groupware_projection_lag_events", "Events appended but not yet applied, per projector"),
            &["projector"],
        )?;
        let checkpoint = IntGaugeVec::new(
            Opts::new("groupware_projector_checkpoint", "Position of the last event applied, per projector"),
            &["projector"],
        )?;
        let applied = IntGaugeVec::new(
            Opts::new(
                "groupware_projector_events_applied",
                "Events applied since the process started, per projector (read models kept across restarts resume where they were)",
            ),
            &["projector"],
        )?;
        let stopped = IntGaugeVec::new(
            Opts::new(
                "groupware_projector_stopped",
                "1 when the projector stopped at an event it cannot apply (until a restart), else 0",
            ),
            &["projector"],
        )?;
        let stopped_at = IntGaugeVec::new(
            Opts::new(
                "groupware_projector_stopped_event",
                "Position of the event a stopped projector cannot apply, with its stream, type and the reason",
            ),
            &["projector", "stream", "type", "reason"],
        )?;
        for metric in [&projection_lag, &checkpoint, &applied, &stopped, &stopped_at] {
            registry.register(Box::new(metric.clone()))?;
        }
        registry.register(Box::new(requests.clone()))?;
        registry.register(Box::new(latency.clone()))?;
        registry.register(Box::new(events_appended.clone()))?;
        registry.register(Box::new(commands.clone()))?;
        Ok(Self {
            registry,
            requests,
            latency,
            events_appended,
            commands,
            projection_lag,
            checkpoint,
            applied,
            stopped,
            stopped_at,
        })
    }

    /// The text exposition, with the projectors' progress measured now.
    pub fn render(&self, head: u64, progress: &[(&'static str, Progress)]) -> String {
        let gauge = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
        self.stopped_at.reset();
        for (projector, progress) in progress {
            self.projection_lag.with_label_values(&[*projector]).set(gauge(head.saturating_sub(progress.checkpoint)));
            self.checkpoint.with_label_values(&[*projector]).set(gauge(progress.checkpoint));
            self.applied.with_label_values(&[*projector]).set(gauge(progress.applied));
            self.stopped.with_label_values(&[*projector]).set(i64::from(progress.stopped.is_some()));
            if let Some(stop) = &progress.stopped {
                self.stopped_at
                    .with_label_values(&[*projector, stop.stream.as_str(), stop.event_type.as_str(), stop.cause])
                    .set(gauge(stop.position));
            }
        }
        let mut buffer = Vec::new();
        if let Err(e) = TextEncoder::new().encode(&self.registry.gather(), &mut buffer) {
            tracing::error!(error = %e, "metrics not encoded");
        }
        String::from_utf8(buffer).unwrap_or_default()
    }
}
