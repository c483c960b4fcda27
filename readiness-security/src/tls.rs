//! TLS on a front of the service, as OpenSSL's own client sees it (`openssl s_client`,
//! OpenSSL 3, run with its built-in defaults: `OPENSSL_CONF=/dev/null`): which protocol
//! versions the front accepts (`sec.tls_protocol`) and how long its certificate has left
//! (`sec.tls_certificate`).
//!
//! Each version is offered on its own handshake (`-tls1`, `-tls1_1`, `-tls1_2`, `-tls1_3`;
//! the old ones with every cipher the client has, `DEFAULT:@SECLEVEL=0`, so a front that
//! would speak them is not spared by the client's own policy). A handshake that completes is
//! *accepted*; one the front ends (an alert, a record of another version, a closed
//! connection) is *refused*; one that never reached the front (no connection, no answer
//! within the timeout, a version this `openssl` cannot offer) is neither: the check is
//! verdict `error`, never a pass. The certificate is the leaf of the newest handshake the
//! front accepts, read with `openssl x509`. The chain is not verified here (a test's own
//! certificate is self-signed); what is judged is its validity window.

use std::time::Duration;

use readiness_core::guard::{self, Reach};
use readiness_core::{CheckResultExt, Error, Evidence, Failure, Recorder, SecurityItem};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tokio::io::AsyncWriteExt;
use tokio::process::Command;

use super::{Measured, Probed, check, no_answer};

/// A TLS protocol version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TlsVersion {
    /// TLS 1.0 (RFC 2246; deprecated by RFC 8996).
    Tls1_0,
    /// TLS 1.1 (RFC 4346; deprecated by RFC 8996).
    Tls1_1,
    /// TLS 1.2 (RFC 5246).
    Tls1_2,
    /// TLS 1.3 (RFC 8446).
    Tls1_3,
}

impl TlsVersion {
    /// Every version, oldest first.
    pub const ALL: [TlsVersion; 4] = [
        TlsVersion::Tls1_0,
        TlsVersion::Tls1_1,
        TlsVersion::Tls1_2,
        TlsVersion::Tls1_3,
    ];
    /// The `s_client` flag that offers only this version.
    fn flag(self) -> &'static str {
        match self {
            TlsVersion::Tls1_0 => "-tls1",
            TlsVersion::Tls1_1 => "-tls1_1",
            TlsVersion::Tls1_2 => "-tls1_2",
            TlsVersion::Tls1_3 => "-tls1_3",
        }
    }
}

impl std::fmt::Display for TlsVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            TlsVersion::Tls1_0 => "TLS 1.0",
            TlsVersion::Tls1_1 => "TLS 1.1",
            TlsVersion::Tls1_2 => "TLS 1.2",
            TlsVersion::Tls1_3 => "TLS 1.3",
        })
    }
}

/// A TLS endpoint to probe and what it must show.
#[derive(Debug, Clone)]
#[must_use]
pub struct Tls {
    addr: String,
    server_name: Option<String>,
    min_version: TlsVersion,
    min_validity: Duration,
    timeout: Duration,
    reach: Reach,
    openssl: String,
    recorder: Option<Recorder>,
}

impl Tls {
    /// The TLS endpoint at `addr` (`127.0.0.1:8443`; loopback unless
    /// [`Tls::allow_non_loopback`]): at least TLS 1.2, a certificate valid for at least 30
    /// more days, 10 s a handshake.
    pub fn new(addr: impl Into<String>) -> Self {
        Tls {
            addr: addr.into(),
            server_name: None,
            min_version: TlsVersion::Tls1_2,
            min_validity: Duration::from_secs(30 * 86_400),
            timeout: Duration::from_secs(10),
            reach: Reach::Loopback,
            openssl: "openssl".into(),
            recorder: None,
        }
    }
    /// The name asked for in the handshake (SNI), as a client of the front would.
    pub fn with_server_name(mut self, name: impl Into<String>) -> Self {
        self.server_name = Some(name.into());
        self
    }
    /// The oldest version the front may accept (default TLS 1.2).
    pub fn with_min_version(mut self, version: TlsVersion) -> Self {
        self.min_version = version;
        self
    }
    /// How long the certificate must still be valid (default 30 days).
    pub fn with_min_validity(mut self, validity: Duration) -> Self {
        self.min_validity = validity;
        self
    }
    /// How long one handshake may take before it counts as unanswered (default 10 s).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }
    /// The `openssl` program to run (default `openssl` on the `PATH`).
    pub fn with_openssl(mut self, program: impl Into<String>) -> Self {
        self.openssl = program.into();
        self
    }
    /// Where the evidence goes.
    pub fn with_recorder(mut self, recorder: Recorder) -> Self {
        self.recorder = Some(recorder);
        self
    }
    /// Lets the probes aim outside loopback.
    pub fn allow_non_loopback(mut self) -> Self {
        self.reach = Reach::Anywhere;
        self
    }

