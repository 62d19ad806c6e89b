//! The statuses of builds and target runs: one vocabulary for the database, the records, the
//! events, the metrics and every face (their JSON Schema is derived from these types).

use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ToSql, ToSqlOutput, ValueRef};
use serde::{Deserialize, Serialize};

macro_rules! status_enum {
    ($(#[$doc:meta])* $name:ident { $($variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
        #[serde(rename_all = "snake_case")]
        pub enum $name {
            $($variant),+
        }

        impl $name {
            /// Every status, in lifecycle order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The status as stored and sent (`"succeeded"`, ...).
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }

            /// The status named `text`, if it is one.
            pub fn parse(text: &str) -> Option<$name> {
                match text {
                    $($text => Some($name::$variant),)+
                    _ => None,
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl ToSql for $name {
            fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
                Ok(ToSqlOutput::from(self.as_str()))
            }
        }

        impl FromSql for $name {
            fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
                let text = value.as_str()?;
                $name::parse(text).ok_or_else(|| {
                    FromSqlError::Other(format!("unknown {} {text:?}", stringify!($name)).into())
                })
            }
        }
    };
}

status_enum! {
    /// Where a build is: `queued` (waits for the builds before it), `running`, `succeeded`,
    /// `failed` (a target failed; its dependents were skipped), `cancelled`, or `interrupted`
    /// (left queued or running by a process that died).
    BuildStatus {
        Queued = "queued",
        Running = "running",
        Succeeded = "succeeded",
        Failed = "failed",
        Cancelled = "cancelled",
        Interrupted = "interrupted",
    }
}

status_enum! {
    /// Where one target of a build is: `pending` (waits for its dependencies or a slot),
    /// `running`, `succeeded` (its command succeeded, or its outputs came from the cache),
    /// `failed`, `skipped` (a dependency did not succeed, or fail-fast stopped the build first),
    /// `cancelled`, or `interrupted` (left pending or running by a process that died).
    TargetStatus {
        Pending = "pending",
        Running = "running",
        Succeeded = "succeeded",
        Failed = "failed",
        Skipped = "skipped",
        Cancelled = "cancelled",
        Interrupted = "interrupted",
    }
}

impl BuildStatus {
    /// Whether the build is over (no event of it is still to come).
    pub fn is_finished(self) -> bool {
        !matches!(self, BuildStatus::Queued | BuildStatus::Running)
    }
}

impl TargetStatus {
    /// Whether the target is over (no more log lines come).
    pub fn is_finished(self) -> bool {
        !matches!(self, TargetStatus::Pending | TargetStatus::Running)
    }

    /// Whether the target ran to an end of its own (a command's result or a cache hit), as
    /// opposed to never running.
    pub fn is_result(self) -> bool {
        matches!(self, TargetStatus::Succeeded | TargetStatus::Failed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_round_trip_through_their_text() {
        for s in BuildStatus::ALL {
            assert_eq!(BuildStatus::parse(s.as_str()), Some(*s));
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
        }
        for s in TargetStatus::ALL {
            assert_eq!(TargetStatus::parse(s.as_str()), Some(*s));
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
        }
        assert_eq!(BuildStatus::parse("done"), None);
        assert!(BuildStatus::Interrupted.is_finished() && !BuildStatus::Queued.is_finished());
        assert!(TargetStatus::Skipped.is_finished() && !TargetStatus::Running.is_finished());
    }
}
