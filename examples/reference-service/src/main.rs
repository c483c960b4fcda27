//! The reference service's binary: configuration from the environment, JSON logs on
//! stdout, exit code 1 with a one-line reason when it cannot start.

use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    let _telemetry = match reference_service::telemetry::init() {
        Ok(t) => t,
        Err(e) => {
            eprintln!("reference-service: bad configuration: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = match reference_service::config::Config::from_env() {
        Ok(config) => reference_service::run(config).await,
        Err(e) => Err(e.into()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "reference-service stopped");
            eprintln!("reference-service: {e}");
            ExitCode::FAILURE
        }
    }
}
