//! `buildnet serve` as a real process: HTTP API, token, signals, status.

mod common;

use common::{http, run, serve, signal, stdout, SIGHUP, SIGTERM};
use std::time::{Duration, Instant};

fn wait_exit(child: &mut std::process::Child) -> std::process::ExitStatus {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(Instant::now() < deadline, "serve did not exit");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn health_status_and_state_api() {
    let dir = tempfile::tempdir().unwrap();
    let server = serve(dir.path(), &[], &[]);
    let a = server.address.as_str();
    assert!(a.starts_with("127.0.0.1:"), "{a}");

    let (code, body) = http(a, "GET", "/health", None, &[]);
    assert_eq!(code, 200);
    assert_eq!(
        body,
        serde_json::json!({"status": "ok", "version": env!("CARGO_PKG_VERSION")})
    );

    let (code, body) = http(a, "GET", "/api/v1/status", None, &[]);
    assert_eq!(code, 200);
    assert_eq!(body["success"], true);
    assert_eq!(body["address"], a);
    assert_eq!(body["running"], true);
    assert_eq!(body["workers"].as_array().unwrap().len(), 1);

    let (code, _) = http(
        a,
        "PUT",
        "/api/v1/state/app/config",
        Some(r#"{"value":"v1"}"#),
        &[],
    );
    assert_eq!(code, 200);
    let (code, body) = http(a, "GET", "/api/v1/state/app/config", None, &[]);
    assert_eq!((code, body["value"].as_str()), (200, Some("v1")));
    // Another process changes the key: the daemon's read cache must not serve the old value.
    assert!(run(dir.path(), &["kv", "set", "app/config", "v2"], &[])
        .status
        .success());
    let (_, body) = http(a, "GET", "/api/v1/state/app/config", None, &[]);
    assert_eq!(body["value"], "v2");
    assert!(run(dir.path(), &["kv", "del", "app/config"], &[])
        .status
        .success());
    assert_eq!(http(a, "GET", "/api/v1/state/app/config", None, &[]).0, 404);
    assert!(run(dir.path(), &["kv", "set", "app/config", "v1"], &[])
        .status
        .success());
    let (code, body) = http(a, "GET", "/api/v1/state/missing", None, &[]);
    assert_eq!((code, body["success"].as_bool()), (404, Some(false)));
    assert!(body["error"].as_str().unwrap().contains("missing"));
    let (code, body) = http(a, "PUT", "/api/v1/state/k", Some("{not json"), &[]);
    assert_eq!(code, 400);
    assert!(body["error"].as_str().unwrap().contains("invalid JSON"));
    let (code, _) = http(
        a,
        "PUT",
        "/api/v1/state/k",
        Some(r#"{"value":"v","ttl_ms":0}"#),
        &[],
    );
    assert_eq!(code, 400);
    let (code, body) = http(a, "GET", "/api/v1/state?prefix=app/", None, &[]);
    assert_eq!(code, 200);
    assert_eq!(body["entries"][0]["key"], "app/config");
    let (code, body) = http(a, "DELETE", "/api/v1/state/app/config", None, &[]);
    assert_eq!((code, body["deleted"].as_bool()), (200, Some(true)));

    let (code, lock) = http(
        a,
        "POST",
        "/api/v1/locks/deploy",
        Some(r#"{"ttl_ms":60000}"#),
        &[],
    );
    assert_eq!(code, 200);
    let token = lock["token"].as_str().unwrap().to_string();
    let (code, _) = http(
        a,
        "POST",
        "/api/v1/locks/deploy",
        Some(r#"{"ttl_ms":60000}"#),
        &[],
    );
    assert_eq!(code, 409);
    let (code, listed) = http(a, "GET", "/api/v1/locks", None, &[]);
    assert_eq!(code, 200);
    assert!(
        listed["locks"][0].get("token").is_none(),
        "tokens must not be listed"
    );
    let body = format!(r#"{{"token":"{token}"}}"#);
    let (code, _) = http(a, "DELETE", "/api/v1/locks/deploy", Some(&body), &[]);
    assert_eq!(code, 200);

    // The CLI finds the daemon through daemon.json.
    let o = run(dir.path(), &["status"], &[]);
    assert!(o.status.success());
    assert!(
        stdout(&o).contains(&format!("running at http://{a}")),
        "{}",
        stdout(&o)
    );
}

#[test]
fn oversized_and_malformed_requests_do_not_take_it_down() {
    let dir = tempfile::tempdir().unwrap();
    let server = serve(dir.path(), &[], &[]);
    let a = server.address.as_str();
    use std::io::{Read, Write};
    // The declared length alone is refused; the body is never read (sending it would race the
    // server closing the connection).
    let mut s = std::net::TcpStream::connect(a).unwrap();
    write!(
        s,
        "PUT /api/v1/state/big HTTP/1.1\r\nHost: {a}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        9 * 1024 * 1024
    )
    .unwrap();
    let mut head = [0u8; 12];
    s.read_exact(&mut head).unwrap();
    assert_eq!(&head, b"HTTP/1.1 413");
    assert_eq!(http(a, "GET", "/api/v1/state/big", None, &[]).0, 404);
    let mut s = std::net::TcpStream::connect(a).unwrap();
    s.write_all(b"GARBAGE \x00\xff\r\n\r\n").unwrap();
    let mut sink = Vec::new();
    let _ = s.read_to_end(&mut sink);
    let (code, _) = http(a, "GET", "/nope", None, &[]);
    assert_eq!(code, 404);
    assert_eq!(http(a, "GET", "/health", None, &[]).0, 200);
}

#[test]
fn token_is_required_when_set_and_off_loopback_needs_one() {
    let dir = tempfile::tempdir().unwrap();
    let server = serve(dir.path(), &[], &[("BUILDNET_TOKEN", "s3cret")]);
    let a = server.address.as_str();
    assert_eq!(http(a, "GET", "/api/v1/status", None, &[]).0, 401);
    let wrong = [("Authorization", "Bearer nope")];
    assert_eq!(http(a, "GET", "/api/v1/status", None, &wrong).0, 401);
    let right = [("Authorization", "Bearer s3cret")];
    assert_eq!(http(a, "GET", "/api/v1/status", None, &right).0, 200);
    assert_eq!(http(a, "GET", "/health", None, &[]).0, 200);
    let o = run(dir.path(), &["status"], &[("BUILDNET_TOKEN", "s3cret")]);
    assert!(o.status.success());
    drop(server);

    let other = tempfile::tempdir().unwrap();
    let o = run(
        other.path(),
        &["serve", "--host", "0.0.0.0", "--port", "0"],
        &[],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(
        common::stderr(&o).contains("without a token"),
        "{}",
        common::stderr(&o)
    );
}

#[test]
fn a_second_daemon_on_the_same_workspace_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let _first = serve(dir.path(), &[], &[]);
    let o = run(dir.path(), &["serve", "--port", "0"], &[]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        common::stderr(&o).contains("already serves"),
        "{}",
        common::stderr(&o)
    );
}

#[test]
fn sighup_reloads_config_and_sigterm_exits_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("buildnet.yaml"), "targets: {}\n").unwrap();
    let mut server = serve(d, &[], &[]);
    let a = server.address.clone();
    let token_before = http(&a, "GET", "/api/v1/status", None, &[]).0;
    assert_eq!(token_before, 200);
    // Reloading picks up a token from the file: the API now needs it.
    std::fs::write(d.join("buildnet.yaml"), "server:\n  token: fresh\n").unwrap();
    signal(&server.child, SIGHUP);
    let deadline = Instant::now() + Duration::from_secs(10);
    while http(&a, "GET", "/api/v1/status", None, &[]).0 != 401 {
        assert!(
            Instant::now() < deadline,
            "SIGHUP did not reload the config"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // A broken file on reload keeps the old config and the daemon.
    std::fs::write(d.join("buildnet.yaml"), "server: [\n").unwrap();
    signal(&server.child, SIGHUP);
    std::thread::sleep(Duration::from_millis(200));
    let auth = [("Authorization", "Bearer fresh")];
    assert_eq!(http(&a, "GET", "/api/v1/status", None, &auth).0, 200);

    signal(&server.child, SIGTERM);
    let status = wait_exit(&mut server.child);
    assert!(status.success(), "{status:?}");
    assert!(!d.join(".buildnet/daemon.json").exists());
    assert!(std::net::TcpStream::connect(&a).is_err());
}
