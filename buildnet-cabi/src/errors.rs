//! Status codes, the calling thread's last error, and the guard every export runs inside.
//!
//! Each `extern "C"` function body runs in [`guard`]: a `Result` becomes a status code (the
//! error's message and code are kept for the calling thread), and a panic becomes
//! `BUILDNET_ERR_INTERNAL` instead of unwinding into C.

use std::cell::{Cell, RefCell};
use std::ffi::{c_char, CStr, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};

use buildnet_core::{Error, ErrorCode};

/// Success.
pub const BUILDNET_OK: i32 = 0;
/// The documented "no" answer of a call: not found, held by someone else, no event yet.
pub const BUILDNET_NO: i32 = 1;
/// An argument was malformed: a NULL pointer, invalid UTF-8, an empty key, a bad TTL.
pub const BUILDNET_ERR_INVALID_ARGUMENT: i32 = -1;
/// The thing asked for does not exist (an unknown target or build, a missing config file).
pub const BUILDNET_ERR_NOT_FOUND: i32 = -2;
/// The configuration file or an environment override is invalid.
pub const BUILDNET_ERR_CONFIG: i32 = -3;
/// The target graph has a cycle.
pub const BUILDNET_ERR_CYCLE: i32 = -4;
/// The resource is held by someone else (e.g. another daemon serves the workspace).
pub const BUILDNET_ERR_BUSY: i32 = -5;
/// A filesystem or socket operation failed.
pub const BUILDNET_ERR_IO: i32 = -6;
/// The operation was cancelled.
pub const BUILDNET_ERR_CANCELLED: i32 = -7;
/// The operation did not finish in time.
pub const BUILDNET_ERR_TIMEOUT: i32 = -8;
/// A token was required and missing or wrong.
pub const BUILDNET_ERR_UNAUTHORIZED: i32 = -9;
/// The state database failed.
pub const BUILDNET_ERR_DATABASE: i32 = -10;
/// The handle was destroyed, never existed, or was made before fork() in this child.
pub const BUILDNET_ERR_INVALID_STATE: i32 = -11;
/// A bug inside the library (including a caught panic).
pub const BUILDNET_ERR_INTERNAL: i32 = -12;
/// The caller's buffer is too small; buildnet_required_len() gives the size needed.
pub const BUILDNET_ERR_BUFFER_TOO_SMALL: i32 = -13;

/// A failure of one call: the engine's errors plus the C-only "buffer too small".
pub(crate) enum Failure {
    Engine(Error),
    TooSmall { needed: usize, given: usize },
}

impl From<Error> for Failure {
    fn from(err: Error) -> Self {
        Failure::Engine(err)
    }
}

pub(crate) type CResult<T> = Result<T, Failure>;

pub(crate) fn invalid(message: impl Into<String>) -> Failure {
    Failure::Engine(Error::invalid_argument(message))
}

fn code_of(code: ErrorCode) -> i32 {
    match code {
        ErrorCode::InvalidArgument => BUILDNET_ERR_INVALID_ARGUMENT,
        ErrorCode::NotFound => BUILDNET_ERR_NOT_FOUND,
        ErrorCode::Config => BUILDNET_ERR_CONFIG,
        ErrorCode::Cycle => BUILDNET_ERR_CYCLE,
        ErrorCode::Busy => BUILDNET_ERR_BUSY,
        ErrorCode::Io => BUILDNET_ERR_IO,
        ErrorCode::Cancelled => BUILDNET_ERR_CANCELLED,
        ErrorCode::Timeout => BUILDNET_ERR_TIMEOUT,
        ErrorCode::Unauthorized => BUILDNET_ERR_UNAUTHORIZED,
        ErrorCode::Database => BUILDNET_ERR_DATABASE,
        ErrorCode::InvalidState => BUILDNET_ERR_INVALID_STATE,
        _ => BUILDNET_ERR_INTERNAL,
    }
}

struct LastError {
    code: i32,
    message: CString,
}

thread_local! {
    static LAST_ERROR: RefCell<Option<LastError>> = const { RefCell::new(None) };
    static REQUIRED_LEN: Cell<usize> = const { Cell::new(0) };
}

fn record(code: i32, message: String) -> i32 {
    // A message with a NUL inside cannot cross as a C string: cut it there.
    let message = CString::new(message).unwrap_or_else(|e| {
        let end = e.nul_position();
        CString::new(&e.into_vec()[..end]).unwrap_or_default()
    });
    LAST_ERROR.with(|last| *last.borrow_mut() = Some(LastError { code, message }));
    code
}

