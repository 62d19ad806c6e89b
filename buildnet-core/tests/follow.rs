//! Following one build (`Daemon::prepare_follow`): the one mechanism behind the CLI's progress,
//! the SSE build stream and the log follow.

use std::time::Duration;

use buildnet_core::{BuildOptions, Config, Daemon, Event, Followed};

const WAIT: Option<Duration> = Some(Duration::from_secs(30));

fn daemon(dir: &std::path::Path) -> Daemon {
    std::fs::write(
        dir.join("buildnet.yaml"),
        "targets:\n  a:\n    command: echo a\n  b:\n    command: echo b\n    deps: [a]\n",
    )
    .unwrap();
    Daemon::open(Config::from_file(&dir.join("buildnet.yaml")).unwrap()).unwrap()
}

#[test]
fn a_follower_sees_its_build_alone_in_order_then_the_end() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = daemon(dir.path());
    let pending = daemon.prepare_follow();
    // Not of the build: left out.
    daemon.set_state("k", "v", None).unwrap();
    let id = daemon
        .request_build(&["b".into()], BuildOptions::default())
        .unwrap();
    let mut follow = pending.follow(id.clone());
    let mut kinds = Vec::new();
    loop {
        match follow.next_within(WAIT).unwrap() {
            Followed::Event(env) => {
                assert_eq!(env.event.build_id(), Some(id.as_str()), "{:?}", env.event);
                kinds.push(env.event.kind());
            }
            Followed::End => break,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(kinds.first(), Some(&"build_queued"));
    assert_eq!(kinds.last(), Some(&"build_finished"));
    assert_eq!(kinds.iter().filter(|k| **k == "target_finished").count(), 2);
    assert!(follow.is_over());
    assert!(matches!(follow.next_within(WAIT).unwrap(), Followed::End));
    daemon.close().unwrap();
}

#[test]
fn a_follower_that_lost_the_end_learns_it_from_the_record() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = daemon(dir.path());
    let pending = daemon.prepare_follow();
    let id = daemon
        .request_build(&["a".into()], BuildOptions::default())
        .unwrap();
    daemon.wait_build(&id, WAIT).unwrap();
    // More events than the bus keeps: the build's, `build_finished` included, are lost.
    for i in 0..5_000 {
        daemon.set_state(&format!("k{i}"), "v", None).unwrap();
    }
    let mut follow = pending.follow(id);
    match follow.next_within(WAIT).unwrap() {
        Followed::Lagged { missed, build_over } => {
            assert!(missed > 0);
            assert!(build_over, "the record says the build is over");
        }
        other => panic!("expected a lag, got {other:?}"),
    }
    assert!(matches!(follow.next_within(WAIT).unwrap(), Followed::End));
    daemon.close().unwrap();
}

#[test]
fn a_follower_of_a_running_build_waits_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("buildnet.yaml"),
        "targets:\n  slow:\n    command: sleep 5\n",
    )
    .unwrap();
    let daemon =
        Daemon::open(Config::from_file(&dir.path().join("buildnet.yaml")).unwrap()).unwrap();
    let pending = daemon.prepare_follow();
    let id = daemon
        .request_build(&["slow".into()], BuildOptions::default())
        .unwrap();
    let mut follow = pending.follow(id.clone());
    // Its first events come at once; then nothing while the command runs.
    let mut started = false;
    loop {
        match follow
            .next_within(Some(Duration::from_millis(300)))
            .unwrap()
        {
            Followed::Event(env) => {
                started |= matches!(env.event, Event::TargetStarted { .. });
            }
            Followed::Idle => break,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(started);
    assert!(!follow.is_over());
    daemon.cancel_build(&id).unwrap();
    let mut last = None;
    while let Followed::Event(env) = follow.next_within(WAIT).unwrap() {
        last = Some(env.event.kind());
    }
    assert_eq!(last, Some("build_finished"));
    daemon.close().unwrap();
}
