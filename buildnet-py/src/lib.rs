//! `buildnet._buildnet`: the engine in Python, through PyO3 (`pip install buildnet`).
//!
//! A thin face over [`buildnet_core::Daemon`]: arguments are converted while holding the GIL,
//! the GIL is released for every call into the engine (`Python::detach`), and the engine's
//! error is raised as the `buildnet` exception class for its code (defined in Python, in
//! `buildnet/_errors.py`, so they can also derive from `ValueError`, `LookupError`, ...).
//! Structured results cross as JSON and become dicts through Python's `json` module.

use std::sync::Arc;
use std::time::Duration;

use buildnet_core::{BuildOptions, Daemon, Error as CoreError, EventStream};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;

/// The engine's error as the matching `buildnet.BuildNetError` subclass, with `.code` set: the
/// class of code `Name` is `buildnet._errors.NameError` (the Python tests hold every code of
/// `tests/vectors/error_codes.json` to that rule); one the package lacks is `InternalError`.
fn py_error(err: CoreError) -> PyErr {
    Python::attach(|py| {
        let raised = py.import("buildnet._errors").and_then(|m| {
            let class = m
                .getattr(format!("{:?}Error", err.code()))
                .or_else(|_| m.getattr("InternalError"))?;
            class.call1((err.message(), err.code().as_str()))
        });
        match raised {
            Ok(exception) => PyErr::from_value(exception),
            Err(import_failed) => import_failed,
        }
    })
}

fn loads(py: Python<'_>, json: String) -> PyResult<Py<PyAny>> {
    static LOADS: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    let loads = LOADS.get_or_try_init(py, || {
        py.import("json")
            .and_then(|m| m.getattr("loads"))
            .map(Bound::unbind)
    })?;
    Ok(loads.bind(py).call1((json,))?.unbind())
}

fn to_json(value: &impl serde::Serialize) -> Result<String, CoreError> {
    serde_json::to_string(value)
        .map_err(|e| CoreError::internal(format!("cannot encode a result: {e}")))
}

/// Runs `work` with the GIL released; a panic in the engine becomes `buildnet.InternalError`
/// (a `BuildNetError`), not PyO3's `PanicException`.
fn engine<T: Send>(
    py: Python<'_>,
    work: impl FnOnce() -> Result<T, CoreError> + Send,
) -> PyResult<T> {
    py.detach(|| {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(work))
            .unwrap_or_else(|_| Err(CoreError::internal("internal error: the engine panicked")))
    })
    .map_err(py_error)
}

/// Milliseconds from Python: negative values are the caller's mistake, not an OverflowError.
fn millis(name: &str, ms: Option<i64>) -> PyResult<Option<u64>> {
    ms.map(|v| {
        u64::try_from(v).map_err(|_| {
            py_error(CoreError::invalid_argument(format!(
                "{name} must not be negative, got {v}"
            )))
        })
    })
    .transpose()
}

fn timeout_of(timeout_ms: Option<i64>) -> PyResult<Option<Duration>> {
    Ok(millis("timeout_ms", timeout_ms)?.map(Duration::from_millis))
}

/// One embedded BuildNet daemon over one workspace. `with BuildNetClient(path) as bn:` starts
/// it and stops it at the end of the block. After `stop()` (or `close()`) every call raises
/// `InvalidStateError`; make a new client to start again.
#[pyclass(module = "buildnet._buildnet", frozen)]
pub struct BuildNetClient {
    daemon: Daemon,
}

#[pymethods]
impl BuildNetClient {
    #[new]
    #[pyo3(signature = (config_path=None))]
    fn new(py: Python<'_>, config_path: Option<std::path::PathBuf>) -> PyResult<Self> {
        let daemon = engine(py, || Daemon::open_path(config_path.as_deref()))?;
        Ok(BuildNetClient { daemon })
    }

