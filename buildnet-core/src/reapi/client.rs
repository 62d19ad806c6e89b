//! A blocking client of a Remote Execution API engine: its CAS (`FindMissingBlobs`, batch and
//! ByteStream transfers), action cache and execution service (`Execute`, resumed with
//! `WaitExecution`). It owns a small tokio runtime, so the orchestrator's worker threads call
//! it as plain functions. Every blob read is checked against its digest: a server that sends
//! other bytes is an error, never data.

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use prost::Message;
use tonic::transport::{Channel, Endpoint};
use tonic::{Code, Status};

use super::{bs, lro, re, Digest};
pub use super::{check, endpoint_uri};
pub(crate) use super::{integrity, unavailable, uuid};
use crate::error::{Error, Result};

/// Blobs up to this size travel in batches; larger ones by ByteStream.
const BATCH_BLOB: i64 = 1 << 20;
/// The most bytes of one batch request (below the 4 MiB gRPC default every server has).
const BATCH_TOTAL: i64 = 3 << 20;
/// ByteStream chunk size.
const CHUNK: usize = 1 << 20;
/// The largest message accepted from the engine.
const MAX_MESSAGE: usize = 64 << 20;
/// How often a lost `Execute` stream is resumed before the target fails.
const MAX_RESUMES: u32 = 8;
/// How often an action whose worker went away (`UNAVAILABLE`) is executed again.
const MAX_LOST: u32 = 3;

/// Where a blob to upload comes from.
#[derive(Debug, Clone)]
pub enum Source {
    Bytes(Arc<Vec<u8>>),
    File(PathBuf),
}

impl Source {
    fn read(&self) -> Result<Vec<u8>> {
        match self {
            Source::Bytes(b) => Ok(b.as_ref().clone()),
            Source::File(p) => std::fs::read(p).map_err(|e| Error::io(p.display(), e)),
        }
    }
}

/// What the engine said of an execution.
#[derive(Debug, Clone)]
pub struct Executed {
    pub result: re::ActionResult,
    /// Whether the engine answered from its action cache.
    pub cached: bool,
    /// The operation's name.
    pub operation: String,
    /// Attempts, when a worker's loss made the action run again.
    pub attempts: u32,
}

/// A connection to one engine instance (lazy: nothing is dialled until the first call).
#[derive(Clone)]
pub struct Engine {
    rt: Arc<tokio::runtime::Runtime>,
    channel: Channel,
    url: String,
    instance: String,
    timeout: Duration,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("url", &self.url)
            .field("instance", &self.instance)
            .finish()
    }
}

