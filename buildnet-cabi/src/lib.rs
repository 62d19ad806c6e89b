//! BuildNet's C ABI: `libbuildnet.so` / `libbuildnet.a`, declared by `include/buildnet.h`
//! (generated from this file by cbindgen: `scripts/gen-header.sh`).
//!
//! A thin face over [`buildnet_core::Daemon`]: each function converts its arguments, calls the
//! facade and maps the error to a status code ([`errors`]); handles are looked up in a
//! registry ([`handles`]), so a stale handle is an error, never undefined behaviour. The
//! daemon started here is the same one `buildnet serve` runs: HTTP server, watcher (when the
//! configuration asks for it) and orchestrator, in this process.

#![allow(clippy::missing_safety_doc)] // The contracts are in each function's doc (the header).

mod errors;
mod handles;

use std::ffi::{c_char, CString};
use std::path::Path;
use std::time::Duration;

use buildnet_core::{BuildOptions, Daemon, Error, EventStream};

pub use errors::*;
pub use handles::{BuildNetEvents, BuildNetHandle};

/// Creates a daemon over the workspace of the configuration file `config_path` (NUL-terminated
/// UTF-8), or, when `config_path` is NULL, of the `buildnet.yaml` found from the current
/// directory upwards. Opens the state database and artifact store; nothing listens until
/// buildnet_start(). Returns NULL on failure (see buildnet_last_error()). The handle is freed
/// with buildnet_destroy().
#[no_mangle]
pub unsafe extern "C" fn buildnet_create(config_path: *const c_char) -> *mut BuildNetHandle {
    guard_value(std::ptr::null_mut(), || {
        let path = if config_path.is_null() {
            None
        } else {
            // SAFETY: non-NULL, NUL-terminated per the contract above.
            Some(unsafe { str_arg(config_path, "config_path") }?)
        };
        let daemon = Daemon::open_path(path.map(Path::new))?;
        handles::register(daemon)
    })
}

/// Starts the daemon: binds the HTTP server (address from the configuration; see
/// buildnet_status_json() for the one bound), and the watcher if the configuration enables
/// it. Starting a started daemon does nothing. BUILDNET_ERR_BUSY if another daemon serves the
/// workspace.
#[no_mangle]
pub unsafe extern "C" fn buildnet_start(handle: *mut BuildNetHandle) -> i32 {
    guard(|| {
        handles::get(handle)?.daemon.start()?;
        Ok(BUILDNET_OK)
    })
}

/// Stops the HTTP server and watcher gracefully; running builds go on. Stopping a stopped
/// daemon does nothing. The handle stays usable (and can be started again).
#[no_mangle]
pub unsafe extern "C" fn buildnet_stop(handle: *mut BuildNetHandle) -> i32 {
    guard(|| {
        handles::get(handle)?.daemon.stop()?;
        Ok(BUILDNET_OK)
    })
}

/// Cancels running builds, stops the daemon and frees the handle. Every later use of the
/// handle, including a second destroy, fails with BUILDNET_ERR_INVALID_STATE.
#[no_mangle]
pub unsafe extern "C" fn buildnet_destroy(handle: *mut BuildNetHandle) -> i32 {
    guard(|| {
        handles::destroy(handle)?;
        Ok(BUILDNET_OK)
    })
}

/// Requests a build of `targets`, a comma-separated list of target names (spaces around names
/// are ignored; "" builds every target), and their dependencies. Writes the build id
/// (NUL-terminated) into `out_build_id`, a buffer of `out_len` bytes (at least
/// BUILDNET_ID_LEN), and returns at once; see buildnet_wait_build(). BUILDNET_ERR_NOT_FOUND for an unknown target and
/// BUILDNET_ERR_CYCLE for a cycle, before anything runs.
#[no_mangle]
pub unsafe extern "C" fn buildnet_request_build(
    handle: *mut BuildNetHandle,
    targets: *const c_char,
    out_build_id: *mut c_char,
    out_len: usize,
) -> i32 {
    guard(|| {
        // SAFETY: the caller's contract (header): NUL-terminated string, writable buffer.
        let targets = unsafe { str_arg(targets, "targets") }?;
        let names = split_targets(targets)?;
        let client = handles::get(handle)?;
        // Checked before the build starts, so a bad buffer never leaves a build nobody knows.
        check_buffer(out_build_id, out_len, BUILDNET_ID_LEN, "out_build_id")?;
        let id = client
            .daemon
            .request_build(&names, BuildOptions::default())?;
        // SAFETY: as above; ids are shorter than BUILDNET_ID_LEN.
        unsafe { write_str(&id, out_build_id, out_len, "out_build_id") }?;
        Ok(BUILDNET_OK)
    })
}