    fn subject(&self) -> String {
        match &self.server_name {
            Some(name) => format!("{} ({name})", self.addr),
            None => self.addr.clone(),
        }
    }
}

/// How one handshake ended.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Handshake {
    /// Completed: the cipher, and the leaf certificate (PEM) if one was sent.
    Accepted {
        cipher: String,
        leaf: Option<String>,
    },
    /// The front ended it (its reason, as `openssl` words it).
    Refused(String),
    /// It never reached the front, or this `openssl` could not offer the version.
    Unreached(String),
}

/// The reason in an `openssl` error line (`…:SSL routines:ssl3_read_bytes:tlsv1 alert
/// protocol version:…` → `tlsv1 alert protocol version`), else the first line.
fn reason(stderr: &str) -> String {
    let line = stderr
        .lines()
        .find(|l| l.contains(":error:"))
        .or_else(|| stderr.lines().find(|l| !l.trim().is_empty()))
        .unwrap_or("no output")
        .trim();
    // `<thread>:error:<code>:<library>:<function>:<reason>:<file>:<line>:<data>`
    let parts: Vec<&str> = line.split(':').collect();
    match parts.iter().position(|p| *p == "error") {
        Some(i) if parts.len() > i + 4 => parts[i + 4].to_owned(),
        _ => line.to_owned(),
    }
}

/// Classifies what `s_client` said: its exit status, stdout and stderr.
fn classify(success: bool, stdout: &str, stderr: &str) -> Handshake {
    let why = reason(stderr);
    if success {
        let cipher = stdout
            .lines()
            .find_map(|l| l.trim().strip_prefix("Cipher    :"))
            .or_else(|| {
                stdout
                    .lines()
                    .find_map(|l| l.split_once(", Cipher is ").map(|(_, c)| c))
            })
            .unwrap_or("unknown")
            .trim()
            .to_owned();
        let leaf = stdout
            .find("-----BEGIN CERTIFICATE-----")
            .and_then(|start| {
                let end = stdout[start..].find("-----END CERTIFICATE-----")?;
                Some(stdout[start..start + end + "-----END CERTIFICATE-----".len()].to_owned())
            })
            .map(|pem| format!("{pem}\n"));
        return Handshake::Accepted { cipher, leaf };
    }
    let never_reached = [
        "BIO_connect",
        "connect:errno",
        "no protocols available",
        "no ciphers available",
        "gethostbyname",
        "BIO_lookup",
    ];
    if never_reached.iter().any(|m| stderr.contains(m)) {
        Handshake::Unreached(why)
    } else {
        Handshake::Refused(why)
    }
}

/// Runs `openssl` with `args` (and `stdin`), bounded by `timeout`: (success, stdout, stderr).
async fn openssl(
    tls: &Tls,
    args: &[&str],
    stdin: &str,
) -> std::result::Result<(bool, String, String), String> {
    let mut child = Command::new(&tls.openssl)
        .args(args)
        .env("OPENSSL_CONF", "/dev/null")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| {
            format!(
                "cannot run {:?}: {e}; install OpenSSL 3 (Debian: apt-get install openssl) or \
                 name it with Tls::with_openssl",
                tls.openssl
            )
        })?;
    if let Some(mut input) = child.stdin.take() {
        // s_client ends at the end of its input; a closed pipe (it exited) is fine.
        let _ = input.write_all(stdin.as_bytes()).await;
    }
    match tokio::time::timeout(tls.timeout, child.wait_with_output()).await {
        Ok(Ok(out)) => Ok((
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )),
        Ok(Err(e)) => Err(format!("{:?} failed: {e}", tls.openssl)),
        Err(_) => Err(format!("no answer within {:?}", tls.timeout)),
    }
}

