//! The `Daemon` facade: start on port 0, status, graceful and idempotent stop, close.

use std::io::{Read, Write};

use buildnet_core::events::Event;
use buildnet_core::{Config, Daemon, ErrorCode};

fn config(dir: &std::path::Path, yaml: &str) -> Config {
    std::fs::write(dir.join("buildnet.yaml"), yaml).unwrap();
    Config::from_file(&dir.join("buildnet.yaml")).unwrap()
}

fn get(address: std::net::SocketAddr, path: &str) -> String {
    let mut s = std::net::TcpStream::connect(address).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

#[test]
fn start_status_stop_lifecycle() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::open(config(dir.path(), "server:\n  port: 0\n")).unwrap();
    let mut events = daemon.subscribe();
    assert_eq!(daemon.status().unwrap().address, None);

    let address = daemon.start().unwrap();
    assert_ne!(address.port(), 0);
    assert_eq!(daemon.start().unwrap(), address, "start is idempotent");
    let status = daemon.status().unwrap();
    assert!(status.running);
    assert_eq!(
        status.address.as_deref(),
        Some(address.to_string().as_str())
    );
    assert_eq!(status.workers.len(), 1);
    assert!(status.read_cache);
    assert!(dir.path().join(".buildnet/daemon.json").is_file());

    let response = get(address, "/health");
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.contains(r#""status":"ok""#));
    let response = get(address, "/api/v1/status");
    assert!(
        response.contains(&format!(r#""address":"{address}""#)),
        "{response}"
    );

    daemon.stop().unwrap();
    daemon.stop().unwrap();
    assert!(std::net::TcpStream::connect(address).is_err());
    assert!(!dir.path().join(".buildnet/daemon.json").exists());
    let status = daemon.status().unwrap();
    assert!(!status.running && status.workers.is_empty());

    let kinds: Vec<Event> = std::iter::from_fn(|| events.try_recv().ok())
        .map(|e| e.event.clone())
        .collect();
    assert_eq!(
        kinds,
        vec![
            Event::DaemonStarted {
                address: address.to_string()
            },
            Event::DaemonStopped
        ]
    );
}

#[test]
fn state_changes_are_events_and_closed_handles_refuse_calls() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::open(config(dir.path(), "")).unwrap();
    let mut events = daemon.subscribe();
    daemon.set_state("k", "v", None).unwrap();
    assert!(daemon.delete_state("k").unwrap());
    assert!(!daemon.delete_state("k").unwrap());
    let lock = daemon.acquire_lock("r", 1000).unwrap().unwrap();
    assert!(daemon.release_lock("r", &lock.token).unwrap());
    let json: Vec<String> = std::iter::from_fn(|| events.try_recv().ok())
        .map(|e| {
            serde_json::to_value(&*e).unwrap()["type"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(
        json,
        vec![
            "state_changed",
            "state_changed",
            "lock_acquired",
            "lock_released"
        ]
    );

    daemon.close().unwrap();
    for err in [
        daemon.get_state("k").unwrap_err(),
        daemon.start().unwrap_err(),
        daemon.status().unwrap_err(),
    ] {
        assert_eq!(err.code(), ErrorCode::InvalidState);
    }
    daemon.close().unwrap();
}

#[test]
fn refuses_off_loopback_without_token_and_a_second_daemon() {
    let dir = tempfile::tempdir().unwrap();
    let open = Daemon::open(config(dir.path(), "server:\n  host: 0.0.0.0\n  port: 0\n")).unwrap();
    assert_eq!(open.start().unwrap_err().code(), ErrorCode::Unauthorized);

    let first = Daemon::open(config(dir.path(), "server:\n  port: 0\n")).unwrap();
    first.start().unwrap();
    let second = Daemon::open(config(dir.path(), "server:\n  port: 0\n")).unwrap();
    let err = second.start().unwrap_err();
    assert_eq!(err.code(), ErrorCode::Busy);
    assert!(err.message().contains("already serves"));
    first.stop().unwrap();
    second.start().unwrap();
    second.stop().unwrap();
}

#[test]
fn hash_workspace_skips_the_state_dir() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::open(config(dir.path(), "")).unwrap();
    daemon.set_state("k", "v", None).unwrap();
    std::fs::write(dir.path().join("a.ts"), "export {}").unwrap();
    let tree = daemon.hash_workspace(&[]).unwrap();
    let paths: Vec<_> = tree.files.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(paths, vec!["a.ts", "buildnet.yaml"]);
}

#[test]
fn builds_through_the_facade_wait_cancel_and_record() {
    use buildnet_core::orchestrator::BuildOptions;
    use std::time::Duration;
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::open(config(
        dir.path(),
        "targets:\n  quick:\n    command: echo hi > out.txt\n    outputs: [out.txt]\n  slow:\n    command: sleep 30\n",
    ))
    .unwrap();
    let id = daemon
        .request_build(&["quick".into()], BuildOptions::default())
        .unwrap();
    let record = daemon
        .wait_build(&id, Some(Duration::from_secs(30)))
        .unwrap();
    assert_eq!(record.status, buildnet_core::BuildStatus::Succeeded);
    assert_eq!(record.targets.len(), 1);
    assert!(!record.targets[0].cached);
    assert!(record.targets[0]
        .cache_key
        .as_deref()
        .is_some_and(|k| k.len() == 64));
    let again = daemon
        .request_build(&["quick".into()], BuildOptions::default())
        .unwrap();
    assert!(daemon.wait_build(&again, None).unwrap().targets[0].cached);

    let slow = daemon
        .request_build(&["slow".into()], BuildOptions::default())
        .unwrap();
    let err = daemon
        .wait_build(&slow, Some(Duration::from_millis(100)))
        .unwrap_err();
    assert_eq!(err.code(), ErrorCode::Timeout);
    assert!(daemon.cancel_build(&slow).unwrap());
    let record = daemon
        .wait_build(&slow, Some(Duration::from_secs(30)))
        .unwrap();
    assert_eq!(record.status, buildnet_core::BuildStatus::Cancelled);
    assert_eq!(
        record.targets[0].status,
        buildnet_core::TargetStatus::Cancelled
    );
    assert!(!daemon.cancel_build(&slow).unwrap(), "already finished");
    assert_eq!(
        daemon.build("nope").unwrap_err().code(),
        ErrorCode::NotFound
    );
    assert_eq!(daemon.list_builds(10).unwrap().len(), 3);
    let err = daemon
        .request_build(&["web".into()], BuildOptions::default())
        .unwrap_err();
    assert_eq!(err.code(), ErrorCode::NotFound);
}
