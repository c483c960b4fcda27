//! How long `readiness report` takes on 10,000 evidence files with 1,000,000 records
//! (100 criteria per test process, like a large suite run with nextest).
//!
//!   cargo bench -p readiness-cli --bench report_scale -- [FILES] [RECORDS_PER_FILE] [RUNS]
//!
//! Prints a table: the phases in process (read, merge, scorecard, render) and the whole CLI
//! (`readiness report DIR --format json,junit,md`) as a user runs it; medians of RUNS.
#![expect(clippy::print_stdout, reason = "a benchmark prints its table")]

use std::io::Write as _;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use readiness_core::{Category, Check, Quantity, Recorder, Threshold};
use readiness_report::{Format, Options, make, merge, read_dir};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn template(scratch: &Path) -> String {
    let e = Check::new(
        "bench.cXXX",
        "criterion XXX under 500ms",
        Category::PERFORMANCE,
    )
    .with_subject("bench/bench.cXXX")
    .with_threshold(Threshold::at_most(Duration::from_millis(500)))
    .with_scenario("constant arrival rate 200/s for 30s")
    .with_target("GET http://127.0.0.1:8080/orders")
    .with_recorder(Recorder::new(scratch))
    .judge(Quantity::millis(41.5))
    .expect("passes");
    let mut e = e;
    e.context.test = Some("suite::tYYY".into());
    serde_json::to_string(&e).expect("json")
}

fn generate(dir: &Path, files: usize, per_file: usize, line: &str) -> u64 {
    let mut bytes = 0u64;
    for f in 0..files {
        let sub = dir.join(format!("shard-{}", f % 10));
        std::fs::create_dir_all(&sub).expect("dir");
        let mut text = String::with_capacity(per_file * (line.len() + 16));
        let test = format!("suite::t{f}");
        for c in 0..per_file {
            text.push_str(
                &line
                    .replace("XXX", &c.to_string())
                    .replace("suite::tYYY", &test),
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

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
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
    let dir = root.join("evidence");
    std::fs::create_dir_all(&dir).expect("dir");
    let line = template(&root.join("scratch"));
    let t = Instant::now();
    let bytes = generate(&dir, files, per_file, &line);
    println!(
        "generated {files} files, {} records, {:.0} MB in {:.1}s\n",
        files * per_file,
        bytes as f64 / 1e6,
        t.elapsed().as_secs_f64()
    );
    let (mut read, mut merged, mut whole, mut render, mut cli) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for _ in 0..runs {
        let t = Instant::now();
        let set = read_dir(&dir).expect("read");
        read.push(t.elapsed());
        let t = Instant::now();
        let _ = merge(set.records);
        merged.push(t.elapsed());
        let t = Instant::now();
        let card = make(&Options::new(&dir)).expect("scorecard");
        whole.push(t.elapsed());
        let t = Instant::now();
        for f in [Format::Json, Format::Junit, Format::Markdown] {
            let _ = f.render(&card, false);
        }
        render.push(t.elapsed());
        let t = Instant::now();
        let status = Command::new(env!("CARGO_BIN_EXE_readiness"))
            .arg("report")
            .arg(&dir)
            .args(["--format", "json,junit,md", "--out"])
            .arg(root.join("out"))
            .env_remove("READINESS_CONFIG")
            .stdout(std::process::Stdio::null())
            .status()
            .expect("cli");
        cli.push(t.elapsed());
        assert!(status.code().is_some_and(|c| c <= 1), "report made");
    }
    let s = |d: Duration| format!("{:.2} s", d.as_secs_f64());
    println!(
        "| phase ({files} files, {} records, median of {runs}) | time |",
        files * per_file
    );
    println!("|---|---|");
    println!("| read + parse (parallel) | {} |", s(median(read)));
    println!("| merge retries and shards | {} |", s(median(merged)));
    println!(
        "| read + merge + scorecard (`make`) | {} |",
        s(median(whole))
    );
    println!("| render json + junit + md | {} |", s(median(render)));
    println!(
        "| whole CLI `readiness report --format json,junit,md` | {} |",
        s(median(cli))
    );
    if std::env::var_os("READINESS_BENCH_KEEP").is_none() {
        let _ = std::fs::remove_dir_all(&root);
    }
}
