//! `@buildnet/node`: the engine in Node.js, through napi-rs.
//!
//! A thin face over [`buildnet_core::Daemon`]: arguments are converted, the facade is called and
//! its error becomes a JS `Error` whose `code` is the stable string (`BUILDNET_NOT_FOUND`, ...).
//! Anything that may block (opening a server, waiting for a build, syncing the watcher) runs
//! as an [`AsyncTask`] on libuv's thread pool and returns a Promise; key-value and lock calls
//! stay synchronous, as the API asks: reads are answered from the read cache in well under a
//! microsecond, and a write waits for SQLite's write lock while another process commits. Events reach JS
//! through a weak ThreadsafeFunction fed by one thread per subscription, so a subscription
//! never keeps the process alive.

use std::sync::Arc;
use std::time::Duration;

use buildnet_core::{BuildOptions, Daemon, Error as CoreError, EventStream};
use napi::bindgen_prelude::*;
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};
use napi::{JsValue, Task};
use napi_derive::napi;

/// The engine's error as a JS `Error` with its stable `code`.
fn js_error(env: &Env, err: &CoreError) -> Error {
    let made = env
        .create_error(Error::new(Status::GenericFailure, err.message()))
        .and_then(|mut object| {
            object.set("code", err.code().as_str())?;
            Ok(Error::from(object.to_unknown()))
        });
    made.unwrap_or_else(|e| e)
}

fn json(value: &impl serde::Serialize) -> std::result::Result<serde_json::Value, CoreError> {
    serde_json::to_value(value)
        .map_err(|e| CoreError::internal(format!("cannot encode a result: {e}")))
}

/// Runs `work` on libuv's thread pool; the Promise resolves with its JSON result or rejects
/// with the engine's error (with `code`).
pub struct Blocking {
    work: Option<Box<dyn FnOnce() -> std::result::Result<serde_json::Value, CoreError> + Send>>,
    failure: Option<CoreError>,
}

fn blocking(
    work: impl FnOnce() -> std::result::Result<serde_json::Value, CoreError> + Send + 'static,
) -> AsyncTask<Blocking> {
    AsyncTask::new(Blocking {
        work: Some(Box::new(work)),
        failure: None,
    })
}

/// A JSON result handed to JS as the equivalent JS value.
pub struct Json(serde_json::Value);

impl TypeName for Json {
    fn type_name() -> &'static str {
        "unknown"
    }

    fn value_type() -> ValueType {
        ValueType::Unknown
    }
}

impl ToNapiValue for Json {
    unsafe fn to_napi_value(env: napi::sys::napi_env, val: Self) -> Result<napi::sys::napi_value> {
        match val.0 {
            // `Promise<void>` resolves with undefined.
            // SAFETY: `env` is the live env napi-rs passed in.
            serde_json::Value::Null => unsafe { <()>::to_napi_value(env, ()) },
            // SAFETY: as above; napi-rs converts the JSON value in the same env.
            value => unsafe { serde_json::Value::to_napi_value(env, value) },
        }
    }
}

impl Task for Blocking {
    type Output = serde_json::Value;
    type JsValue = Json;

    fn compute(&mut self) -> Result<Self::Output> {
        let work = self.work.take().ok_or_else(|| {
            Error::new(
                Status::GenericFailure,
                "a buildnet task ran twice".to_owned(),
            )
        })?;
        // A panic in the engine becomes a rejected Promise, never an abort of Node.
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(work))
            .unwrap_or_else(|_| Err(CoreError::internal("internal error: the engine panicked")));
        outcome.map_err(|failure| {
            self.failure = Some(failure);
            Error::new(Status::GenericFailure, "buildnet call failed".to_owned())
        })
    }

    fn resolve(&mut self, _env: Env, output: Self::Output) -> Result<Self::JsValue> {
        Ok(Json(output))
    }

    fn reject(&mut self, env: Env, err: Error) -> Result<Self::JsValue> {
        Err(match self.failure.take() {
            Some(failure) => js_error(&env, &failure),
            None => err,
        })
    }
}

/// One embedded BuildNet daemon over one workspace.
#[napi]
pub struct BuildNetClient {
    daemon: Daemon,
}

/// What `onEvent` returns.
#[napi]
pub struct EventSubscription {
    stream: Arc<EventStream>,
}

#[napi]
impl EventSubscription {
    /// Stops the callbacks. Calling it again does nothing.
    #[napi]
    pub fn unsubscribe(&self) {
        self.stream.close();
    }
}

fn timeout_of(timeout_ms: Option<f64>) -> Option<Duration> {
    timeout_ms
        .filter(|t| t.is_finite() && *t >= 0.0)
        .map(|t| Duration::from_millis(t as u64))
}

