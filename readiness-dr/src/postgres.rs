//! PostgreSQL backup and restore drills: `pg_dump` / `pg_restore` run inside the
//! containers (no client tools needed on the host), the restore made into a fresh
//! container, integrity verified by row counts and a checksum per table, not by "no
//! error", and the restore timed.
//!
//! ```no_run
//! # async fn demo() -> readiness_core::Result<()> {
//! use std::time::Duration;
//! use readiness_core::containers;
//! use readiness_dr::postgres::{self, assert_restore_intact, assert_restore_within};
//!
//! let source = containers::start(containers::postgres()?).await?;
//! postgres::seed(&source, "orders", 1_000_000).await?;
//! let backup = postgres::backup(&source).await?;
//! let (restored, report) = postgres::restore_into_fresh(&backup).await?;
//! assert_restore_intact(&report);
//! assert_restore_within(&report, Duration::from_secs(300));
//! # drop(restored); Ok(()) }
//! ```

use std::fmt;
use std::time::Duration;
use tokio::time::Instant;

use readiness_core::containers;
use readiness_core::testcontainers::{ContainerAsync, Image, ImageExt};
use readiness_core::testcontainers_modules::postgres::Postgres;
use readiness_core::{
    Category, Check, CheckResultExt, Combine, Count, Error, Evidence, Failure, Observation,
    Quantity, Recorder, Result, Threshold,
};

use crate::exec;

const DUMP_PATH: &str = "/tmp/readiness-backup.dump";

/// Runs `sql` with `psql` as user `postgres` on database `postgres` inside the container
/// (unaligned, tuples only); stops at the first error.
pub async fn psql<I: Image>(container: &ContainerAsync<I>, sql: &str) -> Result<String> {
    exec(
        container,
        &[
            "psql",
            "-U",
            "postgres",
            "-d",
            "postgres",
            "-v",
            "ON_ERROR_STOP=1",
            "-X",
            "-A",
            "-t",
            "-c",
            sql,
        ],
    )
    .await
}

/// A quoted SQL identifier, refusing what is not a plain name.
fn ident(name: &str) -> Result<String> {
    let plain = !name.is_empty()
        && name.len() <= 63
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !name.starts_with(|c: char| c.is_ascii_digit());
    if plain {
        Ok(format!("\"{name}\""))
    } else {
        Err(Error::InvalidInput(format!(
            "table name {name:?} is not a plain identifier (letters, digits, _)"
        )))
    }
}

/// Creates `table (id bigint primary key, payload text)` and fills it with `rows` rows
/// through `COPY ... FROM PROGRAM` (a million rows take seconds); every payload is random,
/// so a checksum tells restored data from regenerated data.
pub async fn seed<I: Image>(container: &ContainerAsync<I>, table: &str, rows: u64) -> Result<()> {
    let t = ident(table)?;
    psql(
        container,
        &format!(
            "CREATE TABLE IF NOT EXISTS {t} (id bigint PRIMARY KEY, \
             payload text NOT NULL DEFAULT md5(random()::text)); \
             COPY {t} (id) FROM PROGRAM 'seq 1 {rows}'; ANALYZE {t};"
        ),
    )
    .await?;
    Ok(())
}

/// One table's row count and checksum.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableSum {
    /// The table (schema `public`).
    pub table: String,
    /// Its rows.
    pub rows: u64,
    /// md5 over the md5 of every row's text, in order: the same rows give the same sum.
    pub checksum: String,
}

/// Row counts and checksums of every table of schema `public`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Manifest(pub Vec<TableSum>);

impl Manifest {
    /// Rows over all tables.
    pub fn rows(&self) -> u64 {
        self.0.iter().map(|t| t.rows).sum()
    }
    /// Where `restored` differs from this manifest, a line per table.
    pub fn differences(&self, restored: &Manifest) -> Vec<String> {
        let mut out = Vec::new();
        for want in &self.0 {
            match restored.0.iter().find(|t| t.table == want.table) {
                None => out.push(format!(
                    "{}: missing ({} rows expected)",
                    want.table, want.rows
                )),
                Some(got) if got.rows != want.rows => out.push(format!(
                    "{}: {} rows restored of {}",
                    want.table, got.rows, want.rows
                )),
                Some(got) if got.checksum != want.checksum => out.push(format!(
                    "{}: {} rows, but the checksum differs ({} restored, {} expected)",
                    want.table,
                    got.rows,
                    &got.checksum[..got.checksum.len().min(8)],
                    &want.checksum[..want.checksum.len().min(8)]
                )),
                Some(_) => {}
            }
        }
        for extra in restored
            .0
            .iter()
            .filter(|t| !self.0.iter().any(|w| w.table == t.table))
        {
            out.push(format!(
                "{}: not in the backup ({} rows)",
                extra.table, extra.rows
            ));
        }
        out
    }
}

