//! The one error type of the engine.
//!
//! Every failure carries a stable, numbered [`ErrorCode`]; the faces (CLI exit codes, the C ABI's
//! negative return values, Node's `err.code`, Python's exception classes) map from the code alone,
//! never from the message. Messages say what was wrong and with which input.

use std::fmt;

/// Stable error codes. The numbers never change meaning; new codes are only added.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, schemars::JsonSchema)]
#[repr(i32)]
pub enum ErrorCode {
    /// An argument was malformed (empty key, bad TTL, invalid UTF-8, ...).
    #[serde(rename = "BUILDNET_INVALID_ARGUMENT")]
    InvalidArgument = 1,
    /// The thing asked for does not exist.
    #[serde(rename = "BUILDNET_NOT_FOUND")]
    NotFound = 2,
    /// The configuration file or an environment override is invalid.
    #[serde(rename = "BUILDNET_CONFIG")]
    Config = 3,
    /// The target graph has a cycle.
    #[serde(rename = "BUILDNET_CYCLE")]
    Cycle = 4,
    /// The resource is held by someone else.
    #[serde(rename = "BUILDNET_BUSY")]
    Busy = 5,
    /// A filesystem or socket operation failed.
    #[serde(rename = "BUILDNET_IO")]
    Io = 6,
    /// The operation was cancelled.
    #[serde(rename = "BUILDNET_CANCELLED")]
    Cancelled = 7,
    /// The operation did not finish in time.
    #[serde(rename = "BUILDNET_TIMEOUT")]
    Timeout = 8,
    /// A token was required and missing or wrong.
    #[serde(rename = "BUILDNET_UNAUTHORIZED")]
    Unauthorized = 9,
    /// The state database failed.
    #[serde(rename = "BUILDNET_DATABASE")]
    Database = 10,
    /// The handle was used after it was stopped or destroyed, or in a forked child.
    #[serde(rename = "BUILDNET_INVALID_STATE")]
    InvalidState = 11,
    /// A bug: an invariant did not hold.
    #[serde(rename = "BUILDNET_INTERNAL")]
    Internal = 12,
}

impl ErrorCode {
    /// Every code, in number order.
    pub const ALL: [ErrorCode; 12] = [
        ErrorCode::InvalidArgument,
        ErrorCode::NotFound,
        ErrorCode::Config,
        ErrorCode::Cycle,
        ErrorCode::Busy,
        ErrorCode::Io,
        ErrorCode::Cancelled,
        ErrorCode::Timeout,
        ErrorCode::Unauthorized,
        ErrorCode::Database,
        ErrorCode::InvalidState,
        ErrorCode::Internal,
    ];

    /// The stable number (the C ABI returns its negation).
    pub fn number(self) -> i32 {
        self as i32
    }

    /// The stable string form used by the Node binding and JSON errors, e.g. `BUILDNET_NOT_FOUND`.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidArgument => "BUILDNET_INVALID_ARGUMENT",
            ErrorCode::NotFound => "BUILDNET_NOT_FOUND",
            ErrorCode::Config => "BUILDNET_CONFIG",
            ErrorCode::Cycle => "BUILDNET_CYCLE",
            ErrorCode::Busy => "BUILDNET_BUSY",
            ErrorCode::Io => "BUILDNET_IO",
            ErrorCode::Cancelled => "BUILDNET_CANCELLED",
            ErrorCode::Timeout => "BUILDNET_TIMEOUT",
            ErrorCode::Unauthorized => "BUILDNET_UNAUTHORIZED",
            ErrorCode::Database => "BUILDNET_DATABASE",
            ErrorCode::InvalidState => "BUILDNET_INVALID_STATE",
            ErrorCode::Internal => "BUILDNET_INTERNAL",
        }
    }
}

/// An engine error: a code and a message that names the input at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Error {
    code: ErrorCode,
    message: String,
}

/// Result with the engine's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Error {
            code,
            message: message.into(),
        }
    }

    pub fn code(&self) -> ErrorCode {
        self.code
    }

    pub fn message(&self) -> &str {
        &self.message
    }

    pub fn invalid_argument(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidArgument, message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::NotFound, message)
    }

    pub fn config(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Config, message)
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Internal, message)
    }

    pub fn invalid_state(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidState, message)
    }

    /// An I/O error with the path or operation it concerns.
    pub fn io(context: impl fmt::Display, err: std::io::Error) -> Self {
        let code = if err.kind() == std::io::ErrorKind::NotFound {
            ErrorCode::NotFound
        } else {
            ErrorCode::Io
        };
        Self::new(code, format!("{context}: {err}"))
    }
}

impl From<rusqlite::Error> for Error {
    fn from(err: rusqlite::Error) -> Self {
        Error::new(ErrorCode::Database, format!("state database: {err}"))
    }
}