/// One handshake offering only `version`.
async fn handshake(tls: &Tls, version: TlsVersion) -> Handshake {
    let mut args = vec!["s_client", "-connect", tls.addr.as_str(), version.flag()];
    if let Some(name) = &tls.server_name {
        args.extend(["-servername", name.as_str()]);
    }
    if version < TlsVersion::Tls1_2 {
        args.extend(["-cipher", "DEFAULT:@SECLEVEL=0"]);
    }
    match openssl(tls, &args, "").await {
        Ok((success, stdout, stderr)) => classify(success, &stdout, &stderr),
        Err(e) => Handshake::Unreached(e),
    }
}

/// Every version's handshake, oldest first; the target checked first.
async fn handshakes(tls: &Tls) -> Result<Vec<(TlsVersion, Handshake)>, Error> {
    let (_, port) = guard::check_target(&tls.addr, tls.reach, "Tls::allow_non_loopback()")?;
    if port.is_none() {
        return Err(Error::InvalidInput(format!(
            "{:?} has no port; give the TLS endpoint as host:port (127.0.0.1:8443)",
            tls.addr
        )));
    }
    let mut all = Vec::new();
    for version in TlsVersion::ALL {
        all.push((version, handshake(tls, version).await));
    }
    Ok(all)
}

/// `s_client`'s story of a handshake, for the evidence.
fn describe(handshake: &Handshake) -> String {
    match handshake {
        Handshake::Accepted { cipher, .. } => format!("accepted ({cipher})"),
        Handshake::Refused(why) => format!("refused: {why}"),
        Handshake::Unreached(why) => format!("never reached the front: {why}"),
    }
}

/// The check's error when nothing could be judged: no handshake reached the front at
/// all, or none completed.
fn unjudged(check: readiness_core::Check, tls: &Tls, all: &[(TlsVersion, Handshake)]) -> Failure {
    let items: Vec<SecurityItem> = all
        .iter()
        .map(|(v, h)| {
            SecurityItem::new(
                tls.subject(),
                format!("a {v} handshake"),
                "an answer",
                describe(h),
                false,
            )
        })
        .collect();
    no_answer(check, tls.subject(), &items)
}

async fn drive_protocol(tls: &Tls) -> std::result::Result<Measured, Failure> {
    let check = check(
        "sec.tls_protocol",
        format!("{} accepts only {} or later", tls.subject(), tls.min_version),
        tls.recorder.as_ref(),
    )
    .with_subject(format!("{}/sec.tls_protocol", tls.addr))
    .with_scenario(format!(
        "one handshake per version, TLS 1.0 to 1.3, with openssl s_client to {}",
        tls.subject()
    ))
    .with_hint("set the front's minimum protocol to TLS 1.2 (stunnel: sslVersionMin = TLSv1.2; nginx: ssl_protocols TLSv1.2 TLSv1.3)");
    let all = match handshakes(tls).await {
        Ok(all) => all,
        Err(e) => return Err(check.error(e)),
    };
    let accepted_new = all
        .iter()
        .any(|(v, h)| *v >= tls.min_version && matches!(h, Handshake::Accepted { .. }));
    let old_unreached = all
        .iter()
        .any(|(v, h)| *v < tls.min_version && matches!(h, Handshake::Unreached(_)));
    if !accepted_new || old_unreached {
        // Without a handshake at an allowed version the endpoint may not be TLS at all;
        // an old version that never reached the front was neither refused nor accepted.
        return Err(unjudged(check, tls, &all));
    }
    let items: Vec<SecurityItem> = all
        .iter()
        .map(|(v, h)| {
            let allowed = *v >= tls.min_version;
            let ok = allowed || matches!(h, Handshake::Refused(_));
            SecurityItem::new(
                tls.subject(),
                format!("a {v} handshake"),
                if allowed { "any answer" } else { "refused" },
                describe(h),
                ok,
            )
        })
        .collect();
    let newest = all
        .iter()
        .rev()
        .find(|(_, h)| matches!(h, Handshake::Accepted { .. }))
        .map_or(String::new(), |(v, _)| v.to_string());
    Ok(Measured::new(
        check,
        items,
        format!(
            "every version before {} refused; {newest} accepted",
            tls.min_version
        ),
    ))
}