/// A call that succeeded leaves no error behind (so `buildnet_last_error_code()` is 0 after it).
fn clear() {
    LAST_ERROR.with(|last| {
        if let Ok(mut last) = last.try_borrow_mut() {
            if last.is_some() {
                *last = None;
            }
        }
    });
}

fn fail(failure: Failure) -> i32 {
    match failure {
        Failure::Engine(err) => record(code_of(err.code()), err.message().to_owned()),
        Failure::TooSmall { needed, given } => {
            REQUIRED_LEN.with(|len| len.set(needed));
            record(
                BUILDNET_ERR_BUFFER_TOO_SMALL,
                format!("the output buffer holds {given} bytes; {needed} are needed"),
            )
        }
    }
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    let text = payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into());
    format!("internal error (panic caught at the C boundary): {text}")
}

/// Runs `body`; its `Ok` is the status (0 or 1), an error is recorded and returned as its code.
pub(crate) fn guard(body: impl FnOnce() -> CResult<i32>) -> i32 {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(status)) => {
            clear();
            status
        }
        Ok(Err(failure)) => fail(failure),
        Err(payload) => record(BUILDNET_ERR_INTERNAL, panic_message(payload.as_ref())),
    }
}

/// [`guard`] for functions whose result is a value: `fallback` on failure (the error recorded).
pub(crate) fn guard_value<T>(fallback: T, body: impl FnOnce() -> CResult<T>) -> T {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(value)) => {
            clear();
            value
        }
        Ok(Err(failure)) => {
            fail(failure);
            fallback
        }
        Err(payload) => {
            record(BUILDNET_ERR_INTERNAL, panic_message(payload.as_ref()));
            fallback
        }
    }
}

pub(crate) fn last_error_message() -> *const c_char {
    LAST_ERROR.with(|last| match &*last.borrow() {
        Some(err) => err.message.as_ptr(),
        None => std::ptr::null(),
    })
}

pub(crate) fn last_error_code() -> i32 {
    LAST_ERROR.with(|last| last.borrow().as_ref().map_or(BUILDNET_OK, |e| e.code))
}

pub(crate) fn required_len() -> usize {
    REQUIRED_LEN.with(Cell::get)
}

// ----- argument conversion -----

/// A borrowed, NUL-terminated UTF-8 argument.
///
/// # Safety
/// `ptr` is NULL or points to a NUL-terminated string valid for the call.
pub(crate) unsafe fn str_arg<'a>(ptr: *const c_char, name: &str) -> CResult<&'a str> {
    if ptr.is_null() {
        return Err(invalid(format!("{name} is NULL")));
    }
    // SAFETY: non-NULL and NUL-terminated per the caller's contract.
    let bytes = unsafe { CStr::from_ptr(ptr) };
    bytes
        .to_str()
        .map_err(|e| invalid(format!("{name} is not valid UTF-8: {e}")))
}

/// Writes `text` and a NUL into the caller's buffer, or fails reporting the size needed.
///
/// # Safety
/// `out` is NULL or valid for writes of `out_len` bytes.
pub(crate) unsafe fn write_str(
    text: &str,
    out: *mut c_char,
    out_len: usize,
    name: &str,
) -> CResult<()> {
    if out.is_null() {
        return Err(invalid(format!("{name} is NULL")));
    }
    let needed = text.len() + 1;
    if needed > out_len {
        return Err(Failure::TooSmall {
            needed,
            given: out_len,
        });
    }
    // SAFETY: `out` holds at least `needed` bytes (checked above) and cannot overlap `text`,
    // which Rust owns.
    unsafe {
        std::ptr::copy_nonoverlapping(text.as_ptr(), out.cast::<u8>(), text.len());
        *out.add(text.len()) = 0;
    }
    Ok(())
}

/// Hands `text` to the caller as a string it frees with `buildnet_string_free`.
///
/// # Safety
/// `out` is NULL or valid for one pointer write.
pub(crate) unsafe fn give_str(text: String, out: *mut *mut c_char, name: &str) -> CResult<()> {
    if out.is_null() {
        return Err(invalid(format!("{name} is NULL")));
    }
    let owned = CString::new(text)
        .map_err(|_| Failure::Engine(Error::internal(format!("{name} would contain a NUL"))))?;
    // SAFETY: `out` is valid for a write per the caller's contract.
    unsafe { *out = owned.into_raw() };
    Ok(())
}
