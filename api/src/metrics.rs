//! Prometheus metrics: requests and latencies, appends, projection lag.

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
        registry.register(Box::new(requests.clone()))?;
        registry.register(Box::new(latency.clone()))?;
        registry.register(Box::new(events_appended.clone()))?;
        registry.register(Box::new(commands.clone()))?;
        registry.register(Box::new(projection_lag.clone()))?;
        Ok(Self { registry, requests, latency, events_appended, commands, projection_lag })
    }

    /// The text exposition, with the projection lag measured now.
    pub fn render(&self, head: u64, checkpoints: &[(&'static str, u64)]) -> String {
        for (projector, checkpoint) in checkpoints {
            self.projection_lag
                .with_label_values(&[*projector])
                .set(i64::try_from(head.saturating_sub(*checkpoint)).unwrap_or(i64::MAX));
        }
        let mut buffer = Vec::new();
        if let Err(e) = TextEncoder::new().encode(&self.registry.gather(), &mut buffer) {
            tracing::error!(error = %e, "metrics not encoded");
        }
        String::from_utf8(buffer).unwrap_or_default()
    }
}
