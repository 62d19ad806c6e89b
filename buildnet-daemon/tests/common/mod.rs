//! Helpers shared by the executable's end-to-end tests: run `buildnet`, start `buildnet serve`,
//! speak HTTP to it.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

pub const BIN: &str = env!("CARGO_BIN_EXE_buildnet");

/// Runs `buildnet ARGS` in `dir` with `envs`.
pub fn run(dir: &Path, args: &[&str], envs: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.args(args).current_dir(dir).env_remove("BUILDNET_TOKEN");
    for (k, v) in envs {
        cmd.env(k, v);
    }
    cmd.output().expect("run buildnet")
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A `buildnet serve` child, killed when dropped.
pub struct Server {
    pub child: Child,
    pub address: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `buildnet serve --port 0` in `dir` and waits for its "listening on" line.
pub fn serve(dir: &Path, extra: &[&str], envs: &[(&str, &str)]) -> Server {
    let mut cmd = Command::new(BIN);
    cmd.arg("serve")
        .args(["--port", "0"])
        .args(extra)
        .current_dir(dir)
        .env_remove("BUILDNET_TOKEN")
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(
            if std::env::var_os("BUILDNET_TEST_SERVE_STDERR").is_some() {
                Stdio::inherit()
            } else {
                Stdio::null()
            },
        );
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("spawn buildnet serve");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let address = line
        .trim()
        .rsplit("http://")
        .next()
        .filter(|_| line.contains("listening on"))
        .unwrap_or_else(|| panic!("serve did not start: {line:?}"))
        .to_string();
    Server { child, address }
}

/// One HTTP request; returns the status and the body parsed as JSON (Null if not JSON).
pub fn http(
    address: &str,
    method: &str,
    path: &str,
    body: Option<&str>,
    headers: &[(&str, &str)],
) -> (u16, serde_json::Value) {
    let (status, body) = http_raw(address, method, path, body, headers);
    (
        status,
        serde_json::from_str(&body).unwrap_or(serde_json::Value::Null),
    )
}

pub fn http_raw(
    address: &str,
    method: &str,
    path: &str,
    body: Option<&str>,
    headers: &[(&str, &str)],
) -> (u16, String) {
    try_http_raw(address, method, path, body, headers).expect("HTTP request")
}

/// One HTTP request, with connection and protocol failures as errors.
pub fn try_http_raw(
    address: &str,
    method: &str,
    path: &str,
    body: Option<&str>,
    headers: &[(&str, &str)],
) -> std::io::Result<(u16, String)> {
    let mut s = TcpStream::connect(address)?;
    s.set_read_timeout(Some(Duration::from_secs(20)))?;
    let head = "HTTP/1.1\r\nConnection: close";
    s.write_all(request_text(head, address, method, path, body, headers).as_bytes())?;
    let mut out = Vec::new();
    s.read_to_end(&mut out)?;
    let text = String::from_utf8_lossy(&out).into_owned();
    let bad = || std::io::Error::new(std::io::ErrorKind::InvalidData, "not an HTTP response");
    let (head, body) = text.split_once("\r\n\r\n").ok_or_else(bad)?;
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(bad)?;
    Ok((status, body.to_string()))
}

/// The text of one request: `version` is the protocol and any header lines right after it.
fn request_text(
    version: &str,
    address: &str,
    method: &str,
    path: &str,
    body: Option<&str>,
    headers: &[(&str, &str)],
) -> String {
    let mut req = format!("{method} {path} {version}\r\nHost: {address}\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    let body = body.unwrap_or("");
    req.push_str(&format!(
        "Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    ));
    req
}

/// Sends `signal` to the child.
pub fn signal(child: &Child, signal: i32) {
    // SAFETY: sending a signal to our own child process by pid.
    let rc = unsafe { libc_kill(child.id() as i32, signal) };
    assert_eq!(rc, 0, "kill failed");
}

extern "C" {
    #[link_name = "kill"]
    fn libc_kill(pid: i32, sig: i32) -> i32;
}

pub const SIGHUP: i32 = 1;
pub const SIGKILL: i32 = 9;
pub const SIGTERM: i32 = 15;

/// Opens a streaming request (HTTP/1.0, so the body is not chunk-framed) and returns the status
/// and a reader positioned at the body.
pub fn open_stream(
    address: &str,
    method: &str,
    path: &str,
    body: Option<&str>,
    headers: &[(&str, &str)],
) -> (u16, BufReader<TcpStream>) {
    let mut s = TcpStream::connect(address).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    s.write_all(request_text("HTTP/1.0", address, method, path, body, headers).as_bytes())
        .unwrap();
    let mut reader = BufReader::new(s);
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    let status = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    loop {
        line.clear();
        if reader.read_line(&mut line).unwrap() == 0 || line == "\r\n" {
            break;
        }
    }
    (status, reader)
}

/// The server-sent events of a stream, as (event name, data), until it ends.
pub fn sse_events(reader: &mut BufReader<TcpStream>) -> Vec<(String, String)> {
    let mut events = Vec::new();
    let (mut name, mut data) = (String::new(), String::new());
    let mut line = String::new();
    loop {
        line.clear();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            break;
        }
        let l = line.trim_end_matches(['\r', '\n']);
        if let Some(v) = l.strip_prefix("event:") {
            name = v.trim().to_string();
        } else if let Some(v) = l.strip_prefix("data:") {
            data.push_str(v.strip_prefix(' ').unwrap_or(v));
        } else if l.is_empty() && !data.is_empty() {
            events.push((std::mem::take(&mut name), std::mem::take(&mut data)));
        }
    }
    events
}

/// Polls `f` every 20 ms until it returns `Some`, for at most `secs` seconds.
pub fn wait_for<T>(secs: u64, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = std::time::Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Waits until build `id` has finished; returns its record.
pub fn wait_build(address: &str, id: &str, headers: &[(&str, &str)]) -> serde_json::Value {
    wait_for(60, "the build to finish", || {
        let (code, body) = http(
            address,
            "GET",
            &format!("/api/v1/builds/{id}"),
            None,
            headers,
        );
        assert_eq!(code, 200, "{body}");
        let status = body["build"]["status"].as_str().unwrap_or("").to_string();
        (status != "queued" && status != "running").then(|| body["build"].clone())
    })
}