/// The leaf certificate's validity window and names, read with `openssl x509`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Certificate {
    subject: String,
    issuer: String,
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
}

/// Parses `openssl x509 -noout -subject -issuer -startdate -enddate -dateopt iso_8601
/// -nameopt RFC2253`.
fn parse_certificate(text: &str) -> std::result::Result<Certificate, String> {
    let field = |key: &str| {
        text.lines()
            .find_map(|l| l.trim().strip_prefix(key))
            .map(str::trim)
            .ok_or_else(|| format!("openssl x509 printed no {key}: {text:?}"))
    };
    let date = |key: &str| -> std::result::Result<OffsetDateTime, String> {
        let value = field(key)?;
        // `2026-12-10 03:32:12Z` → RFC 3339.
        OffsetDateTime::parse(&value.replacen(' ', "T", 1), &Rfc3339)
            .map_err(|e| format!("{key}{value} is not a date: {e}"))
    };
    Ok(Certificate {
        subject: field("subject=")?.to_owned(),
        issuer: field("issuer=")?.to_owned(),
        not_before: date("notBefore=")?,
        not_after: date("notAfter=")?,
    })
}

/// `3d 04h`, as the harness prints durations.
fn span(from: OffsetDateTime, to: OffsetDateTime) -> String {
    let seconds = (to - from).whole_seconds().unsigned_abs();
    readiness_core::Quantity::duration(Duration::from_secs(seconds)).to_string()
}

/// Whether `cert` is valid at `now` and for at least `min` after it, and the words for it.
fn certificate_item(
    cert: &Certificate,
    now: OffsetDateTime,
    min: Duration,
) -> (bool, String, String) {
    let until = cert.not_after.date();
    let required_until = now + min;
    let expected = format!(
        "valid now and for at least {} more (until {} or later)",
        readiness_core::Quantity::duration(min),
        required_until.date()
    );
    let (ok, observed) = if cert.not_before > now {
        (
            false,
            format!(
                "not valid yet: valid from {} ({} from now)",
                cert.not_before.date(),
                span(now, cert.not_before)
            ),
        )
    } else if cert.not_after <= now {
        (
            false,
            format!(
                "expired on {until} ({} ago): renew it",
                span(cert.not_after, now)
            ),
        )
    } else {
        (
            cert.not_after >= required_until,
            format!("valid until {until} ({} left)", span(now, cert.not_after)),
        )
    };
    (ok, expected, observed)
}

