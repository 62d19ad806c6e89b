//! The daemon's HTTP face over a real `buildnet serve`: builds, logs, workers, artifacts,
//! WebSocket events, metrics, the OpenAPI document, compression and the request guards.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::Duration;

use common::{
    http, http_raw, open_stream, serve, signal, sse_events, wait_build, wait_for, SIGTERM,
};
use serde_json::{json, Value};

const CONFIG: &str = r#"
concurrency: 2
targets:
  lib:
    command: sh -c 'echo building lib; mkdir -p dist; echo lib > dist/out.txt'
    inputs: ["src/**"]
    outputs: ["dist/**"]
  app:
    deps: [lib]
    command: sh -c 'echo hello from app; echo to stderr >&2; mkdir -p out; echo app > out/o.txt'
    inputs: ["app/**"]
    outputs: ["out/**"]
  slow:
    command: sh -c 'echo slow started; sleep 30'
    inputs: ["slow/**"]
    cache: false
  loop-a:
    command: "true"
    deps: [loop-b]
  loop-b:
    command: "true"
    deps: [loop-a]
"#;

fn workspace() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("buildnet.yaml"), CONFIG).unwrap();
    for d in ["src", "app", "slow"] {
        std::fs::create_dir_all(dir.path().join(d)).unwrap();
        std::fs::write(dir.path().join(d).join("input.txt"), d).unwrap();
    }
    dir
}

fn start_build(a: &str, body: &str) -> String {
    let (code, resp) = http(a, "POST", "/api/v1/build", Some(body), &[]);
    assert_eq!(code, 202, "{resp}");
    assert_eq!(resp["success"], true);
    resp["build_id"].as_str().unwrap().to_string()
}

fn target<'a>(build: &'a Value, name: &str) -> &'a Value {
    build["targets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["target"] == name)
        .unwrap_or_else(|| panic!("no target {name} in {build}"))
}

