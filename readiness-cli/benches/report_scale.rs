//! How long `readiness report` takes, and how much memory it holds, at a large suite's
//! scale: 1,000,000 records in 10,000 files, in two shapes.
//!
//! - `distinct`: 10,000 test processes with 100 criteria each, every criterion of every
//!   test its own line on the scorecard (1,000,000 lines);
//! - `shards`: 100 tests with 100 error-rate criteria each, every test split in 100 shard
//!   processes: 1,000,000 records folded into 10,000 results (counts summed).
//!
//!   cargo bench -p readiness-cli --bench report_scale -- [FILES] [RECORDS_PER_FILE] [RUNS]
//!
//! Prints a table per shape: the stages in process (read, group, merge, score + decide,
//! render) and the whole CLI (`readiness report DIR --format json,junit,md`) as a user runs
//! it, with its peak resident memory (from `/usr/bin/time` when installed); medians of RUNS.
#![expect(clippy::print_stdout, reason = "a benchmark prints its table")]

use std::io::Write as _;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use readiness_core::{Category, Check, Combine, Quantity, Ratio, Recorder, Threshold};
use readiness_report::{Format, ReportConfig, Run, decide, group, merge, read, score};

/// One record as a template: `XXX` is the criterion, `suite::tYYY` the test, `SSS` the
/// shard.
fn template(scratch: &Path, sharded: bool) -> String {
    let mut check = Check::new(
        "bench.cXXX",
        "criterion XXX under 500ms",
        Category::PERFORMANCE,
    )
    .with_subject("bench/bench.cXXX")
    .with_scenario("constant arrival rate 200/s for 30s")
    .with_target("GET http://127.0.0.1:8080/orders")
    .with_recorder(Recorder::new(scratch));
    let observed = if sharded {
        check = check
            .with_threshold(Threshold::at_most(Ratio::percent(1.0).expect("1%")))
            .with_combine(Combine::Proportion {
                events: 1,
                trials: 400,
            })
            .with_shard("SSS/100");
        Quantity::ratio(1.0 / 400.0)
    } else {
        check = check.with_threshold(Threshold::at_most(Duration::from_millis(500)));
        Quantity::millis(41.5)
    };
    let mut e = check.judge(observed).expect("passes");
    e.context.test = Some("suite::tYYY".into());
    serde_json::to_string(&e).expect("json")
}

fn generate(dir: &Path, files: usize, per_file: usize, line: &str, sharded: bool) -> u64 {
    let mut bytes = 0u64;
    for f in 0..files {
        let sub = dir.join(format!("shard-{}", f % 10));
        std::fs::create_dir_all(&sub).expect("dir");
        let mut text = String::with_capacity(per_file * (line.len() + 16));
        // Distinct: file f is test f. Shards: file f is shard f % 100 + 1 of test f / 100.
        let (test, shard) = if sharded {
            (format!("suite::t{}", f / 100), (f % 100 + 1).to_string())
        } else {
            (format!("suite::t{f}"), String::new())
        };
        for c in 0..per_file {
            text.push_str(
                &line
                    .replace("XXX", &c.to_string())
                    .replace("suite::tYYY", &test)
                    .replace("SSS", &shard),
            );
            text.push('\n');
        }
        bytes += text.len() as u64;
        std::fs::File::create(sub.join(format!("evidence-{f}.jsonl")))
            .and_then(|mut file| file.write_all(text.as_bytes()))
            .expect("write");
    }
    bytes
}

/// The peak resident memory of this process so far (MB), from `/proc/self/status`.
fn peak_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
            line.split_whitespace().nth(1)?.parse::<f64>().ok()
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// The whole CLI as a user runs it: its time and, under `/usr/bin/time`, its peak RSS.
fn cli(dir: &Path, out: &Path) -> (Duration, Option<u64>) {
    let time = Path::new("/usr/bin/time");
    let stats = out.with_extension("time");
    let mut cmd = if time.exists() {
        let mut c = Command::new(time);
        c.arg("-f").arg("%M").arg("-o").arg(&stats);
        c.arg(env!("CARGO_BIN_EXE_readiness"));
        c
    } else {
        Command::new(env!("CARGO_BIN_EXE_readiness"))
    };
    cmd.arg("report")
        .arg(dir)
        .args(["--format", "json,junit,md", "--out"])
        .arg(out)
        .env_remove("READINESS_CONFIG")
        .env_remove("GITHUB_STEP_SUMMARY")
        .stdout(std::process::Stdio::null());
    let t = Instant::now();
    let status = cmd.status().expect("cli");
    let took = t.elapsed();
    assert!(status.code().is_some_and(|c| c <= 1), "report made");
    let kb = std::fs::read_to_string(&stats)
        .ok()
        .and_then(|s| s.trim().lines().last()?.trim().parse::<u64>().ok());
    (took, kb)
}

