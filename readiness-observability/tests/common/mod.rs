//! What readiness-observability's self-tests share: where their evidence goes (never the user's
//! evidence directory).
#![expect(unreachable_pub, reason = "the module is private to each test binary")]

use std::path::PathBuf;

use readiness_core::Recorder;

/// `<target>/readiness-self-test`: the self-tests' evidence.
pub fn self_test_dir() -> PathBuf {
    readiness_core::settings::target_dir().join("readiness-self-test")
}

/// The recorder every self-test judges with.
pub fn recorder() -> Recorder {
    Recorder::new(self_test_dir())
}

/// Rules for the exporter's series: `for: 0s` pages, `for: 5s` goes to chat.
pub const RULES: &str = r#"groups:
  - name: test
    rules:
      - alert: ErrorsHigh
        expr: app_error_ratio > 0.1
        labels:
          severity: critical
        annotations:
          summary: errors above 10%
          runbook_url: https://runbooks.example.invalid/errors
      - alert: QueueSlow
        expr: queue_depth > 100
        for: 5s
        labels:
          severity: warning
        annotations:
          summary: queue backlog
          runbook_url: https://runbooks.example.invalid/queue
"#;

/// critical → pager, warning → chat; test timers (no group wait).
pub const ALERTMANAGER: &str = r#"route:
  receiver: chat
  group_by: [alertname]
  group_wait: 0s
  group_interval: 1s
  repeat_interval: 1h
  routes:
    - matchers: ['severity="critical"']
      receiver: pager
receivers:
  - name: chat
    slack_configs:
      - api_url: https://hooks.slack.example.invalid/x
        channel: '#ops'
  - name: pager
    pagerduty_configs:
      - routing_key: not-a-real-key
"#;

/// The message of a failure, evidence path and all.
pub fn message(f: &readiness_core::Failure) -> String {
    f.to_string()
}