impl fmt::Display for Manifest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self
            .0
            .iter()
            .map(|t| format!("{} {} rows", t.table, t.rows))
            .collect();
        f.write_str(&parts.join(", "))
    }
}

/// psql's `\gexec` statement that sums every table of schema `public`: a line
/// `table rows checksum` per table, all read in the transaction it runs in.
const MANIFEST_SQL: &str = r"SELECT format('SELECT %L || '' '' || count(*) || '' '' || coalesce(md5(string_agg(md5(r::text), '''' ORDER BY md5(r::text))), ''-'') FROM %I r', tablename, tablename) FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename \gexec";

/// `script` fed to psql (user and database `postgres`, unaligned, tuples only, quiet,
/// stopping at the first error) in one session inside the container.
async fn psql_script<I: Image>(container: &ContainerAsync<I>, script: &str) -> Result<String> {
    let command = format!(
        "psql -q -U postgres -d postgres -v ON_ERROR_STOP=1 -X -A -t <<'READINESS_SQL'\n{script}\nREADINESS_SQL"
    );
    exec(container, &["sh", "-c", &command]).await
}

/// Reads the lines of [`MANIFEST_SQL`].
fn parse_manifest(out: &str) -> Result<Manifest> {
    let mut sums = Vec::new();
    for line in out.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let mut parts = line.rsplitn(3, ' ');
        let (Some(checksum), Some(rows), Some(table)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(Error::Other(format!(
                "unexpected line in the table checksums: {line:?}"
            )));
        };
        sums.push(TableSum {
            table: table.to_owned(),
            rows: rows
                .parse()
                .map_err(|_| Error::Other(format!("unexpected row count of {table}: {rows:?}")))?,
            checksum: checksum.to_owned(),
        });
    }
    Ok(Manifest(sums))
}

/// The manifest of the database `postgres` in `container`, every table read in one
/// repeatable-read transaction (one snapshot, even under writes).
pub async fn manifest<I: Image>(container: &ContainerAsync<I>) -> Result<Manifest> {
    let out = psql_script(
        container,
        &format!("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY;\n{MANIFEST_SQL}\nCOMMIT;"),
    )
    .await?;
    parse_manifest(&out)
}

/// A backup: the dump (`pg_dump -Fc`) and the manifest taken with it.
#[derive(Clone)]
pub struct Backup {
    /// The dump, in pg_dump's custom format.
    pub dump: Vec<u8>,
    /// What the database held when the backup was taken.
    pub manifest: Manifest,
    /// How long the dump and its manifest took.
    pub took: Duration,
    /// The team's own `pg_dump` options it was taken with (see [`backup_with`]).
    pub options: Vec<String>,
}

impl fmt::Debug for Backup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Backup")
            .field("dump_bytes", &self.dump.len())
            .field("manifest", &self.manifest)
            .field("took", &self.took)
            .field("options", &self.options)
            .finish()
    }
}

/// Dumps database `postgres` with `pg_dump -Fc` inside the container and copies the dump
/// out, with the manifest of the same snapshot: a transaction exports its snapshot,
/// `pg_dump --snapshot` dumps exactly that, and the same transaction sums the tables
/// after the dump, so a write made meanwhile is in both or in neither.
pub async fn backup<I: Image>(container: &ContainerAsync<I>) -> Result<Backup> {
    backup_with(container, &[]).await
}

/// The options of `pg_dump` the drill sets itself; a team's options may not change them.
const OWN_OPTIONS: [&str; 12] = [
    "-f",
    "--file",
    "-F",
    "--format",
    "--snapshot",
    "-d",
    "--dbname",
    "-U",
    "--username",
    "-h",
    "--host",
    "-p",
];

/// A team's `pg_dump` options, one per line (`#` starts a comment), as its backup job
/// passes them (`--exclude-table=audit`, `--lock-wait-timeout=10s`): what [`backup_with`]
/// takes. An option the drill sets itself (`-f`, `-F`, `--snapshot`, the connection) or a
/// line that is not an option is an error naming it.
pub fn dump_options(text: &str) -> Result<Vec<String>> {
    let mut options = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let option = line.split('#').next().unwrap_or_default().trim();
        if option.is_empty() {
            continue;
        }
        let name = option.split('=').next().unwrap_or_default();
        let refused = OWN_OPTIONS
            .iter()
            .any(|own| name == *own || (own.len() == 2 && name.starts_with(own)));
        if !option.starts_with('-') || option.contains(char::is_whitespace) {
            return Err(Error::InvalidInput(format!(
                "line {}: {option:?} is not one pg_dump option (one per line, like --exclude-table=audit)",
                n + 1
            )));
        }
        if refused {
            return Err(Error::InvalidInput(format!(
                "line {}: {name} is set by the backup drill itself (custom format, one snapshot, \
                 database postgres); leave it out of the options",
                n + 1
            )));
        }
        options.push(option.to_owned());
    }
    Ok(options)
}