fn ttl_of(ttl_ms: Option<f64>) -> std::result::Result<Option<u64>, CoreError> {
    match ttl_ms {
        None => Ok(None),
        Some(t) if t.is_finite() && t >= 1.0 && t.fract() == 0.0 => Ok(Some(t as u64)),
        Some(t) => Err(CoreError::invalid_argument(format!(
            "ttlMs must be a positive whole number of milliseconds, got {t}"
        ))),
    }
}

#[napi]
impl BuildNetClient {
    /// Opens the engine over the workspace of `configPath`, or of the `buildnet.yaml` found
    /// from the current directory upwards. Nothing listens until `start()`.
    #[napi(constructor, catch_unwind)]
    pub fn new(env: Env, config_path: Option<String>) -> Result<Self> {
        let daemon = Daemon::open_path(config_path.as_deref().map(std::path::Path::new))
            .map_err(|e| js_error(&env, &e))?;
        Ok(BuildNetClient { daemon })
    }

    /// Starts the HTTP server (and the watcher if the configuration enables it): the same
    /// daemon as `buildnet serve`, in this process.
    #[napi(ts_return_type = "Promise<void>")]
    pub fn start(&self) -> AsyncTask<Blocking> {
        let daemon = self.daemon.clone();
        blocking(move || {
            daemon.start()?;
            Ok(serde_json::Value::Null)
        })
    }

    /// Stops the server and watcher gracefully; running builds go on.
    #[napi(ts_return_type = "Promise<void>")]
    pub fn stop(&self) -> AsyncTask<Blocking> {
        let daemon = self.daemon.clone();
        blocking(move || {
            daemon.stop()?;
            Ok(serde_json::Value::Null)
        })
    }

    /// Cancels running builds, stops the daemon and ends every subscription; every later call
    /// rejects with `BUILDNET_INVALID_STATE`. Closing twice does nothing.
    #[napi(ts_return_type = "Promise<void>")]
    pub fn close(&self) -> AsyncTask<Blocking> {
        // At once, on this thread: later calls fail and subscriptions end before this returns.
        self.daemon.mark_closed();
        let daemon = self.daemon.clone();
        blocking(move || {
            daemon.close()?;
            Ok(serde_json::Value::Null)
        })
    }

    /// `host:port` the HTTP server is bound to, once started (`null` before).
    #[napi(getter)]
    pub fn address(&self) -> Option<String> {
        self.daemon.address().map(|a| a.to_string())
    }

    /// Starts a build of `targets` (every target when empty) and their dependencies; resolves
    /// with the build id as soon as it is queued.
    #[napi(ts_return_type = "Promise<string>")]
    pub fn request_build(&self, targets: Vec<String>) -> AsyncTask<Blocking> {
        let daemon = self.daemon.clone();
        blocking(move || {
            let id = daemon.request_build(&targets, BuildOptions::default())?;
            Ok(serde_json::Value::String(id))
        })
    }

    /// Resolves with the build's record once it finished (rejects with `BUILDNET_TIMEOUT`
    /// after `timeoutMs`). A failed build resolves too: read `status`.
    #[napi(ts_return_type = "Promise<BuildRecord>")]
    pub fn wait_build(&self, id: String, timeout_ms: Option<f64>) -> AsyncTask<Blocking> {
        let daemon = self.daemon.clone();
        blocking(move || json(&daemon.wait_build(&id, timeout_of(timeout_ms))?))
    }

    /// The build's record, finished or not.
    #[napi(ts_return_type = "Promise<BuildRecord>")]
    pub fn get_build(&self, id: String) -> AsyncTask<Blocking> {
        let daemon = self.daemon.clone();
        blocking(move || json(&daemon.build(&id)?))
    }

    /// Cancels a build; resolves `true` if it was cancelled, `false` if it had finished.
    #[napi(ts_return_type = "Promise<boolean>")]
    pub fn cancel_build(&self, id: String) -> AsyncTask<Blocking> {
        let daemon = self.daemon.clone();
        blocking(move || Ok(serde_json::Value::Bool(daemon.cancel_build(&id)?)))
    }

    /// The daemon's status: the same object as `GET /api/v1/status`.
    #[napi(ts_return_type = "Promise<Status>")]
    pub fn get_status(&self) -> AsyncTask<Blocking> {
        let daemon = self.daemon.clone();
        blocking(move || json(&daemon.status()?))
    }

    /// The value of `key`, or `null` if absent or expired.
    #[napi(catch_unwind)]
    pub fn get_state(&self, env: Env, key: String) -> Result<Option<String>> {
        self.daemon.get_state(&key).map_err(|e| js_error(&env, &e))
    }