/// Bytes that always hold a build id or a lock token with its NUL: the size of the buffers
/// buildnet_request_build() and buildnet_acquire_lock() ask for.
pub const BUILDNET_ID_LEN: usize = 33;

fn check_buffer(out: *mut c_char, out_len: usize, needed: usize, name: &str) -> CResult<()> {
    if out.is_null() {
        return Err(invalid(format!("{name} is NULL")));
    }
    if out_len < needed {
        return Err(Failure::TooSmall {
            needed,
            given: out_len,
        });
    }
    Ok(())
}

fn split_targets(list: &str) -> CResult<Vec<String>> {
    if list.trim().is_empty() {
        return Ok(Vec::new());
    }
    list.split(',')
        .map(|name| match name.trim() {
            "" => Err(invalid(format!(
                "targets {list:?} has an empty name (separate names with single commas)"
            ))),
            name => Ok(name.to_owned()),
        })
        .collect()
}

/// The next item of `stream` into `*out_json`: `BUILDNET_OK`, or `BUILDNET_NO` when none came
/// within `timeout_ms`.
///
/// # Safety
/// `out_json` is non-NULL and writable.
unsafe fn next_json(
    stream: &EventStream,
    timeout_ms: i64,
    out_json: *mut *mut c_char,
) -> CResult<i32> {
    match stream.next(timeout_of(timeout_ms))? {
        Some(item) => {
            // SAFETY: the caller's contract.
            unsafe { give_str(item.to_json(), out_json, "out_json") }?;
            Ok(BUILDNET_OK)
        }
        None => Ok(BUILDNET_NO),
    }
}

fn timeout_of(timeout_ms: i64) -> Option<Duration> {
    u64::try_from(timeout_ms).ok().map(Duration::from_millis)
}

/// Waits until build `build_id` finishes, at most `timeout_ms` milliseconds (negative: no
/// limit; BUILDNET_ERR_TIMEOUT after it). If `out_record_json` is not NULL, it receives the
/// build record as JSON (id, status, targets with status, cached, duration, exit code), to be
/// freed with buildnet_string_free(). A failed build is still a successful wait: read the
/// record's "status". Blocks the calling thread.
#[no_mangle]
pub unsafe extern "C" fn buildnet_wait_build(
    handle: *mut BuildNetHandle,
    build_id: *const c_char,
    timeout_ms: i64,
    out_record_json: *mut *mut c_char,
) -> i32 {
    guard(|| {
        // SAFETY: the caller's contract (header).
        let id = unsafe { str_arg(build_id, "build_id") }?;
        let record = handles::get(handle)?
            .daemon
            .wait_build(id, timeout_of(timeout_ms))?;
        if !out_record_json.is_null() {
            // SAFETY: non-NULL, writable per the contract.
            unsafe { give_str(to_json(&record)?, out_record_json, "out_record_json") }?;
        }
        Ok(BUILDNET_OK)
    })
}

/// Cancels build `build_id`: running commands are stopped and nothing new starts. Returns 0 if
/// it was cancelled, 1 if it had already finished.
#[no_mangle]
pub unsafe extern "C" fn buildnet_cancel_build(
    handle: *mut BuildNetHandle,
    build_id: *const c_char,
) -> i32 {
    guard(|| {
        // SAFETY: the caller's contract (header).
        let id = unsafe { str_arg(build_id, "build_id") }?;
        let cancelled = handles::get(handle)?.daemon.cancel_build(id)?;
        Ok(if cancelled { BUILDNET_OK } else { BUILDNET_NO })
    })
}

