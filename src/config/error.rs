//! Errors on user input, each naming the input it is about (a profile and where in it, a flag, a
//! file, a URL) and saying what to try. They are printed as one line (several reasons: one line
//! each) and the run exits 2 before any user starts.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum InputError {
    /// A profile that does not parse: its source with the line and column, and what is wrong.
    #[error("bad profile {at}: {message}")]
    ProfileSyntax { at: String, message: String },
    /// A value a profile gives: where the profile came from (a path, or `built-in:NAME`), and
    /// what is wrong.
    #[error("{origin}: {message}")]
    Profile { origin: String, message: String },
    /// A command-line flag (or the environment variable standing for it) and what is wrong.
    #[error("{flag}: {message}")]
    Flag { flag: &'static str, message: String },
    /// Flags and profile together ask for something that cannot be, or give a value (from one or
    /// the other) that cannot be.
    #[error("{0}")]
    Invalid(String),
    /// A file that cannot be read; the cause follows in the chain.
    #[error("cannot read {what} {}", path.display())]
    Unreadable {
        what: &'static str,
        path: PathBuf,
        #[source]
        error: std::io::Error,
    },
    /// A credentials file's content: the file, the line where known, and what is wrong (never a
    /// password).
    #[error("credentials {}{}: {message}", path.display(), line.map(|l| format!(":{l}")).unwrap_or_default())]
    Credentials { path: PathBuf, line: Option<u64>, message: String },
    /// A deployment's URL.
    #[error("{flag} `{url}` {message}")]
    Url { flag: &'static str, url: String, message: String },
    /// No persona of the profile can run against this deployment: every reason, one line each.
    #[error("every persona would be skipped, so the run would check nothing:\n{}", lines(.0))]
    NothingRuns(Vec<String>),
}

fn lines(reasons: &[String]) -> String {
    reasons.iter().map(|r| format!("  {r}")).collect::<Vec<_>>().join("\n")
}

impl InputError {
    /// A profile's `message` at `source`.
    pub fn profile(origin: &str, message: impl Into<String>) -> InputError {
        InputError::Profile { origin: origin.to_owned(), message: message.into() }
    }
}