    /// Sets `key` to `value`, expiring after `ttlMs` milliseconds if given.
    #[napi(catch_unwind)]
    pub fn set_state(
        &self,
        env: Env,
        key: String,
        value: String,
        ttl_ms: Option<f64>,
    ) -> Result<()> {
        ttl_of(ttl_ms)
            .and_then(|ttl| self.daemon.set_state(&key, &value, ttl))
            .map_err(|e| js_error(&env, &e))
    }

    /// Deletes `key`; `true` if it was there.
    #[napi(catch_unwind)]
    pub fn delete_state(&self, env: Env, key: String) -> Result<bool> {
        self.daemon
            .delete_state(&key)
            .map_err(|e| js_error(&env, &e))
    }

    /// Takes the lock on `resource` for `ttlMs` milliseconds: its token, or `null` if someone
    /// else holds it. Does not wait.
    #[napi(catch_unwind)]
    pub fn acquire_lock(&self, env: Env, resource: String, ttl_ms: f64) -> Result<Option<String>> {
        ttl_of(Some(ttl_ms))
            .and_then(|ttl| self.daemon.acquire_lock(&resource, ttl.unwrap_or_default()))
            .map(|lock| lock.map(|l| l.token))
            .map_err(|e| js_error(&env, &e))
    }

    /// Releases the lock on `resource` held with `token`; `false` if `token` does not hold it.
    #[napi(catch_unwind)]
    pub fn release_lock(&self, env: Env, resource: String, token: String) -> Result<bool> {
        self.daemon
            .release_lock(&resource, &token)
            .map_err(|e| js_error(&env, &e))
    }

    /// Calls `callback` with every event from now on (objects with `type`, `seq`, `at_ms`).
    /// The subscription does not keep the process alive; after `unsubscribe()` (or `close()`)
    /// returns, the callback is not called again.
    #[napi(
        catch_unwind,
        ts_args_type = "callback: (event: BuildNetEvent) => void"
    )]
    pub fn on_event(
        &self,
        env: Env,
        callback: Function<'_, Unknown<'static>, ()>,
    ) -> Result<EventSubscription> {
        let stream = Arc::new(self.daemon.events().map_err(|e| js_error(&env, &e))?);
        // Events queued for the JS thread before an unsubscribe are dropped there: the gate is
        // checked on the JS thread, right before the user's callback would run.
        let user = callback.create_ref()?;
        let gate = Arc::clone(&stream);
        let forward = env.create_function_from_closure::<Unknown<'static>, (), _>(
            "buildnetEvent",
            move |ctx| {
                if gate.is_closed() {
                    return Ok(());
                }
                let event = ctx.first_arg::<Unknown<'static>>()?;
                user.borrow_back(ctx.env)?.call(event)
            },
        )?;
        let deliver: ThreadsafeFunction<
            serde_json::Value,
            (),
            serde_json::Value,
            Status,
            false,
            true,
        > = forward
            .build_threadsafe_function::<serde_json::Value>()
            .weak::<true>()
            .callee_handled::<false>()
            .build_callback(|ctx| Ok(ctx.value))?;
        let reader = Arc::clone(&stream);
        std::thread::Builder::new()
            .name("buildnet-events".into())
            .spawn(move || {
                while let Ok(Some(item)) = reader.next(None) {
                    let status =
                        deliver.call(item.to_value(), ThreadsafeFunctionCallMode::Blocking);
                    if status != Status::Ok {
                        // The environment is going away (a Worker ends, or Node exits).
                        break;
                    }
                }
            })
            .map_err(|e| {
                Error::new(
                    Status::GenericFailure,
                    format!("cannot start the event thread: {e}"),
                )
            })?;
        Ok(EventSubscription { stream })
    }
}

impl Drop for BuildNetClient {
    /// The JS object was collected (or its Worker ended): its daemon closes on a thread of its
    /// own, never on the JS thread, once no build is queued or running (a Promise of a build may
    /// outlive the object it came from).
    fn drop(&mut self) {
        if self.daemon.is_closed() {
            return;
        }
        let daemon = self.daemon.clone();
        let _ = std::thread::Builder::new()
            .name("buildnet-close".into())
            .spawn(move || daemon.close_when_idle());
    }
}

/// XXH3-64 (seed 0) of `data` as 16 hex digits.
#[napi]
pub fn xxhash(data: &[u8]) -> String {
    format!("{:016x}", buildnet_core::xxh3_64(data))
}

/// BLAKE3 of `data` as 64 hex digits.
#[napi]
pub fn blake3_hash(data: &[u8]) -> String {
    buildnet_core::blake3(data).to_hex().to_string()
}

/// The version of the engine.
#[napi]
pub fn version() -> &'static str {
    buildnet_core::VERSION
}