    /// Starts the HTTP server (and the watcher if the configuration enables it).
    fn start(&self, py: Python<'_>) -> PyResult<()> {
        engine(py, || self.daemon.start().map(|_| ()))
    }

    /// Stops the daemon and closes the client: running builds are cancelled.
    fn stop(&self, py: Python<'_>) -> PyResult<()> {
        engine(py, || self.daemon.close())
    }

    /// The same as `stop()`; closing twice does nothing.
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        self.stop(py)
    }

    fn __enter__(slf: Bound<'_, Self>) -> PyResult<Bound<'_, Self>> {
        slf.get().start(slf.py())?;
        Ok(slf)
    }

    #[pyo3(signature = (*_exc))]
    fn __exit__(&self, py: Python<'_>, _exc: &Bound<'_, pyo3::types::PyTuple>) -> PyResult<bool> {
        self.stop(py)?;
        Ok(false)
    }

    /// `host:port` the HTTP server is bound to, while running.
    #[getter]
    fn address(&self) -> Option<String> {
        self.daemon.address().map(|a| a.to_string())
    }

    /// Starts a build of `targets` (every target when empty) and their dependencies; returns
    /// the build id at once.
    fn request_build(&self, py: Python<'_>, targets: Vec<String>) -> PyResult<String> {
        engine(py, || {
            self.daemon.request_build(&targets, BuildOptions::default())
        })
    }

    /// Waits for the build to finish and returns its record (a dict); `TimeoutError` after
    /// `timeout_ms`. Other Python threads run meanwhile.
    #[pyo3(signature = (build_id, timeout_ms=None))]
    fn wait_build(
        &self,
        py: Python<'_>,
        build_id: &str,
        timeout_ms: Option<i64>,
    ) -> PyResult<Py<PyAny>> {
        let timeout = timeout_of(timeout_ms)?;
        let json = engine(py, || {
            let record = self.daemon.wait_build(build_id, timeout)?;
            to_json(&record)
        })?;
        loads(py, json)
    }

    /// The record of a build, finished or not (a dict).
    fn get_build(&self, py: Python<'_>, build_id: &str) -> PyResult<Py<PyAny>> {
        let json = engine(py, || to_json(&self.daemon.build(build_id)?))?;
        loads(py, json)
    }

    /// Cancels a build: `True` if it was cancelled, `False` if it had already finished.
    fn cancel_build(&self, py: Python<'_>, build_id: &str) -> PyResult<bool> {
        engine(py, || self.daemon.cancel_build(build_id))
    }

    /// The daemon's status (a dict): the same object as `GET /api/v1/status`.
    fn get_status(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let json = engine(py, || to_json(&self.daemon.status()?))?;
        loads(py, json)
    }

    /// The value of `key`, or `None` if absent or expired.
    fn get_state(&self, py: Python<'_>, key: &str) -> PyResult<Option<String>> {
        engine(py, || self.daemon.get_state(key))
    }

    /// Sets `key` to `value`, expiring after `ttl_ms` milliseconds if given.
    #[pyo3(signature = (key, value, ttl_ms=None))]
    fn set_state(
        &self,
        py: Python<'_>,
        key: &str,
        value: &str,
        ttl_ms: Option<i64>,
    ) -> PyResult<()> {
        let ttl = millis("ttl_ms", ttl_ms)?;
        engine(py, || self.daemon.set_state(key, value, ttl))
    }

    /// Deletes `key`: `True` if it was there.
    fn delete_state(&self, py: Python<'_>, key: &str) -> PyResult<bool> {
        engine(py, || self.daemon.delete_state(key))
    }

    /// Takes the lock on `resource` for `ttl_ms` milliseconds: its token, or `None` if someone
    /// else holds it. Does not wait.
    fn acquire_lock(
        &self,
        py: Python<'_>,
        resource: &str,
        ttl_ms: i64,
    ) -> PyResult<Option<String>> {
        let ttl = millis("ttl_ms", Some(ttl_ms))?.unwrap_or_default();
        engine(py, || self.daemon.acquire_lock(resource, ttl)).map(|lock| lock.map(|l| l.token))
    }

    /// Releases the lock on `resource` held with `token`: `False` if `token` does not hold it.
    fn release_lock(&self, py: Python<'_>, resource: &str, token: &str) -> PyResult<bool> {
        engine(py, || self.daemon.release_lock(resource, token))
    }

    /// An iterator over the events published from now on (dicts with `type`, `seq`,
    /// `at_ms`). It ends when no event comes within `timeout_ms` (None: waits until the client
    /// is stopped).
    #[pyo3(signature = (timeout_ms=Some(1000)))]
    fn events(&self, timeout_ms: Option<i64>) -> PyResult<Events> {
        let timeout = timeout_of(timeout_ms)?;
        let stream = self.daemon.events().map_err(py_error)?;
        Ok(Events {
            stream: Arc::new(stream),
            daemon: self.daemon.clone(),
            timeout,
        })
    }
}

