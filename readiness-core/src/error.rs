//! The one error type of the crate: why a check could not run (setup), as opposed to a
//! criterion that was measured and missed (a [`crate::Failure`] with verdict `fail`).

use std::path::PathBuf;

/// `Result` with the crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why something the harness was asked to do could not be done.
///
/// Messages are lowercase fragments that say what was wrong and what to do.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A threshold, percentile, rate or other input was invalid.
    #[error("invalid input: {0}")]
    InvalidInput(String),

    /// The Docker engine could not be reached.
    #[error(
        "cannot reach the Docker engine at {endpoint} (DOCKER_HOST={docker_host}): {reason}; \
         start the Docker daemon or point DOCKER_HOST at a running one"
    )]
    DockerUnavailable {
        /// Where the harness looked for the engine.
        endpoint: String,
        /// The value of `DOCKER_HOST`, or `unset`.
        docker_host: String,
        /// What the client said.
        reason: String,
    },

    /// An image is neither present locally nor pullable.
    #[error(
        "image {image} (from {source_of}) is not present locally and could not be pulled: {reason}; \
         build the local images with `images/build.sh` and export the READINESS_IMAGE_* lines it \
         prints, or set {variable} to an image that exists"
    )]
    ImageMissing {
        /// `name:tag` of the image.
        image: String,
        /// Where the name came from: the variable, or "the default".
        source_of: String,
        /// The variable that replaces the image.
        variable: String,
        /// What the engine said.
        reason: String,
    },

    /// A container failed to start or become ready.
    #[error("failed to start {image}: {reason}")]
    ContainerStart {
        /// `name:tag` of the image.
        image: String,
        /// What testcontainers said.
        reason: String,
    },

    /// A target outside loopback was given without the explicit opt-in.
    #[error(
        "refusing target {target}: it is not on loopback (127.0.0.0/8, ::1, localhost); \
         load and faults go only to loopback unless the test opts in with {opt_in}"
    )]
    NonLoopbackTarget {
        /// The refused target.
        target: String,
        /// The call that opts in, for the API that refused (`http::get(url).allow_non_loopback()`).
        opt_in: String,
    },

    /// The check ran but there was nothing to judge: zero samples, no iteration that
    /// succeeded, no probe answer, or only a bound that cannot decide the threshold.
    #[error("nothing to judge: {0}")]
    NothingMeasured(String),

    /// A target refused or dropped the connection.
    #[error("target {target} refused: {reason}")]
    TargetRefused {
        /// The target.
        target: String,
        /// What happened.
        reason: String,
    },

    /// A configuration file could not be read or parsed.
    #[error("bad configuration in {path}: {reason}")]
    Config {
        /// The file.
        path: PathBuf,
        /// What was wrong, with line and column where known.
        reason: String,
    },

    /// The evidence file could not be written.
    #[error("failed to write evidence to {path}: {source}")]
    Evidence {
        /// The evidence file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },

    /// An I/O error.
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),

    /// Anything else.
    #[error("{0}")]
    Other(String),
}

#[cfg(feature = "containers")]
impl From<testcontainers::TestcontainersError> for Error {
    fn from(e: testcontainers::TestcontainersError) -> Self {
        Error::Other(format!("testcontainers: {e}"))
    }
}