fn shape(root: &Path, name: &str, files: usize, per_file: usize, runs: usize) {
    let sharded = name == "shards";
    let dir = root.join(name);
    std::fs::create_dir_all(&dir).expect("dir");
    let line = template(&root.join("scratch"), sharded);
    let t = Instant::now();
    let bytes = generate(&dir, files, per_file, &line, sharded);
    println!(
        "{name}: generated {files} files, {} records, {:.0} MB in {:.1}s",
        files * per_file,
        bytes as f64 / 1e6,
        t.elapsed().as_secs_f64()
    );
    let config = ReportConfig::default();
    let mut stages: [Vec<Duration>; 6] = Default::default();
    let mut rss = Vec::new();
    let mut results = 0;
    for _ in 0..runs {
        let t = Instant::now();
        let r = read(&dir).expect("read");
        stages[0].push(t.elapsed());
        println!("  in-process peak after reading: {:.0} MB", peak_mb());
        let t = Instant::now();
        let g = group(r, &Run::Latest).expect("group");
        stages[1].push(t.elapsed());
        let t = Instant::now();
        let m = merge(g);
        results = m.results().count();
        stages[2].push(t.elapsed());
        let t = Instant::now();
        let card = decide(score(m, &config), &config, None, None);
        stages[3].push(t.elapsed());
        println!("  in-process peak after scoring: {:.0} MB", peak_mb());
        let t = Instant::now();
        for f in [Format::Json, Format::Junit, Format::Markdown] {
            f.write(&card, &mut std::io::sink()).expect("render");
        }
        stages[4].push(t.elapsed());
        // The process ends soon: freeing a million lines piece by piece only costs time.
        std::mem::forget(card);
        let (took, kb) = cli(&dir, &root.join(format!("out-{name}")));
        stages[5].push(took);
        rss.extend(kb);
    }
    let s = |d: Duration| format!("{:.2} s", d.as_secs_f64());
    let [read_t, group_t, merge_t, decide_t, render_t, cli_t] = stages.map(median);
    println!(
        "\n| {name}: {files} files, {} records -> {results} results (median of {runs}) | time |",
        files * per_file
    );
    println!("|---|---|");
    println!("| read + judge again (parallel) | {} |", s(read_t));
    println!("| group into runs | {} |", s(group_t));
    println!("| merge retries and shards | {} |", s(merge_t));
    println!("| score + decide | {} |", s(decide_t));
    println!("| render json + junit + md | {} |", s(render_t));
    let peak = if rss.is_empty() {
        "n/a (no /usr/bin/time)".to_owned()
    } else {
        rss.sort_unstable();
        format!("{:.0} MB", rss[rss.len() / 2] as f64 / 1024.0)
    };
    println!(
        "| whole CLI `readiness report --format json,junit,md` | {} (peak RSS {peak}) |\n",
        s(cli_t)
    );
}

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let files = args.first().copied().unwrap_or(10_000);
    let per_file = args.get(1).copied().unwrap_or(100);
    let runs = args.get(2).copied().unwrap_or(3);
    let root = readiness_core::settings::target_dir().join("readiness-bench-report");
    let _ = std::fs::remove_dir_all(&root);
    println!(
        "sizes: entry {} B, criterion line {} B\n",
        std::mem::size_of::<readiness_report::Entry>(),
        std::mem::size_of::<readiness_report::CriterionResult>()
    );
    let keep = std::env::var_os("READINESS_BENCH_KEEP").is_some();
    for name in ["distinct", "shards"] {
        shape(&root, name, files, per_file, runs);
        if !keep {
            let _ = std::fs::remove_dir_all(root.join(name));
        }
    }
    if !keep {
        let _ = std::fs::remove_dir_all(&root);
    }
}
