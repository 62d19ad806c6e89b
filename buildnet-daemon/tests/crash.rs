//! SIGKILL in the middle of thousands of writes loses no acknowledged write and leaves the
//! database sound.

mod common;

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use buildnet_core::{Config, Daemon};
use common::{http, serve, signal, SIGKILL};

#[test]
fn sigkill_during_writes_loses_no_acknowledged_write() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = serve(dir.path(), &[], &[]);
    let address = server.address.clone();
    let acked: Arc<Mutex<HashMap<String, String>>> = Arc::default();
    let total = Arc::new(AtomicUsize::new(0));
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let (address, acked, total) = (address.clone(), Arc::clone(&acked), Arc::clone(&total));
            std::thread::spawn(move || {
                for i in 0.. {
                    let key = format!("w{w}/k{i}");
                    let value = format!("value-{w}-{i}-{}", "x".repeat(i % 97));
                    let body = serde_json::json!({ "value": value }).to_string();
                    let path = format!("/api/v1/state/{key}");
                    let ok = common::try_http_raw(&address, "PUT", &path, Some(&body), &[])
                        .is_ok_and(|(code, _)| code == 200);
                    if !ok {
                        return;
                    }
                    acked.lock().unwrap().insert(key, value);
                    total.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    while total.load(Ordering::Relaxed) < 3000 {
        std::thread::sleep(Duration::from_millis(5));
    }
    signal(&server.child, SIGKILL);
    server.child.wait().unwrap();
    for w in writers {
        w.join().unwrap();
    }
    let acked = acked.lock().unwrap();
    assert!(acked.len() >= 3000);

    let config = Config::from_file(&dir.path().join("buildnet.yaml"))
        .or_else(|_| Config::parse("", None, dir.path()))
        .unwrap();
    let daemon = Daemon::open(config).unwrap();
    assert_eq!(daemon.integrity_check().unwrap(), "ok");
    for (key, value) in acked.iter() {
        assert_eq!(
            daemon.get_state(key).unwrap().as_deref(),
            Some(value.as_str()),
            "{key}"
        );
    }
    // The killed daemon's record does not stop a new one from serving.
    drop(daemon);
    let again = serve(dir.path(), &[], &[]);
    assert_eq!(http(&again.address, "GET", "/health", None, &[]).0, 200);
}