impl Engine {
    /// An engine at `url` (`grpc://HOST:PORT`), instance `instance`; `timeout` bounds each call
    /// (an execution is bounded by its action's own timeout plus this).
    pub fn new(url: &str, instance: &str, timeout: Duration) -> Result<Engine> {
        let uri = endpoint_uri(url)?;
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("buildnet-reapi")
            .enable_all()
            .build()
            .map_err(|e| Error::internal(format!("starting the REAPI client: {e}")))?;
        let channel = {
            let _guard = rt.enter();
            Endpoint::from_shared(uri)
                .map_err(|e| Error::config(format!("remote_execution.url {url:?}: {e}")))?
                .connect_timeout(Duration::from_secs(5).min(timeout))
                .tcp_nodelay(true)
                .http2_keep_alive_interval(Duration::from_secs(30))
                .keep_alive_while_idle(true)
                .connect_lazy()
        };
        Ok(Engine {
            rt: Arc::new(rt),
            channel,
            url: url.to_owned(),
            instance: instance.to_owned(),
            timeout,
        })
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn instance(&self) -> &str {
        &self.instance
    }

    pub(crate) fn channel(&self) -> Channel {
        self.channel.clone()
    }

    /// Runs `fut` on the client's runtime, from any thread (a runtime thread included).
    pub fn block<F>(&self, fut: F) -> F::Output
    where
        F: Future + Send,
        F::Output: Send,
    {
        if tokio::runtime::Handle::try_current().is_ok() {
            std::thread::scope(|s| s.spawn(|| self.rt.block_on(fut)).join())
                .unwrap_or_else(|p| std::panic::resume_unwind(p))
        } else {
            self.rt.block_on(fut)
        }
    }

    fn error(&self, what: &str, status: Status) -> Error {
        let detail = match status.code() {
            Code::Unavailable | Code::Unknown if status.message().contains("connect") => format!(
                "the remote execution engine at {} is unreachable: {}",
                self.url,
                status.message()
            ),
            Code::Unavailable => format!(
                "the remote execution engine at {} is unavailable: {}",
                self.url,
                status.message()
            ),
            code => format!("{}: {code:?}: {}", self.url, status.message()),
        };
        unavailable(format!("{what}: {detail}"))
    }

    fn request<T>(&self, message: T) -> tonic::Request<T> {
        let mut req = tonic::Request::new(message);
        req.set_timeout(self.timeout);
        req
    }

    fn cas(
        &self,
    ) -> re::content_addressable_storage_client::ContentAddressableStorageClient<Channel> {
        re::content_addressable_storage_client::ContentAddressableStorageClient::new(self.channel())
            .max_decoding_message_size(MAX_MESSAGE)
    }

    fn bytestream(&self) -> bs::byte_stream_client::ByteStreamClient<Channel> {
        bs::byte_stream_client::ByteStreamClient::new(self.channel())
            .max_decoding_message_size(MAX_MESSAGE)
    }

    /// The action cache's entry for `action`, if it has one (checked: digests and paths).
    pub fn get_action_result(&self, action: &Digest) -> Result<Option<re::ActionResult>> {
        let req = self.request(re::GetActionResultRequest {
            instance_name: self.instance.clone(),
            action_digest: Some(action.clone()),
            inline_stdout: true,
            inline_stderr: true,
            ..Default::default()
        });
        let answer = self.block(async {
            re::action_cache_client::ActionCacheClient::new(self.channel())
                .max_decoding_message_size(MAX_MESSAGE)
                .get_action_result(req)
                .await
        });
        match answer {
            Ok(r) => {
                let r = r.into_inner();
                super::check_action_result(&r).map_err(|e| {
                    integrity(format!("the engine's action result is refused: {e}"))
                })?;
                Ok(Some(r))
            }
            Err(s) if s.code() == Code::NotFound => Ok(None),
            Err(s) => Err(self.error("looking up the action cache", s)),
        }
    }

    /// Which of `digests` the CAS lacks.
    pub fn find_missing(&self, digests: Vec<Digest>) -> Result<Vec<Digest>> {
        let mut missing = Vec::new();
        for chunk in digests.chunks(10_000) {
            let req = self.request(re::FindMissingBlobsRequest {
                instance_name: self.instance.clone(),
                blob_digests: chunk.to_vec(),
                ..Default::default()
            });
            let answer = self
                .block(async { self.cas().find_missing_blobs(req).await })
                .map_err(|s| self.error("asking the CAS what it lacks", s))?;
            missing.extend(answer.into_inner().missing_blob_digests);
        }
        Ok(missing)
    }

    /// Uploads `blobs` (small ones in batches, large ones by ByteStream); returns the bytes
    /// sent. Each blob's bytes are checked against its digest before they leave.
    pub fn upload(&self, blobs: Vec<(Digest, Source)>) -> Result<u64> {
        let mut sent = 0u64;
        let (small, large): (Vec<_>, Vec<_>) = blobs
            .into_iter()
            .partition(|(d, _)| d.size_bytes <= BATCH_BLOB);
        let mut batch: Vec<re::batch_update_blobs_request::Request> = Vec::new();
        let mut batch_bytes = 0i64;
        for (digest, source) in small {
            let data = source.read()?;
            check(&digest, &data, "an input")?;
            if batch_bytes + digest.size_bytes > BATCH_TOTAL && !batch.is_empty() {
                self.batch_update(std::mem::take(&mut batch))?;
                batch_bytes = 0;
            }
            batch_bytes += digest.size_bytes;
            sent += data.len() as u64;
            batch.push(re::batch_update_blobs_request::Request {
                digest: Some(digest),
                data,
                ..Default::default()
            });
        }
        if !batch.is_empty() {
            self.batch_update(batch)?;
        }
        for (digest, source) in large {
            sent += self.write_stream(&digest, &source)?;
        }
        Ok(sent)
    }

    fn batch_update(&self, requests: Vec<re::batch_update_blobs_request::Request>) -> Result<()> {
        let req = self.request(re::BatchUpdateBlobsRequest {
            instance_name: self.instance.clone(),
            requests,
            ..Default::default()
        });
        let answer = self
            .block(async { self.cas().batch_update_blobs(req).await })
            .map_err(|s| self.error("uploading blobs", s))?;
        for r in answer.into_inner().responses {
            if let Some(status) = r.status.filter(|s| s.code != 0) {
                let hash = r.digest.map(|d| d.hash).unwrap_or_default();
                return Err(unavailable(format!(
                    "uploading blob {hash}: the engine answered code {}: {}",
                    status.code, status.message
                )));
            }
        }
        Ok(())
    }

    fn write_stream(&self, digest: &Digest, source: &Source) -> Result<u64> {
        let data = source.read()?;
        check(digest, &data, "an input")?;
        let resource = format!(
            "{}uploads/{}/blobs/{}/{}",
            prefix(&self.instance),
            uuid(),
            digest.hash,
            digest.size_bytes
        );
        let total = data.len();

        let chunks: Vec<bs::WriteRequest> = (0..total.max(1))
            .step_by(CHUNK)
            .map(|offset| {
                let end = (offset + CHUNK).min(total);
                bs::WriteRequest {
                    resource_name: if offset == 0 {
                        resource.clone()
                    } else {
                        String::new()
                    },
                    write_offset: offset as i64,
                    finish_write: end == total,
                    data: data[offset..end].to_vec(),
                }
            })
            .collect();
        let mut req = tonic::Request::new(futures_util::stream::iter(chunks));
        req.set_timeout(self.timeout);
        let answer = self
            .block(async { self.bytestream().write(req).await })
            .map_err(|s| self.error("uploading a blob", s))?;
        let committed = answer.into_inner().committed_size;
        if committed != total as i64 && committed != -1 {
            return Err(unavailable(format!(
                "uploading blob {}: the engine committed {committed} of {total} bytes",
                digest.hash
            )));
        }
        Ok(total as u64)
    }

    /// Reads `digests` (each checked: a wrong blob is an integrity error). Returns them in
    /// order.
    pub fn read_blobs(&self, digests: &[Digest]) -> Result<Vec<Vec<u8>>> {
        let mut out: Vec<Option<Vec<u8>>> = vec![None; digests.len()];
        let mut batch: Vec<usize> = Vec::new();
        let mut batch_bytes = 0i64;
        for (i, d) in digests.iter().enumerate() {
            if d.size_bytes == 0 {
                out[i] = Some(Vec::new());
                continue;
            }
            if d.size_bytes > BATCH_BLOB {
                out[i] = Some(self.read_stream(d)?);
                continue;
            }
            if batch_bytes + d.size_bytes > BATCH_TOTAL && !batch.is_empty() {
                self.batch_read(digests, &std::mem::take(&mut batch), &mut out)?;
                batch_bytes = 0;
            }
            batch_bytes += d.size_bytes;
            batch.push(i);
        }
        if !batch.is_empty() {
            self.batch_read(digests, &batch, &mut out)?;
        }
        Ok(out.into_iter().map(|b| b.unwrap_or_default()).collect())
    }

    /// One blob, checked.
    pub fn read_blob(&self, digest: &Digest) -> Result<Vec<u8>> {
        Ok(self
            .read_blobs(std::slice::from_ref(digest))?
            .pop()
            .unwrap_or_default())
    }

    /// One message, decoded from its checked blob.
    pub fn read_message<M: Message + Default>(&self, digest: &Digest, what: &str) -> Result<M> {
        let bytes = self.read_blob(digest)?;
        M::decode(bytes.as_slice())
            .map_err(|e| integrity(format!("the engine's {what} does not decode: {e}")))
    }

    fn batch_read(
        &self,
        digests: &[Digest],
        which: &[usize],
        out: &mut [Option<Vec<u8>>],
    ) -> Result<()> {
        let req = self.request(re::BatchReadBlobsRequest {
            instance_name: self.instance.clone(),
            digests: which.iter().map(|&i| digests[i].clone()).collect(),
            ..Default::default()
        });
        let answer = self
            .block(async { self.cas().batch_read_blobs(req).await })
            .map_err(|s| self.error("downloading blobs", s))?;
        let mut by_hash: std::collections::HashMap<String, Vec<u8>> = Default::default();
        for r in answer.into_inner().responses {
            let hash = r.digest.map(|d| d.hash).unwrap_or_default();
            match r.status {
                Some(s) if s.code != 0 => {
                    return Err(unavailable(format!(
                        "downloading blob {hash}: the engine answered code {}: {}",
                        s.code, s.message
                    )))
                }
                _ => {
                    by_hash.insert(hash, r.data.to_vec());
                }
            }
        }
        for &i in which {
            let d = &digests[i];
            let data = by_hash.get(&d.hash).cloned().ok_or_else(|| {
                unavailable(format!(
                    "downloading blob {}: the engine did not send it",
                    d.hash
                ))
            })?;
            check(d, &data, "the engine's")?;
            out[i] = Some(data);
        }
        Ok(())
    }

    fn read_stream(&self, digest: &Digest) -> Result<Vec<u8>> {
        let req = self.request(bs::ReadRequest {
            resource_name: format!(
                "{}blobs/{}/{}",
                prefix(&self.instance),
                digest.hash,
                digest.size_bytes
            ),
            read_offset: 0,
            read_limit: 0,
        });
        let data = self
            .block(async {
                let mut stream = self.bytestream().read(req).await?.into_inner();
                let mut data = Vec::with_capacity(digest.size_bytes.max(0) as usize);
                while let Some(chunk) = stream.next().await {
                    data.extend_from_slice(&chunk?.data);
                    if data.len() as i64 > digest.size_bytes {
                        break;
                    }
                }
                Ok::<_, Status>(data)
            })
            .map_err(|s| self.error("downloading a blob", s))?;
        check(digest, &data, "the engine's")?;
        Ok(data)
    }

    /// Executes `action` and follows its operation until it is done; `on_stage` hears each
    /// stage (`QUEUED`, `EXECUTING`). A lost stream is resumed with `WaitExecution`. `deadline`
    /// bounds the whole wait.
    pub fn execute(
        &self,
        action: &Digest,
        deadline: Duration,
        skip_cache_lookup: bool,
        on_stage: &mut (dyn FnMut(&str) + Send),
    ) -> Result<Executed> {
        let started = Instant::now();
        let mut name: Option<String> = None;
        let mut resumes = 0u32;
        let mut lost = 0u32;
        let mut skip_cache_lookup = skip_cache_lookup;
        loop {
            let left = deadline.saturating_sub(started.elapsed());
            if left.is_zero() {
                return Err(Error::new(
                    crate::error::ErrorCode::Timeout,
                    format!(
                        "the remote execution did not finish within {} ms",
                        deadline.as_millis()
                    ),
                ));
            }
            let outcome = self.block(async {
                let mut client = re::execution_client::ExecutionClient::new(self.channel())
                    .max_decoding_message_size(MAX_MESSAGE);
                let mut stream = match &name {
                    None => {
                        let mut req = tonic::Request::new(re::ExecuteRequest {
                            instance_name: self.instance.clone(),
                            action_digest: Some(action.clone()),
                            skip_cache_lookup,
                            ..Default::default()
                        });
                        req.set_timeout(left);
                        client.execute(req).await?.into_inner()
                    }
                    Some(op) => {
                        let mut req =
                            tonic::Request::new(re::WaitExecutionRequest { name: op.clone() });
                        req.set_timeout(left);
                        client.wait_execution(req).await?.into_inner()
                    }
                };
                let mut last: Option<lro::Operation> = None;
                loop {
                    match tokio::time::timeout(left, stream.next()).await {
                        Err(_) => break,
                        Ok(None) => break,
                        Ok(Some(Err(s))) => {
                            if last.is_some() {
                                break;
                            }
                            return Err(s);
                        }
                        Ok(Some(Ok(op))) => {
                            let done = op.done;
                            last = Some(op);
                            if done {
                                break;
                            }
                            let op = last.as_ref().expect("set");
                            if let Some(stage) = stage_of(op) {
                                on_stage(stage);
                            }
                        }
                    }
                }
                Ok::<_, Status>(last)
            });
            match outcome {
                Ok(Some(op)) if op.done => match self.finish(op, resumes)? {
                    Ok(executed) => return Ok(executed),
                    // The worker went away mid-action (a stopped `buildnet worker` completes
                    // its lease so): executed again, past the action cache, a few times.
                    Err(status) if lost < MAX_LOST => {
                        tracing::warn!(code = status.code, message = %status.message, "executing the action again");
                        lost += 1;
                        skip_cache_lookup = true;
                        name = None;
                        continue;
                    }
                    Err(status) => {
                        return Err(unavailable(format!(
                            "the remote execution failed on {}: code {}: {}",
                            self.url, status.code, status.message
                        )))
                    }
                },
                Ok(Some(op)) => name = Some(op.name),
                Ok(None) => {}
                Err(s) if name.is_none() => {
                    return Err(self.error("starting the remote execution", s))
                }
                Err(s) if s.code() == Code::NotFound => {
                    // The engine forgot the operation (restarted): execute again.
                    tracing::warn!(operation = ?name, "the engine lost the operation; executing again");
                    name = None;
                }
                Err(s) => {
                    if resumes >= MAX_RESUMES {
                        return Err(self.error("following the remote execution", s));
                    }
                }
            }
            resumes += 1;
            if resumes > MAX_RESUMES {
                return Err(unavailable(format!(
                    "the remote execution on {} was lost {MAX_RESUMES} times",
                    self.url
                )));
            }
            std::thread::sleep(Duration::from_millis(200 * u64::from(resumes.min(10))));
        }
    }

    /// The result of a finished operation; `Err` with the status when it is `UNAVAILABLE`
    /// (the action may be executed again).
    fn finish(
        &self,
        op: lro::Operation,
        attempts: u32,
    ) -> Result<std::result::Result<Executed, super::rpc::Status>> {
        let response = match op.result {
            Some(lro::operation::Result::Response(any)) => {
                re::ExecuteResponse::decode(any.value.as_slice()).map_err(|e| {
                    integrity(format!("the engine's ExecuteResponse does not decode: {e}"))
                })?
            }
            Some(lro::operation::Result::Error(status)) => {
                return Err(unavailable(format!(
                    "the remote execution failed on {}: code {}: {}",
                    self.url, status.code, status.message
                )))
            }
            None => {
                return Err(unavailable(format!(
                    "the engine at {} finished an operation without a result",
                    self.url
                )))
            }
        };
        if let Some(status) = response.status.filter(|s| s.code != 0) {
            if status.code == Code::Unavailable as i32 {
                return Ok(Err(status));
            }
            return Err(unavailable(format!(
                "the remote execution failed on {}: code {}: {}",
                self.url, status.code, status.message
            )));
        }
        let result = response.result.ok_or_else(|| {
            unavailable(format!("the engine at {} sent no action result", self.url))
        })?;
        super::check_action_result(&result)
            .map_err(|e| integrity(format!("the engine's action result is refused: {e}")))?;
        Ok(Ok(Executed {
            result,
            cached: response.cached_result,
            operation: op.name,
            attempts,
        }))
    }
}

fn stage_of(op: &lro::Operation) -> Option<&'static str> {
    let meta = re::ExecuteOperationMetadata::decode(op.metadata.as_ref()?.value.as_slice()).ok()?;
    Some(
        match re::execution_stage::Value::try_from(meta.stage).ok()? {
            re::execution_stage::Value::CacheCheck => "CACHE_CHECK",
            re::execution_stage::Value::Queued => "QUEUED",
            re::execution_stage::Value::Executing => "EXECUTING",
            re::execution_stage::Value::Completed => "COMPLETED",
            re::execution_stage::Value::Unknown => return None,
        },
    )
}

/// `instance/` (or nothing for the default instance), as resource names start.
pub(crate) fn prefix(instance: &str) -> String {
    if instance.is_empty() {
        String::new()
    } else {
        format!("{instance}/")
    }
}