/// The record of build `build_id`, finished or not, as JSON in `*out_json` (free with
/// buildnet_string_free()).
#[no_mangle]
pub unsafe extern "C" fn buildnet_build_json(
    handle: *mut BuildNetHandle,
    build_id: *const c_char,
    out_json: *mut *mut c_char,
) -> i32 {
    guard(|| {
        // SAFETY: the caller's contract (header).
        let id = unsafe { str_arg(build_id, "build_id") }?;
        let record = handles::get(handle)?.daemon.build(id)?;
        // SAFETY: as above.
        unsafe { give_str(to_json(&record)?, out_json, "out_json") }?;
        Ok(BUILDNET_OK)
    })
}

/// The daemon's status (version, address while running, builds, cache hit rate, slots,
/// watcher, ...) as JSON in `*out_json`, the same object as GET /api/v1/status. Free with
/// buildnet_string_free().
#[no_mangle]
pub unsafe extern "C" fn buildnet_status_json(
    handle: *mut BuildNetHandle,
    out_json: *mut *mut c_char,
) -> i32 {
    guard(|| {
        let status = handles::get(handle)?.daemon.status()?;
        // SAFETY: the caller's contract (header).
        unsafe { give_str(to_json(&status)?, out_json, "out_json") }?;
        Ok(BUILDNET_OK)
    })
}

fn to_json(value: &impl serde::Serialize) -> CResult<String> {
    serde_json::to_string(value)
        .map_err(|e| Error::internal(format!("cannot encode JSON: {e}")).into())
}

/// Reads `key` of the key-value store into `out_value` (NUL-terminated, `out_len` bytes).
/// Returns 0 if found, 1 if not found (or expired). A buffer too small for the value fails
/// with BUILDNET_ERR_BUFFER_TOO_SMALL; buildnet_required_len() then gives the size needed.
#[no_mangle]
pub unsafe extern "C" fn buildnet_get_state(
    handle: *mut BuildNetHandle,
    key: *const c_char,
    out_value: *mut c_char,
    out_len: usize,
) -> i32 {
    guard(|| {
        // SAFETY: the caller's contract (header).
        let key = unsafe { str_arg(key, "key") }?;
        match handles::get(handle)?.daemon.get_state(key)? {
            Some(value) => {
                // SAFETY: as above.
                unsafe { write_str(&value, out_value, out_len, "out_value") }?;
                Ok(BUILDNET_OK)
            }
            None => Ok(BUILDNET_NO),
        }
    })
}

/// Sets `key` to `value` (both NUL-terminated UTF-8), expiring after `ttl_ms` milliseconds
/// (0: never). Returns once the write is durable per the configuration's durability.
#[no_mangle]
pub unsafe extern "C" fn buildnet_set_state(
    handle: *mut BuildNetHandle,
    key: *const c_char,
    value: *const c_char,
    ttl_ms: u64,
) -> i32 {
    guard(|| {
        // SAFETY: the caller's contract (header).
        let (key, value) = unsafe { (str_arg(key, "key")?, str_arg(value, "value")?) };
        let ttl = (ttl_ms > 0).then_some(ttl_ms);
        handles::get(handle)?.daemon.set_state(key, value, ttl)?;
        Ok(BUILDNET_OK)
    })
}

/// Deletes `key`. Returns 0 if it was there, 1 if not.
#[no_mangle]
pub unsafe extern "C" fn buildnet_delete_state(
    handle: *mut BuildNetHandle,
    key: *const c_char,
) -> i32 {
    guard(|| {
        // SAFETY: the caller's contract (header).
        let key = unsafe { str_arg(key, "key") }?;
        let existed = handles::get(handle)?.daemon.delete_state(key)?;
        Ok(if existed { BUILDNET_OK } else { BUILDNET_NO })
    })
}

