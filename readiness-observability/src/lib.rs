//! # readiness-observability
//!
//! Observability checks for the readiness harness. It will own (see `DESIGN.md`):
//!
//! - a real Prometheus and Alertmanager started from the catalogue of `readiness-core`
//!   ([`readiness_core::containers::prometheus`], [`readiness_core::containers::alertmanager`])
//!   with the team's own rule files and configuration;
//! - scrape and metric lint, rule files rejected with the Prometheus error;
//! - `assert_alert_fires` (induction to pending, firing and the notification at a webhook
//!   the harness runs), `assert_alert_silent`, `assert_alert_resolves`;
//! - health endpoint accuracy, structured logs, and traces through an in-process OTLP receiver.
//!
//! Every assertion records a [`readiness_core::Evidence`] through [`readiness_core::Check`].
#![deny(missing_docs)]

pub use readiness_core as core;
