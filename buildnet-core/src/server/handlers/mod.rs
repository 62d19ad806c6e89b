//! The route handlers, one file per area. Each converts the request, calls the facade (off the
//! async workers when it may touch the disk) and shapes the answer.

pub(crate) mod builds;
pub(crate) mod locks;
pub(crate) mod logs;
pub(crate) mod state;
pub(crate) mod status;

/// Most builds or artifacts one page holds.
pub(crate) const MAX_PAGE: u64 = 1_000;
