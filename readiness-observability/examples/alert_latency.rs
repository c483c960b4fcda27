//! Figures: the time from an induced cause to the notification at the webhook, for an alert
//! with `for: 0s` and one with `for: 5s` (5 runs each, medians), split into the part spent
//! before Prometheus saw the condition (scrape and evaluation intervals), the `for`, and
//! Alertmanager's part; and the start time of the pair (3 starts).
//!
//! ```sh
//! images/with-local-images cargo run -p readiness-observability --example alert_latency
//! ```
#![expect(clippy::print_stdout, reason = "a benchmark prints its table")]

use std::time::Duration;

use readiness_core::{AlertState, AlertTimeline, AttachmentKind as _, Recorder};
use readiness_observability::{Exporter, Induced, Pair, RuleFile, Target};

const RUNS: usize = 5;

const RULES: &str = r#"groups:
  - name: bench
    rules:
      - alert: Now
        expr: cause_now > 0
        labels: {severity: warning}
      - alert: AfterFive
        expr: cause_five > 0
        for: 5s
        labels: {severity: warning}
"#;

const ALERTMANAGER: &str = "route:\n  receiver: chat\n  group_by: [alertname]\n  group_wait: 0s\n  group_interval: 1s\nreceivers:\n  - name: chat\n";

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

#[tokio::main]
async fn main() -> readiness_core::Result<()> {
    let recorder = Recorder::new(readiness_core::settings::target_dir().join("readiness-bench"));
    let mut starts = Vec::new();
    for _ in 0..3 {
        let pair = Pair::builder()
            .with_recorder(recorder.clone())
            .start()
            .await?;
        starts.push(pair.start_time().as_secs_f64());
    }
    let exporter = Exporter::start().await?;
    let now = exporter.gauge("cause_now", "bench")?;
    let five = exporter.gauge("cause_five", "bench")?;
    now.set(&[], 0.0);
    five.set(&[], 0.0);
    let pair = Pair::builder()
        .scrape(Target::new("bench", exporter.target()))
        .rule_file(RuleFile::new("bench.yml", RULES))
        .alertmanager_config(ALERTMANAGER)
        .with_recorder(recorder)
        .start()
        .await?;
    println!("| alert | run | seen by Prometheus | for | Alertmanager | cause → notification |");
    println!("|---|---|---|---|---|---|");
    let mut rows = Vec::new();
    for (name, gauge) in [("Now", &now), ("AfterFive", &five)] {
        let (mut seen, mut held, mut am, mut total) = (vec![], vec![], vec![], vec![]);
        for run in 1..=RUNS {
            // Start each run at a different phase of the scrape and evaluation cycles.
            tokio::time::sleep(Duration::from_millis(1_000 + 173 * run as u64)).await;
            let induced = Induced::now(format!("{name} run {run}"));
            gauge.set(&[], 1.0);
            let e = pair
                .alert(name)
                .within(Duration::from_secs(20))
                .try_assert_fires(&induced)
                .await
                .map_err(|f| readiness_core::Error::Other(f.to_string()))?;
            let t = e
                .attachments
                .iter()
                .find_map(AlertTimeline::of)
                .cloned()
                .ok_or_else(|| readiness_core::Error::Other("no timeline".into()))?;
            let notified = t.first(AlertState::Notified).unwrap_or(f64::NAN);
            let firing = t
                .first(AlertState::Firing)
                .unwrap_or(notified)
                .min(notified);
            let first = t.first(AlertState::Pending).unwrap_or(firing).min(firing);
            println!(
                "| {name} | {run} | {:.2} s | {:.2} s | {:.2} s | {:.2} s |",
                first / 1e3,
                (firing - first) / 1e3,
                (notified - firing) / 1e3,
                notified / 1e3
            );
            seen.push(first / 1e3);
            held.push((firing - first) / 1e3);
            am.push((notified - firing) / 1e3);
            total.push(notified / 1e3);
            let cleared = Induced::now("cleared");
            gauge.set(&[], 0.0);
            pair.alert(name)
                .within(Duration::from_secs(20))
                .try_assert_resolves(&cleared)
                .await
                .map_err(|f| readiness_core::Error::Other(f.to_string()))?;
        }
        rows.push((name, median(seen), median(held), median(am), median(total)));
    }
    println!();
    println!(
        "medians of {RUNS} runs (pending and firing from Prometheus's activeAt; scrape 1 s, evaluation 1 s):"
    );
    println!("| alert | seen by Prometheus | for | Alertmanager | cause → notification |");
    println!("|---|---|---|---|---|");
    for (name, seen, held, am, total) in rows {
        println!("| {name} | {seen:.2} s | {held:.2} s | {am:.2} s | {total:.2} s |");
    }
    println!();
    println!(
        "pair start (Prometheus + Alertmanager ready, Alertmanager known to Prometheus): median {:.2} s of {:?}",
        median(starts.clone()),
        starts.iter().map(|s| format!("{s:.2}")).collect::<Vec<_>>()
    );
    Ok(())
}