#[test]
fn builds_over_http_with_errors_history_cancel_and_queue() {
    let dir = workspace();
    let server = serve(dir.path(), &[], &[]);
    let a = server.address.as_str();

    // Bad requests are refused with clear messages and nothing runs.
    let (code, body) = http(a, "POST", "/api/v1/build", Some("{\"targets\": ["), &[]);
    assert_eq!(code, 400);
    assert_eq!(body["success"], false);
    assert!(
        body["error"].as_str().unwrap().contains("invalid JSON"),
        "{body}"
    );
    let (code, body) = http(
        a,
        "POST",
        "/api/v1/build",
        Some(r#"{"targets":["nope"]}"#),
        &[],
    );
    assert_eq!(code, 404);
    assert!(body["error"].as_str().unwrap().contains("nope"), "{body}");
    let (code, body) = http(
        a,
        "POST",
        "/api/v1/build",
        Some(r#"{"targets":["loop-a"]}"#),
        &[],
    );
    assert_eq!(code, 422);
    assert!(body["error"].as_str().unwrap().contains("cycle"), "{body}");
    let (code, _) = http(a, "POST", "/api/v1/build", Some(r#"{"targetz":[]}"#), &[]);
    assert_eq!(code, 400);
    let (_, builds) = http(a, "GET", "/api/v1/builds", None, &[]);
    assert_eq!(builds["builds"].as_array().unwrap().len(), 0);

    // A build, then the same build from the cache.
    let id = start_build(a, r#"{"targets":["app"]}"#);
    let build = wait_build(a, &id, &[]);
    assert_eq!(build["status"], "succeeded", "{build}");
    assert_eq!(target(&build, "lib")["status"], "succeeded");
    assert_eq!(target(&build, "app")["cached"], false);
    assert!(target(&build, "app")["duration_ms"].is_i64());
    let id2 = start_build(a, r#"{"targets":["app"],"force":false}"#);
    let build2 = wait_build(a, &id2, &[]);
    assert_eq!(target(&build2, "app")["cached"], true, "{build2}");
    assert_eq!(target(&build2, "lib")["cached"], true);

    // The stored log, with both streams; a cache hit's log is the one kept with its outputs.
    let (code, log) = http_raw(
        a,
        "GET",
        &format!("/api/v1/logs?build={id}&target=app"),
        None,
        &[],
    );
    assert_eq!(code, 200);
    assert!(
        log.contains("hello from app") && log.contains("to stderr"),
        "{log}"
    );
    let (_, log2) = http_raw(
        a,
        "GET",
        &format!("/api/v1/logs?build={id2}&target=app"),
        None,
        &[],
    );
    assert!(log2.contains("hello from app"), "{log2}");
    let (code, _) = http(a, "GET", "/api/v1/logs?build=nope&target=app", None, &[]);
    assert_eq!(code, 404);
    let (code, _) = http(a, "GET", "/api/v1/logs?build=x", None, &[]);
    assert_eq!(code, 400);
    // A finished target's log followed: its lines, then the end.
    let (code, mut stream) = open_stream(
        a,
        "GET",
        &format!("/api/v1/logs?build={id}&target=lib&follow=true"),
        None,
        &[],
    );
    assert_eq!(code, 200);
    let events = sse_events(&mut stream);
    assert_eq!(events[0].0, "line");
    assert_eq!(
        serde_json::from_str::<Value>(&events[0].1).unwrap()["line"],
        "building lib"
    );
    assert_eq!(events.last().unwrap().0, "end");

    // History, newest first.
    let (_, builds) = http(a, "GET", "/api/v1/builds?limit=1", None, &[]);
    let list = builds["builds"].as_array().unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["id"], id2.as_str());

    // A long build: its slot is busy, a second build waits behind it, DELETE cancels both.
    let slow = start_build(a, r#"{"targets":["slow"]}"#);
    let (code, mut live) = open_stream(
        a,
        "GET",
        &format!("/api/v1/logs?build={slow}&target=slow&follow=true"),
        None,
        &[],
    );
    assert_eq!(code, 200);
    wait_for(20, "the slow target to take a slot", || {
        let (_, w) = http(a, "GET", "/api/v1/workers", None, &[]);
        w["slots"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["busy"] == true && s["target"] == "slow")
            .map(|s| assert_eq!(s["build_id"], slow.as_str()))
    });
    let queued = start_build(a, r#"{"targets":["lib"]}"#);
    let (_, status) = http(a, "GET", "/api/v1/status", None, &[]);
    assert_eq!(status["builds"]["running"], json!([slow]), "{status}");
    assert_eq!(status["builds"]["queued"], json!([queued]), "{status}");
    let (_, q) = http(a, "GET", &format!("/api/v1/builds/{queued}"), None, &[]);
    assert_eq!(q["build"]["status"], "queued");
    let (code, body) = http(a, "DELETE", &format!("/api/v1/builds/{queued}"), None, &[]);
    assert_eq!((code, body["cancelled"].clone()), (200, json!(true)));
    let (code, body) = http(a, "DELETE", &format!("/api/v1/builds/{slow}"), None, &[]);
    assert_eq!((code, body["cancelled"].clone()), (200, json!(true)));
    assert_eq!(wait_build(a, &slow, &[])["status"], "cancelled");
    let q = wait_build(a, &queued, &[]);
    assert_eq!(q["status"], "cancelled");
    assert_eq!(target(&q, "lib")["status"], "cancelled");
    // The followed log saw the line live, then the end.
    let events = sse_events(&mut live);
    assert!(
        events
            .iter()
            .any(|(n, d)| n == "line" && d.contains("slow started")),
        "{events:?}"
    );
    assert_eq!(events.last().unwrap().0, "end");
    assert!(events.last().unwrap().1.contains("cancelled"));
    let (code, body) = http(a, "DELETE", &format!("/api/v1/builds/{slow}"), None, &[]);
    assert_eq!((code, body["cancelled"].clone()), (200, json!(false)));
    let (code, _) = http(a, "DELETE", "/api/v1/builds/nope", None, &[]);
    assert_eq!(code, 404);

    // Artifacts, a page at a time.
    let (_, page) = http(a, "GET", "/api/v1/artifacts?limit=1", None, &[]);
    let total = page["total"].as_u64().unwrap();
    assert!(total >= 3, "{page}");
    assert_eq!(page["artifacts"].as_array().unwrap().len(), 1);
    let first = page["artifacts"][0].clone();
    assert!(first["size"].is_u64() && first["last_accessed"].is_i64());
    let (_, page2) = http(a, "GET", "/api/v1/artifacts?offset=1&limit=1000", None, &[]);
    assert_eq!(
        page2["artifacts"].as_array().unwrap().len() as u64,
        total - 1
    );
    assert_ne!(page2["artifacts"][0]["hash"], first["hash"]);

    // Status and metrics agree on what happened.
    let (_, status) = http(a, "GET", "/api/v1/status", None, &[]);
    assert_eq!(status["cache"]["hits"], 2, "{status}");
    assert_eq!(status["cache"]["misses"], 2, "{status}");
    assert_eq!(status["slots"], 2);
    let (code, metrics) = http_raw(a, "GET", "/metrics", None, &[]);
    assert_eq!(code, 200);
    for line in [
        "buildnet_builds_total{status=\"succeeded\"} 2",
        "buildnet_builds_total{status=\"cancelled\"} 2",
        "buildnet_cache_hits_total 2",
        "buildnet_cache_misses_total 2",
        "buildnet_target_duration_seconds_count 2",
    ] {
        assert!(metrics.contains(line), "{line} missing from\n{metrics}");
    }
    assert!(metrics.contains("buildnet_http_responses_total{code=\"4xx\"}"));
}

#[test]
fn build_stream_and_websocket_carry_the_event_bus() {
    let dir = workspace();
    let server = serve(dir.path(), &[], &[]);
    let a = server.address.as_str();

    let (mut ws, _) =
        tungstenite::connect(format!("ws://{a}/ws?types=build_finished,target_finished")).unwrap();
    // POST with stream=true: the build's own events, ending with build_finished.
    let (code, mut stream) = open_stream(
        a,
        "POST",
        "/api/v1/build?stream=true",
        Some(r#"{"targets":["app"]}"#),
        &[],
    );
    assert_eq!(code, 200);
    let events = sse_events(&mut stream);
    assert_eq!(events[0].0, "build");
    let id = serde_json::from_str::<Value>(&events[0].1).unwrap()["build_id"]
        .as_str()
        .unwrap()
        .to_string();
    let types: Vec<String> = events[1..]
        .iter()
        .map(|(_, d)| {
            let v: Value = serde_json::from_str(d).unwrap();
            assert_eq!(v["build_id"], id.as_str());
            v["type"].as_str().unwrap().to_string()
        })
        .collect();
    assert_eq!(types.first().map(String::as_str), Some("build_queued"));
    assert_eq!(types.last().map(String::as_str), Some("build_finished"));
    assert!(types.iter().any(|t| t == "target_log"));

    // The WebSocket saw only the types asked for.
    let mut seen = Vec::new();
    while seen.len() < 3 {
        let msg = ws.read().unwrap();
        if let tungstenite::Message::Text(t) = msg {
            let v: Value = serde_json::from_str(&t).unwrap();
            seen.push(v["type"].as_str().unwrap().to_string());
        }
    }
    assert_eq!(
        seen,
        ["target_finished", "target_finished", "build_finished"]
    );
    // A new filter by message: only state changes now.
    ws.send(tungstenite::Message::Text(
        r#"{"types":["state_changed"]}"#.into(),
    ))
    .unwrap();
    std::thread::sleep(Duration::from_millis(100));
    start_build(a, r#"{"targets":["lib"]}"#);
    let (code, _) = http(
        a,
        "PUT",
        "/api/v1/state/greeting",
        Some(r#"{"value":"hi"}"#),
        &[],
    );
    assert_eq!(code, 200);
    let msg = ws.read().unwrap();
    let v: Value = serde_json::from_str(msg.to_text().unwrap()).unwrap();
    assert_eq!(v["type"], "state_changed", "{v}");
    assert_eq!(v["key"], "greeting");
    assert!(v["seq"].as_u64().unwrap() > 0);
    // A malformed filter is answered, not fatal.
    ws.send(tungstenite::Message::Text("{nope".into())).unwrap();
    let msg = ws.read().unwrap();
    assert!(msg.to_text().unwrap().contains("invalid filter"));

    // SIGTERM with a WebSocket open still stops promptly and cleanly.
    let mut server = server;
    signal(&server.child, SIGTERM);
    let status = wait_for(15, "serve to exit", || server.child.try_wait().unwrap());
    assert!(status.success(), "{status:?}");
}

#[test]
fn sigterm_cancels_running_builds_and_records_them() {
    let dir = workspace();
    let mut server = serve(dir.path(), &[], &[]);
    let a = server.address.clone();
    let id = start_build(&a, r#"{"targets":["slow"]}"#);
    wait_for(20, "the slow target to run", || {
        let (_, b) = http(&a, "GET", &format!("/api/v1/builds/{id}"), None, &[]);
        (target(&b["build"], "slow")["status"] == "running").then_some(())
    });
    signal(&server.child, SIGTERM);
    let status = wait_for(20, "serve to exit", || server.child.try_wait().unwrap());
    assert!(status.success(), "{status:?}");
    let out = common::run(dir.path(), &["builds", "--json"], &[]);
    let rec: Value = serde_json::from_str(common::stdout(&out).lines().next().unwrap()).unwrap();
    assert_eq!(rec["id"], id.as_str());
    assert_eq!(rec["status"], "cancelled");
}

/// Fills in a documented path with values that exist.
fn concrete(path: &str, build: &str) -> String {
    path.replace("{id}", build)
        .replace("{key}", "dir/k1")
        .replace("{resource}", "group/r1")
}

#[test]
fn openapi_document_matches_the_routes() {
    let dir = workspace();
    let server = serve(dir.path(), &[], &[]);
    let a = server.address.as_str();
    let id = start_build(a, r#"{"targets":["lib"]}"#);
    wait_build(a, &id, &[]);
    let (code, doc) = http(a, "GET", "/api/v1/openapi.json", None, &[]);
    assert_eq!(code, 200);
    assert_eq!(doc["openapi"], "3.1.0");
    let paths = doc["paths"].as_object().unwrap();
    assert!(paths.len() >= 18, "{}", paths.len());
    let mut exercised = 0;
    for (path, ops) in paths {
        for (method, op) in ops.as_object().unwrap() {
            let method = method.to_ascii_uppercase();
            let documented: Vec<u16> = op["responses"]
                .as_object()
                .unwrap()
                .keys()
                .map(|k| k.parse().unwrap())
                .collect();
            let mut url = concrete(path, &id);
            if path == "/api/v1/logs" {
                url = format!("{url}?build={id}&target=lib");
            }
            let body = match (method.as_str(), path.as_str()) {
                ("POST", "/api/v1/build") => Some(r#"{"targets":["lib"]}"#),
                ("PUT", _) => Some(r#"{"value":"v"}"#),
                ("POST", _) => Some(r#"{"ttl_ms":60000}"#),
                ("DELETE", "/api/v1/locks/{resource}") => Some(r#"{"token":"wrong"}"#),
                _ => None,
            };
            let (status, text) = http_raw(a, &method, &url, body, &[]);
            assert!(
                documented.contains(&status),
                "{method} {path}: {status} not among {documented:?}: {text}"
            );
            assert!(
                !text.contains("no such route"),
                "{method} {path} is not routed"
            );
            // A request body that breaks the schema is a 400, never a 500.
            if op.get("requestBody").is_some() {
                let (status, _) = http_raw(a, &method, &url, Some("{\"zzz\":1}"), &[]);
                assert_eq!(status, 400, "{method} {path} with an unknown field");
            }
            exercised += 1;
        }
    }
    assert!(exercised >= 22, "{exercised}");
    // And nothing undocumented answers.
    for (method, path) in [
        ("GET", "/api/v1/nope"),
        ("GET", "/api/v2/status"),
        ("POST", "/health"),
    ] {
        let (status, _) = http_raw(a, method, path, None, &[]);
        assert!(status == 404 || status == 405, "{method} {path}: {status}");
    }
}

fn raw(a: &str, request: &str) -> String {
    let mut s = TcpStream::connect(a).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(request.as_bytes()).unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

fn head_of(response: &str) -> String {
    response
        .split("\r\n\r\n")
        .next()
        .unwrap()
        .to_ascii_lowercase()
}

#[test]
fn guards_host_origin_token_and_bad_requests() {
    let dir = workspace();
    let mut config = CONFIG.to_string();
    config.push_str(
        "server:\n  allowed_hosts: [build.internal]\n  allowed_origins: [\"https://ci.example.com\"]\n",
    );
    std::fs::write(dir.path().join("buildnet.yaml"), config).unwrap();
    let server = serve(dir.path(), &[], &[("BUILDNET_TOKEN", "s3cret")]);
    let a = server.address.as_str();
    let port = a.rsplit(':').next().unwrap();
    let auth = ("Authorization", "Bearer s3cret");

    // The token: /health and the dashboard are open, the API, /metrics and /ws are not.
    assert_eq!(http(a, "GET", "/health", None, &[]).0, 200);
    assert_eq!(http_raw(a, "GET", "/", None, &[]).0, 200);
    assert_eq!(http(a, "GET", "/api/v1/status", None, &[]).0, 401);
    assert_eq!(http(a, "GET", "/metrics", None, &[]).0, 401);
    assert_eq!(http(a, "GET", "/api/v1/status", None, &[auth]).0, 200);
    assert!(tungstenite::connect(format!("ws://{a}/ws")).is_err());
    let (mut ws, _) = tungstenite::connect(format!("ws://{a}/ws?access_token=s3cret")).unwrap();
    ws.close(None).unwrap();
    // ?access_token is only taken where headers cannot be set.
    assert_eq!(
        http(a, "GET", "/api/v1/status?access_token=s3cret", None, &[]).0,
        401
    );

    // DNS rebinding: only known Host names.
    let evil = raw(
        a,
        "GET /health HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n",
    );
    assert!(evil.starts_with("HTTP/1.1 421"), "{evil}");
    let ok = raw(
        a,
        &format!(
            "GET /health HTTP/1.1\r\nHost: build.internal:{port}\r\nConnection: close\r\n\r\n"
        ),
    );
    assert!(ok.starts_with("HTTP/1.1 200"), "{ok}");
    let ok = raw(
        a,
        &format!("GET /health HTTP/1.1\r\nHost: localhost:{port}\r\nConnection: close\r\n\r\n"),
    );
    assert!(ok.starts_with("HTTP/1.1 200"), "{ok}");

    // Origins: the page's own and configured ones only; never a wildcard.
    let (code, _) = http(
        a,
        "GET",
        "/api/v1/status",
        None,
        &[auth, ("Origin", "http://evil.example")],
    );
    assert_eq!(code, 403);
    let same = format!("http://{a}");
    let (code, _) = http(a, "GET", "/api/v1/status", None, &[auth, ("Origin", &same)]);
    assert_eq!(code, 200);
    let r = raw(
        a,
        &format!(
            "GET /api/v1/status HTTP/1.1\r\nHost: {a}\r\nOrigin: https://ci.example.com\r\n\
             Authorization: Bearer s3cret\r\nConnection: close\r\n\r\n"
        ),
    );
    let head = head_of(&r);
    assert!(head.starts_with("http/1.1 200"), "{r}");
    assert!(head.contains("access-control-allow-origin: https://ci.example.com"));
    let pre = raw(
        a,
        &format!(
            "OPTIONS /api/v1/build HTTP/1.1\r\nHost: {a}\r\nOrigin: https://ci.example.com\r\n\
             Access-Control-Request-Method: POST\r\nConnection: close\r\n\r\n"
        ),
    );
    let head = head_of(&pre);
    assert!(head.starts_with("http/1.1 204"), "{pre}");
    assert!(head.contains("access-control-allow-methods"));
    let r = raw(
        a,
        &format!("GET /health HTTP/1.1\r\nHost: {a}\r\nConnection: close\r\n\r\n"),
    );
    assert!(!head_of(&r).contains("access-control-allow-origin"));
    // A WebSocket from a foreign page is refused.
    let mut req = tungstenite::client::IntoClientRequest::into_client_request(format!(
        "ws://{a}/ws?access_token=s3cret"
    ))
    .unwrap();
    req.headers_mut()
        .insert("Origin", "http://evil.example".parse().unwrap());
    match tungstenite::connect(req) {
        Err(tungstenite::Error::Http(resp)) => assert_eq!(resp.status(), 403),
        other => panic!("expected a 403, got {other:?}"),
    }

    // Malformed requests get answers and never take the daemon down.
    for junk in [
        "GARBAGE\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: \u{1}\u{2}\r\n\r\n",
        "GET /api/v1/status HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer \u{ff}\r\n\r\n",
        "GET /health HTTP/1.1\r\n\r\n",
        "POST /api/v1/build HTTP/1.1\r\nHost: localhost\r\nContent-Length: 99999999999\r\n\r\n",
    ] {
        let _ = raw(a, junk);
    }
    let big = raw(
        a,
        &format!(
            "PUT /api/v1/state/k HTTP/1.1\r\nHost: {a}\r\nAuthorization: Bearer s3cret\r\n\
             Content-Length: 9000000\r\nConnection: close\r\n\r\n"
        ),
    );
    assert!(big.starts_with("HTTP/1.1 413"), "{big}");
    let no_host = raw(a, "GET /health HTTP/1.0\r\n\r\n");
    assert!(no_host.starts_with("HTTP/1.0 400"), "{no_host}");
    assert_eq!(http(a, "GET", "/health", None, &[]).0, 200);
}

#[test]
fn responses_that_benefit_are_compressed() {
    let dir = workspace();
    let server = serve(dir.path(), &[], &[]);
    let a = server.address.as_str();
    let r = raw(
        a,
        &format!(
            "GET /api/v1/openapi.json HTTP/1.1\r\nHost: {a}\r\nAccept-Encoding: gzip\r\n\
             Connection: close\r\n\r\n"
        ),
    );
    assert!(
        head_of(&r).contains("content-encoding: gzip"),
        "{}",
        head_of(&r)
    );
    // Decompressed, it is the document.
    let mut s = TcpStream::connect(a).unwrap();
    s.write_all(
        format!("GET /assets/socket.js HTTP/1.0\r\nHost: {a}\r\nAccept-Encoding: gzip\r\n\r\n")
            .as_bytes(),
    )
    .unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).unwrap();
    let split = out.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&out[..split]).to_ascii_lowercase();
    assert!(head.contains("content-encoding: gzip"), "{head}");
    assert!(head.contains("content-security-policy: default-src 'self'"));
    let mut js = String::new();
    flate2::read::GzDecoder::new(&out[split + 4..])
        .read_to_string(&mut js)
        .unwrap();
    assert!(js.len() > 1000 && js.contains("WebSocket"));
    // Tiny answers and clients that do not ask are left alone.
    let r = raw(
        a,
        &format!(
            "GET /health HTTP/1.1\r\nHost: {a}\r\nAccept-Encoding: gzip\r\nConnection: close\r\n\r\n"
        ),
    );
    assert!(!head_of(&r).contains("content-encoding"));
    let r = raw(
        a,
        &format!("GET /api/v1/openapi.json HTTP/1.1\r\nHost: {a}\r\nConnection: close\r\n\r\n"),
    );
    assert!(!head_of(&r).contains("content-encoding"));
    let _ = Path::new(".");
}

#[test]
fn a_concurrency_out_of_range_is_refused_and_the_daemon_keeps_serving() {
    let dir = workspace();
    let server = serve(dir.path(), &[], &[]);
    let a = server.address.as_str();
    for n in ["0", "1025", "1000000000000"] {
        let body = format!("{{\"targets\": [\"lib\"], \"concurrency\": {n}}}");
        let (code, resp) = http(a, "POST", "/api/v1/build", Some(&body), &[]);
        assert_eq!(code, 400, "{n}: {resp}");
        assert!(
            resp["error"].as_str().unwrap().contains("concurrency"),
            "{n}: {resp}"
        );
    }
    // Every other number a request carries is bounded too, and named when refused.
    let refused: [(&str, &str, Option<&str>, &str); 9] = [
        ("GET", "/api/v1/builds?limit=0", None, "limit"),
        ("GET", "/api/v1/builds?limit=1001", None, "limit"),
        ("GET", "/api/v1/artifacts?limit=100000000", None, "limit"),
        (
            "GET",
            "/api/v1/artifacts?offset=18446744073709551615",
            None,
            "offset",
        ),
        ("GET", "/api/v1/state?limit=10001", None, "limit"),
        (
            "PUT",
            "/api/v1/state/k",
            Some(r#"{"value": "v", "ttl_ms": 0}"#),
            "ttl_ms",
        ),
        (
            "PUT",
            "/api/v1/state/k",
            Some(r#"{"value": "v", "ttl_ms": 18446744073709551615}"#),
            "ttl_ms",
        ),
        (
            "POST",
            "/api/v1/locks/r",
            Some(r#"{"ttl_ms": 18446744073709551615}"#),
            "ttl_ms",
        ),
        (
            "POST",
            "/api/v1/locks/r",
            Some(r#"{"ttl_ms": 0}"#),
            "ttl_ms",
        ),
    ];
    for (method, path, body, field) in refused {
        let (code, resp) = http(a, method, path, body, &[]);
        assert_eq!(code, 400, "{method} {path} {body:?}: {resp}");
        assert!(resp.to_string().contains(field), "{method} {path}: {resp}");
    }
    let (code, _) = http(a, "GET", "/health", None, &[]);
    assert_eq!(code, 200, "the daemon stopped serving");
    let id = start_build(a, r#"{"targets": ["lib"], "concurrency": 1024}"#);
    assert_eq!(wait_build(a, &id, &[])["status"], "succeeded");
}