/// What `BuildNetClient.events()` returns.
#[pyclass(module = "buildnet._buildnet", frozen)]
pub struct Events {
    stream: Arc<EventStream>,
    daemon: Daemon,
    timeout: Option<Duration>,
}

/// How long one wait lasts before Python's signal handlers (Ctrl-C) get a turn.
const SIGNAL_CHECK: Duration = Duration::from_millis(100);

#[pymethods]
impl Events {
    fn __iter__(slf: Bound<'_, Self>) -> Bound<'_, Self> {
        slf
    }

    fn __next__(&self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        // A timeout too far to represent is no timeout.
        let deadline = self
            .timeout
            .and_then(|t| std::time::Instant::now().checked_add(t));
        loop {
            let slice = match deadline {
                Some(d) => d
                    .saturating_duration_since(std::time::Instant::now())
                    .min(SIGNAL_CHECK),
                None => SIGNAL_CHECK,
            };
            let item = py.detach(|| {
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    // In a forked child this raises instead of waiting on a dead stream.
                    self.daemon.check_open()?;
                    self.stream.next(Some(slice))
                }))
                .unwrap_or_else(|_| Err(CoreError::internal("internal error: the engine panicked")))
            });
            let item = match item {
                Ok(item) => Ok(item),
                // A closed client (or iterator) ends the iteration; other errors are raised.
                Err(_) if self.stream.is_closed() => Err(None),
                Err(err) => Err(Some(py_error(err))),
            };
            match item {
                Ok(Some(item)) => return loads(py, item.to_json()).map(Some),
                Ok(None) => {}
                Err(None) => return Ok(None),
                Err(Some(err)) => return Err(err),
            }
            if deadline.is_some_and(|d| std::time::Instant::now() >= d) {
                return Ok(None);
            }
            py.check_signals()?;
        }
    }

    /// Ends the iteration (a `next()` waiting on another thread returns at once).
    fn close(&self) {
        self.stream.close();
    }
}

/// XXH3-64 (seed 0) of `data`.
#[pyfunction]
fn xxhash(data: &[u8]) -> u64 {
    buildnet_core::xxh3_64(data)
}

/// BLAKE3 of `data` as 64 hex digits; large inputs are hashed with the GIL released.
#[pyfunction]
fn blake3_hash(py: Python<'_>, data: &[u8]) -> String {
    if data.len() >= 64 * 1024 {
        py.detach(|| buildnet_core::blake3(data).to_hex().to_string())
    } else {
        buildnet_core::blake3(data).to_hex().to_string()
    }
}

#[pymodule]
fn _buildnet(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<BuildNetClient>()?;
    m.add_class::<Events>()?;
    m.add_function(wrap_pyfunction!(xxhash, m)?)?;
    m.add_function(wrap_pyfunction!(blake3_hash, m)?)?;
    m.add("__version__", buildnet_core::VERSION)?;
    Ok(())
}