/// Tries to take the lock on `resource` for `ttl_ms` milliseconds (at least 1). Returns 0 when
/// taken: the token (needed to release it) is written to `out_token`, a buffer of `out_len`
/// bytes (at least BUILDNET_ID_LEN), and, if `out_fence` is not NULL, the fencing token
/// (strictly increasing across all acquisitions) to `*out_fence`. Returns 1 if someone else
/// holds it. Does not wait.
#[no_mangle]
pub unsafe extern "C" fn buildnet_acquire_lock(
    handle: *mut BuildNetHandle,
    resource: *const c_char,
    ttl_ms: u64,
    out_token: *mut c_char,
    out_len: usize,
    out_fence: *mut i64,
) -> i32 {
    guard(|| {
        // SAFETY: the caller's contract (header).
        let resource = unsafe { str_arg(resource, "resource") }?;
        let client = handles::get(handle)?;
        // Checked before taking the lock, so a bad buffer never leaves it held.
        check_buffer(out_token, out_len, BUILDNET_ID_LEN, "out_token")?;
        let Some(lock) = client.daemon.acquire_lock(resource, ttl_ms)? else {
            return Ok(BUILDNET_NO);
        };
        // SAFETY: as above; tokens are shorter than BUILDNET_ID_LEN.
        if let Err(err) = unsafe { write_str(&lock.token, out_token, out_len, "out_token") } {
            // Never leave a lock held whose token the caller did not get.
            let _ = client.daemon.release_lock(resource, &lock.token);
            return Err(err);
        }
        if !out_fence.is_null() {
            // SAFETY: non-NULL and writable per the contract.
            unsafe { *out_fence = lock.fence };
        }
        Ok(BUILDNET_OK)
    })
}

/// Releases the lock on `resource` held with `token`. Returns 0 if released, 1 if `token` does
/// not hold it (expired, or someone else's).
#[no_mangle]
pub unsafe extern "C" fn buildnet_release_lock(
    handle: *mut BuildNetHandle,
    resource: *const c_char,
    token: *const c_char,
) -> i32 {
    guard(|| {
        // SAFETY: the caller's contract (header).
        let (resource, token) =
            unsafe { (str_arg(resource, "resource")?, str_arg(token, "token")?) };
        let released = handles::get(handle)?.daemon.release_lock(resource, token)?;
        Ok(if released { BUILDNET_OK } else { BUILDNET_NO })
    })
}

/// Takes the next event of the handle's stream (every event since buildnet_create(), in
/// order) as JSON in `*out_json`, e.g. {"seq":7,"at_ms":...,"type":"target_finished",...};
/// free it with buildnet_string_free(). Waits at most `timeout_ms` milliseconds (0: does not
/// wait; negative: until an event comes or the handle is destroyed). Returns 0 with an event,
/// 1 if none came in time. A consumer that fell behind the bus's buffer gets
/// {"type":"lagged","missed":N} once, then the events that follow. Blocks the calling thread
/// (Deno: mark it nonblocking; Bun: poll with 0 or call from a Worker). One stream per handle:
/// two consumers share it (each event reaches one of them). The message of a failure is kept
/// for the thread that made the call (a Deno nonblocking call's thread is not the caller's).
#[no_mangle]
pub unsafe extern "C" fn buildnet_next_event(
    handle: *mut BuildNetHandle,
    timeout_ms: i64,
    out_json: *mut *mut c_char,
) -> i32 {
    guard(|| {
        if out_json.is_null() {
            return Err(invalid("out_json is NULL"));
        }
        // SAFETY: checked non-NULL above; writable per the contract.
        unsafe { next_json(&handles::get(handle)?.events, timeout_ms, out_json) }
    })
}

/// Opens an event stream of its own for one consumer: every event published from now on, in
/// order, independently of the handle's stream (buildnet_next_event) and of other streams.
/// Stores it in `*out_events`; close it with buildnet_events_close(). Destroying the handle
/// ends the stream (buildnet_events_next then fails with BUILDNET_ERR_INVALID_STATE), but it
/// must still be closed.
#[no_mangle]
pub unsafe extern "C" fn buildnet_events_open(
    handle: *mut BuildNetHandle,
    out_events: *mut *mut BuildNetEvents,
) -> i32 {
    guard(|| {
        if out_events.is_null() {
            return Err(invalid("out_events is NULL"));
        }
        let events = handles::open_stream(handle)?;
        // SAFETY: checked non-NULL above; writable per the contract.
        unsafe { *out_events = events };
        Ok(BUILDNET_OK)
    })
}

