//! The clock expiry is measured on: boot-relative, so a step of the wall clock (NTP, a user, a
//! VM resumed) neither frees every lease at once nor keeps one alive an hour too long.
//!
//! A TTL'd row keeps three things: `expires_at`, the wall-clock time it was meant to expire
//! (for people and for the API); `deadline`, the same moment on `CLOCK_BOOTTIME` (which counts
//! suspend and never jumps); and `boot`, the kernel's boot id when it was written. A row is
//! live while it is of this boot and its deadline is ahead. A row of another boot is expired:
//! a reboot ends every lease. Rows written before deadlines existed (`boot` NULL) fall back to
//! the wall clock.

/// One reading of both clocks.
#[derive(Debug, Clone, Copy)]
pub(super) struct Now {
    /// Milliseconds since the Unix epoch.
    pub wall: i64,
    /// Milliseconds of `CLOCK_BOOTTIME`.
    pub boot_ms: i64,
    /// This boot's id.
    pub boot: &'static str,
}

fn boot_ms() -> i64 {
    // SAFETY: an all-zero timespec is a valid value for clock_gettime to fill in.
    let mut ts: libc::timespec = unsafe { std::mem::zeroed() };
    // SAFETY: clock_gettime of a clock Linux always has, into a local.
    unsafe { libc::clock_gettime(libc::CLOCK_BOOTTIME, &mut ts) };
    ts.tv_sec as i64 * 1000 + ts.tv_nsec as i64 / 1_000_000
}

pub(super) fn now() -> Now {
    Now {
        wall: super::now_ms(),
        boot_ms: boot_ms(),
        boot: crate::runtime::boot_id(),
    }
}

impl Now {
    /// `expires_at` and `deadline` for a TTL of `ttl_ms` from now.
    pub fn after(&self, ttl_ms: u64) -> (i64, i64) {
        let ttl = i64::try_from(ttl_ms).unwrap_or(i64::MAX);
        (
            self.wall.saturating_add(ttl),
            self.boot_ms.saturating_add(ttl),
        )
    }

    /// Milliseconds a row with these columns has left; `None` if it never expires, `Some(0)`
    /// or less once it has.
    pub fn left(
        &self,
        expires_at: Option<i64>,
        boot: Option<&str>,
        deadline: Option<i64>,
    ) -> Option<i64> {
        let at = expires_at?;
        Some(match (boot, deadline) {
            (Some(b), Some(d)) if b == self.boot => d - self.boot_ms,
            (Some(_), _) => 0,
            (None, _) => at - self.wall,
        })
    }

    /// Whether a row with these columns is still live.
    pub fn live(&self, expires_at: Option<i64>, boot: Option<&str>, deadline: Option<i64>) -> bool {
        self.left(expires_at, boot, deadline)
            .is_none_or(|left| left > 0)
    }
}

/// The SQL test that a row is live, over its `expires_at`, `boot` and `deadline` columns, with
/// the boot id, boot clock and wall clock bound to the numbered parameters given.
macro_rules! live_sql {
    ($boot:literal, $boot_ms:literal, $wall:literal) => {
        concat!(
            "(expires_at IS NULL OR (boot = ?",
            $boot,
            " AND deadline > ?",
            $boot_ms,
            ") OR (boot IS NULL AND expires_at > ?",
            $wall,
            "))"
        )
    };
}
pub(super) use live_sql;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadlines_follow_the_boot_clock_and_a_reboot_ends_them() {
        let now = now();
        assert!(!now.boot.is_empty());
        let (at, deadline) = now.after(60_000);
        assert!(now.live(Some(at), Some(now.boot), Some(deadline)));
        // The wall clock two hours on does not matter; the boot clock does.
        let later = Now {
            wall: now.wall + 7_200_000,
            ..now
        };
        assert!(later.live(Some(at), Some(now.boot), Some(deadline)));
        let passed = Now {
            boot_ms: now.boot_ms + 60_001,
            ..now
        };
        assert!(!passed.live(Some(at), Some(now.boot), Some(deadline)));
        assert!(!now.live(Some(at), Some("another-boot"), Some(deadline)));
        assert!(now.live(None, None, None));
        assert!(
            now.live(Some(now.wall + 1000), None, None),
            "rows from before deadlines"
        );
        assert!(!now.live(Some(now.wall - 1), None, None));
    }
}
