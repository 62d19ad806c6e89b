//! The route handlers, one file per area. Each converts the request, calls the facade (off the
//! async workers when it may touch the disk) and shapes the answer.

pub(crate) mod builds;
pub(crate) mod locks;
pub(crate) mod logs;
pub(crate) mod state;
pub(crate) mod status;

/// Most builds or artifacts one page holds.
pub(crate) const MAX_PAGE: u64 = 1_000;

/// A numeric query field: `default` when absent, else within `min..=max`, or an
/// `invalid_argument` (400) naming the field.
pub(crate) fn bounded(
    field: &str,
    value: Option<u64>,
    default: u64,
    min: u64,
    max: u64,
) -> Result<u64, crate::server::response::ApiError> {
    match value {
        None => Ok(default),
        Some(n) if (min..=max).contains(&n) => Ok(n),
        Some(n) => Err(crate::error::Error::invalid_argument(format!(
            "field `{field}`: must be between {min} and {max}, got {n}"
        ))
        .into()),
    }
}