/// The next event of stream `events`, as buildnet_next_event() gives the handle's: JSON in
/// `*out_json` (free it with buildnet_string_free()), waiting at most `timeout_ms` (0: does not
/// wait; negative: until an event comes or the stream or its daemon is closed). Returns 0 with
/// an event, 1 if none came in time, BUILDNET_ERR_INVALID_STATE once the stream or its daemon
/// is closed. Blocks the calling thread (Deno: mark it nonblocking).
#[no_mangle]
pub unsafe extern "C" fn buildnet_events_next(
    events: *mut BuildNetEvents,
    timeout_ms: i64,
    out_json: *mut *mut c_char,
) -> i32 {
    guard(|| {
        if out_json.is_null() {
            return Err(invalid("out_json is NULL"));
        }
        // SAFETY: checked non-NULL above; writable per the contract.
        unsafe { next_json(&*handles::stream(events)?, timeout_ms, out_json) }
    })
}

/// Closes stream `events`: a buildnet_events_next() waiting on another thread returns
/// BUILDNET_ERR_INVALID_STATE at once. Closing twice, or a stream never opened, is
/// BUILDNET_ERR_INVALID_STATE.
#[no_mangle]
pub unsafe extern "C" fn buildnet_events_close(events: *mut BuildNetEvents) -> i32 {
    guard(|| {
        handles::close_stream(events)?;
        Ok(BUILDNET_OK)
    })
}

/// Frees a string this library returned through a `char **` out-parameter. NULL does nothing.
/// Each string is freed once.
#[no_mangle]
pub unsafe extern "C" fn buildnet_string_free(s: *mut c_char) {
    if !s.is_null() {
        // SAFETY: `s` came from CString::into_raw in this library (the contract above).
        drop(unsafe { CString::from_raw(s) });
    }
}

/// The message of the calling thread's last call if it failed, or NULL if it succeeded (or no
/// call was made yet). Borrowed: valid until the next call on this thread.
#[no_mangle]
pub extern "C" fn buildnet_last_error() -> *const c_char {
    last_error_message()
}

/// The BUILDNET_ERR_* code of the calling thread's last call: 0 if it succeeded. The way to
/// tell buildnet_xxhash()'s error return (0) from a hash that is 0.
#[no_mangle]
pub extern "C" fn buildnet_last_error_code() -> i32 {
    last_error_code()
}

/// The buffer size (bytes, including the NUL) the calling thread's last call failing with
/// BUILDNET_ERR_BUFFER_TOO_SMALL needed.
#[no_mangle]
pub extern "C" fn buildnet_required_len() -> usize {
    required_len()
}

/// This library's version, e.g. "0.1.0". Static: never freed.
#[no_mangle]
pub extern "C" fn buildnet_version() -> *const c_char {
    static VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), "\0");
    VERSION.as_ptr().cast()
}

/// # Safety
/// `data` is valid for `len` bytes when `len > 0`.
unsafe fn bytes_arg<'a>(data: *const u8, len: usize) -> CResult<&'a [u8]> {
    if len == 0 {
        return Ok(&[]);
    }
    if data.is_null() {
        return Err(invalid(format!("data is NULL with len {len}")));
    }
    // SAFETY: non-NULL and valid for `len` bytes per the caller's contract.
    Ok(unsafe { std::slice::from_raw_parts(data, len) })
}

/// XXH3-64 (seed 0) of the `len` bytes at `data` (NULL allowed when `len` is 0). Returns 0,
/// with an error recorded, if `data` is NULL and `len` is not 0.
#[no_mangle]
pub unsafe extern "C" fn buildnet_xxhash(data: *const u8, len: usize) -> u64 {
    guard_value(0, || {
        // SAFETY: the caller's contract (header).
        let bytes = unsafe { bytes_arg(data, len) }?;
        Ok(buildnet_core::xxh3_64(bytes))
    })
}

/// BLAKE3 of the `len` bytes at `data` (NULL allowed when `len` is 0), written to `out32`, a
/// buffer of 32 bytes.
#[no_mangle]
pub unsafe extern "C" fn buildnet_blake3(data: *const u8, len: usize, out32: *mut u8) -> i32 {
    guard(|| {
        // SAFETY: the caller's contract (header).
        let bytes = unsafe { bytes_arg(data, len) }?;
        if out32.is_null() {
            return Err(invalid("out32 is NULL"));
        }
        let hash = buildnet_core::blake3(bytes);
        // SAFETY: `out32` holds 32 writable bytes per the contract.
        unsafe { std::ptr::copy_nonoverlapping(hash.as_bytes().as_ptr(), out32, 32) };
        Ok(BUILDNET_OK)
    })
}