async fn drive_certificate(tls: &Tls) -> std::result::Result<Measured, Failure> {
    let check = check(
        "sec.tls_certificate",
        format!(
            "the certificate of {} is valid for at least {} more",
            tls.subject(),
            readiness_core::Quantity::duration(tls.min_validity)
        ),
        tls.recorder.as_ref(),
    )
    .with_subject(format!("{}/sec.tls_certificate", tls.addr))
    .with_scenario(format!(
        "the leaf certificate of the newest handshake {} accepts (openssl s_client, then openssl x509)",
        tls.subject()
    ))
    .with_hint("renew the certificate (and check that its renewal job runs)");
    let all = match handshakes(tls).await {
        Ok(all) => all,
        Err(e) => return Err(check.error(e)),
    };
    let Some((version, leaf)) = all.iter().rev().find_map(|(v, h)| match h {
        Handshake::Accepted { leaf, .. } => Some((*v, leaf.clone())),
        _ => None,
    }) else {
        return Err(unjudged(check, tls, &all));
    };
    let Some(pem) = leaf else {
        return Err(check.nothing_measured(format!(
            "the {version} handshake with {} showed no certificate",
            tls.subject()
        )));
    };
    let args = [
        "x509",
        "-noout",
        "-subject",
        "-issuer",
        "-startdate",
        "-enddate",
        "-dateopt",
        "iso_8601",
        "-nameopt",
        "RFC2253",
    ];
    let read = match openssl(tls, &args, &pem).await {
        Ok((true, stdout, _)) => parse_certificate(&stdout),
        Ok((false, _, stderr)) => Err(format!("openssl x509 refused it: {}", reason(&stderr))),
        Err(e) => Err(e),
    };
    let cert = match read {
        Ok(cert) => cert,
        Err(why) => {
            return Err(check.error(Error::Other(format!(
                "the certificate of {} could not be read: {why}",
                tls.subject()
            ))));
        }
    };
    let (ok, expected, observed) =
        certificate_item(&cert, OffsetDateTime::now_utc(), tls.min_validity);
    let item = SecurityItem::new(
        format!("{} (issuer {})", cert.subject, cert.issuer),
        format!("the certificate of a {version} handshake"),
        expected,
        observed.clone(),
        ok,
    );
    Ok(Measured::new(check, vec![item], observed))
}

/// Drives `sec.tls_protocol` and returns what it measured, to be judged by
/// [`assert_tls_protocol`] (or [`Probed::judge`]); [`try_assert_tls_protocol`] does both.
pub async fn probe_tls_protocol(tls: &Tls) -> Probed {
    Probed::from(drive_protocol(tls).await)
}

/// `sec.tls_protocol`: every version before the minimum ([`Tls::with_min_version`],
/// default TLS 1.2) is refused by the front, and one at or after it is accepted. A front
/// that accepts no allowed version, or a probe of an old version that never reached it, is
/// verdict `error`.
pub async fn try_assert_tls_protocol(tls: &Tls) -> std::result::Result<Evidence, Failure> {
    probe_tls_protocol(tls).await.judge()
}

/// Judges what [`probe_tls_protocol`] measured, panicking with the failure at the caller's
/// line.
#[track_caller]
pub fn assert_tls_protocol(probed: Probed) -> Evidence {
    probed.judge().or_panic()
}

/// Drives `sec.tls_certificate` and returns what it measured, to be judged by
/// [`assert_tls_certificate`] (or [`Probed::judge`]); [`try_assert_tls_certificate`]
/// does both.
pub async fn probe_tls_certificate(tls: &Tls) -> Probed {
    Probed::from(drive_certificate(tls).await)
}

/// `sec.tls_certificate`: the leaf certificate of the newest version the front accepts is
/// valid now and for at least [`Tls::with_min_validity`] more (default 30 days). No
/// handshake completed, or no certificate shown, is verdict `error`.
pub async fn try_assert_tls_certificate(tls: &Tls) -> std::result::Result<Evidence, Failure> {
    probe_tls_certificate(tls).await.judge()
}

/// Judges what [`probe_tls_certificate`] measured, panicking with the failure at the
/// caller's line.
#[track_caller]
pub fn assert_tls_certificate(probed: Probed) -> Evidence {
    probed.judge().or_panic()
}