/// [`backup`] with the team's own `pg_dump` options (read by [`dump_options`]): the drill
/// judges the backup the team really takes, so a job that leaves a table out
/// (`--exclude-table`) restores without it and [`assert_restore_intact`] names the table.
/// The manifest still sums every table of the database.
pub async fn backup_with<I: Image>(
    container: &ContainerAsync<I>,
    options: &[String],
) -> Result<Backup> {
    let checked = dump_options(&options.join("\n"))?;
    // Each option quoted for the shell of psql's \!: what it holds stays one argument.
    let quoted: String = checked
        .iter()
        .map(|o| format!(" '{}'", o.replace('\'', "'\\''")))
        .collect();
    let started = Instant::now();
    let script = format!(
        "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY;\n\
         SELECT pg_export_snapshot() AS readiness_snapshot \\gset\n\
         \\setenv READINESS_SNAPSHOT :readiness_snapshot\n\
         \\! pg_dump -U postgres -Fc --snapshot=\"$READINESS_SNAPSHOT\"{quoted} -f {DUMP_PATH} postgres > {DUMP_PATH}.log 2>&1; echo $? > {DUMP_PATH}.rc\n\
         {MANIFEST_SQL}\n\
         COMMIT;"
    );
    let out = psql_script(container, &script).await?;
    let dumped = exec(
        container,
        &["sh", "-c", &format!("cat {DUMP_PATH}.rc {DUMP_PATH}.log")],
    )
    .await?;
    let mut lines = dumped.lines();
    if lines.next().map(str::trim) != Some("0") {
        return Err(Error::Other(format!(
            "pg_dump failed in the container: {}",
            lines.collect::<Vec<_>>().join(" ")
        )));
    }
    let manifest = parse_manifest(&out)?;
    let took = started.elapsed();
    let dump = container
        .copy_file_from(DUMP_PATH, Vec::<u8>::new())
        .await?;
    Ok(Backup {
        dump,
        manifest,
        took,
        options: checked,
    })
}

/// A restore and what it gave back.
#[derive(Debug, Clone)]
pub struct RestoreReport {
    /// What was restored (`postgres`).
    pub name: String,
    /// The manifest of the backup.
    pub expected: Manifest,
    /// The manifest of the restored database.
    pub restored: Manifest,
    /// Size of the dump.
    pub dump_bytes: u64,
    /// Starting the fresh container (zero when restored into a running one).
    pub provision: Duration,
    /// `pg_restore` itself.
    pub restore: Duration,
    /// The team's `pg_dump` options the backup was taken with.
    pub options: Vec<String>,
    recorder: Option<Recorder>,
}

impl RestoreReport {
    /// Provision and restore: the restore time judged by [`assert_restore_within`].
    pub fn total(&self) -> Duration {
        self.provision + self.restore
    }
    /// Where the evidence of the assertions on this restore goes.
    #[must_use]
    pub fn with_recorder(mut self, recorder: Recorder) -> Self {
        self.recorder = Some(recorder);
        self
    }

    fn check(&self, id: &str, title: String) -> Check {
        let mut check = Check::new(id, title, Category::RECOVERY)
            .with_subject(format!("{}/{id}", self.name))
            .with_combine(Combine::VerdictOnly)
            .with_scenario(format!(
                "pg_dump -Fc{} of {} ({} rows, {}), pg_restore into {}",
                self.options
                    .iter()
                    .map(|o| format!(" {o}"))
                    .collect::<String>(),
                self.name,
                self.expected.rows(),
                Quantity::bytes(self.dump_bytes),
                if self.provision.is_zero() {
                    "a running container"
                } else {
                    "a fresh container"
                }
            ));
        if let Some(r) = &self.recorder {
            check = check.with_recorder(r.clone());
        }
        check
    }
}