/// A self-signed certificate for `common_name` (also its DNS name) valid from now for
/// `days` days, and its RSA key, as one PEM (certificate first: what stunnel, HAProxy and
/// `openssl s_server -cert` read), made with `openssl req`. For a test's own front; the key
/// is written only to a temporary directory, removed before this returns.
pub async fn self_signed_pem(common_name: &str, days: u32) -> Result<String, Error> {
    let dir = std::env::temp_dir().join(format!(
        "readiness-tls-{}-{}",
        std::process::id(),
        OffsetDateTime::now_utc().unix_timestamp_nanos()
    ));
    std::fs::create_dir_all(&dir)
        .map_err(|e| Error::Other(format!("cannot make {}: {e}", dir.display())))?;
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let made = Command::new("openssl")
        .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj"])
        .arg(format!("/CN={common_name}"))
        .arg("-addext")
        .arg(format!("subjectAltName=DNS:{common_name}"))
        .arg("-days")
        .arg(days.to_string())
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .env("OPENSSL_CONF", "/dev/null")
        .output()
        .await;
    let pem = match made {
        Ok(out) if out.status.success() => std::fs::read_to_string(&cert)
            .and_then(|c| Ok(c + &std::fs::read_to_string(&key)?))
            .map_err(|e| Error::Other(format!("openssl req wrote no certificate: {e}"))),
        Ok(out) => Err(Error::Other(format!(
            "openssl req made no certificate: {}",
            reason(&String::from_utf8_lossy(&out.stderr))
        ))),
        Err(e) => Err(Error::Other(format!(
            "cannot run openssl: {e}; install OpenSSL 3 (Debian: apt-get install openssl)"
        ))),
    };
    let _ = std::fs::remove_dir_all(&dir);
    pem
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn openssl_s_client_outcomes_are_told_apart() {
        let refused = "40477C1FFA7F0000:error:0A000438:SSL routines:ssl3_read_bytes:tlsv1 alert \
                       internal error:../ssl/record/rec_layer_s3.c:1601:SSL alert number 80\n";
        assert_eq!(
            classify(false, "", refused),
            Handshake::Refused("tlsv1 alert internal error".into())
        );
        let plain = "40E7CB3EF87F0000:error:0A00010B:SSL routines:ssl3_get_record:wrong version \
                     number:../ssl/record/ssl3_record.c:350:\n";
        assert_eq!(
            classify(false, "", plain),
            Handshake::Refused("wrong version number".into())
        );
        let closed = "40E748B2317F0000:error:8000006F:system library:BIO_connect:Connection \
                      refused:../crypto/bio/bio_sock2.c:117:calling connect()\nconnect:errno=111\n";
        assert_eq!(
            classify(false, "", closed),
            Handshake::Unreached("Connection refused".into())
        );
        let out = "CONNECTED(00000003)\nServer certificate\n-----BEGIN CERTIFICATE-----\nMIIB\n\
                   -----END CERTIFICATE-----\nsubject=CN = orders.local\n\
                   New, TLSv1.0, Cipher is ECDHE-RSA-AES256-SHA\n";
        assert_eq!(
            classify(true, out, ""),
            Handshake::Accepted {
                cipher: "ECDHE-RSA-AES256-SHA".into(),
                leaf: Some("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n".into())
            }
        );
    }

    #[test]
    fn a_certificate_is_judged_on_its_window_from_now() {
        let text = "subject=CN=orders.local\nissuer=CN=orders.local\n\
                    notBefore=2026-12-05 03:32:12Z\nnotAfter=2026-12-10 03:32:12Z\n";
        let cert = parse_certificate(text).unwrap();
        assert_eq!(cert.subject, "CN=orders.local");
        let day = Duration::from_secs(86_400);
        let at = |s: &str| OffsetDateTime::parse(s, &Rfc3339).unwrap();
        let now = at("2026-12-06T03:32:12Z");
        let (ok, expected, observed) = certificate_item(&cert, now, 30 * day);
        assert!(!ok);
        assert_eq!(
            expected,
            "valid now and for at least 30d more (until 2027-01-05 or later)"
        );
        assert_eq!(observed, "valid until 2026-12-10 (4d left)");
        assert!(certificate_item(&cert, now, 3 * day).0);
        let (ok, _, observed) = certificate_item(&cert, at("2026-12-12T03:32:12Z"), day);
        assert!(!ok);
        assert_eq!(observed, "expired on 2026-12-10 (2d ago): renew it");
        let (ok, _, observed) = certificate_item(&cert, at("2026-12-01T03:32:12Z"), day);
        assert!(!ok && observed.starts_with("not valid yet"), "{observed}");
        assert!(parse_certificate("subject=CN=x\n").is_err());
    }
}