/// Restores `backup` into `container` (database `postgres`), timed.
pub async fn restore_into<I: Image>(
    container: &ContainerAsync<I>,
    backup: &Backup,
) -> Result<RestoreReport> {
    let started = Instant::now();
    exec(
        container,
        &[
            "pg_restore",
            "-U",
            "postgres",
            "-d",
            "postgres",
            "--no-owner",
            "--exit-on-error",
            DUMP_PATH,
        ],
    )
    .await?;
    let restore = started.elapsed();
    Ok(RestoreReport {
        name: "postgres".into(),
        expected: backup.manifest.clone(),
        restored: manifest(container).await?,
        dump_bytes: backup.dump.len() as u64,
        provision: Duration::ZERO,
        restore,
        options: backup.options.clone(),
        recorder: None,
    })
}

/// Starts a fresh PostgreSQL from the catalogue with the dump copied in, restores it,
/// and returns the container with the report (provision and restore timed apart).
pub async fn restore_into_fresh(
    backup: &Backup,
) -> Result<(ContainerAsync<Postgres>, RestoreReport)> {
    let started = Instant::now();
    let request = containers::postgres()?.with_copy_to(DUMP_PATH, backup.dump.clone());
    let fresh = containers::start(request).await?;
    let provision = started.elapsed();
    let mut report = restore_into(&fresh, backup).await?;
    report.provision = provision;
    Ok((fresh, report))
}

/// `dr.restore_integrity`: every table of the backup is restored with its row count and
/// checksum; the failure names each table that differs.
pub fn try_assert_restore_intact(report: &RestoreReport) -> Result<Evidence, Failure> {
    let title = format!("{} restored intact (row counts and checksums)", report.name);
    let check = report
        .check("dr.restore_integrity", title)
        .with_threshold(Threshold::at_most(Count(0)))
        .with_hint("the restore does not hold what the backup held: check the dump and the restore's errors");
    if report.expected.0.is_empty() {
        return Err(check.nothing_measured("the backup holds no table to verify"));
    }
    let diffs = report.expected.differences(&report.restored);
    let summary = if diffs.is_empty() {
        format!(
            "{} tables identical: {}",
            report.expected.0.len(),
            report.restored
        )
    } else {
        let tables = if diffs.len() == 1 {
            "1 table differs".to_owned()
        } else {
            format!("{} tables differ", diffs.len())
        };
        format!("{tables}: {}", diffs.join("; "))
    };
    check.judge(Observation::new(Quantity::count(diffs.len() as u64)).with_summary(summary))
}

/// Panics unless [`try_assert_restore_intact`] passes.
#[track_caller]
pub fn assert_restore_intact(report: &RestoreReport) -> Evidence {
    try_assert_restore_intact(report).or_panic()
}

/// `dr.restore_time`: provisioning the fresh container and restoring take at most
/// `limit`, at the data volume stated in the scenario.
pub fn try_assert_restore_within(
    report: &RestoreReport,
    limit: Duration,
) -> Result<Evidence, Failure> {
    let title = format!(
        "{} restored within {}",
        report.name,
        Quantity::duration(limit)
    );
    let check = report
        .check("dr.restore_time", title)
        .with_threshold(Threshold::at_most(limit));
    if report.expected.rows() == 0 {
        return Err(check.nothing_measured(
            "the backup holds no rows: a restore of nothing says nothing about its time",
        ));
    }
    check.judge(Observation::new(report.total()).with_summary(format!(
        "provision {}, pg_restore {} for {} rows",
        Quantity::duration(report.provision),
        Quantity::duration(report.restore),
        report.expected.rows()
    )))
}

/// Panics unless [`try_assert_restore_within`] passes.
#[track_caller]
pub fn assert_restore_within(report: &RestoreReport, limit: Duration) -> Evidence {
    try_assert_restore_within(report, limit).or_panic()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dump_options_reads_one_option_a_line_and_skips_comments() {
        let options = dump_options(
            "# the nightly job's options\n--lock-wait-timeout=10s\n\n  --exclude-table=audit # not needed\n",
        )
        .unwrap();
        assert_eq!(
            options,
            ["--lock-wait-timeout=10s", "--exclude-table=audit"]
        );
        assert_eq!(dump_options("").unwrap(), Vec::<String>::new());
    }

    #[test]
    fn dump_options_refuses_what_the_drill_sets_and_what_is_not_one_option() {
        for (text, says) in [
            ("--file=/tmp/x", "--file is set by the backup drill"),
            ("-Fp", "-Fp is set by the backup drill"),
            ("--snapshot=1", "--snapshot is set by the backup drill"),
            ("--host=db.example", "--host is set by the backup drill"),
            ("exclude-table=audit", "is not one pg_dump option"),
            (
                "--exclude-table=audit --no-owner",
                "is not one pg_dump option",
            ),
        ] {
            let e = dump_options(text).unwrap_err().to_string();
            assert!(e.contains(says), "{text}: {e}");
            assert!(e.contains("line 1"), "{text}: {e}");
        }
    }
}
