//! The remote caches `buildnet serve` serves, over real HTTP: Turborepo v8, Nx's self-hosted
//! cache and Bazel's HTTP cache; who may read and write them; bodies that are too large, badly
//! signed, misnamed or corrupt; and their counters. The real clients (turbo, nx, Bazel) are
//! driven by `tests/remote-cache/run.sh`.

mod common;

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use base64::Engine;
use common::serve;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

struct Answer {
    status: u16,
    headers: HashMap<String, String>,
    body: Vec<u8>,
}

impl Answer {
    fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// One request with a binary body; `length: false` sends it chunked instead.
fn send(
    address: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    length: bool,
) -> Answer {
    let mut s = TcpStream::connect(address).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n");
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    if length {
        head.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
        s.write_all(head.as_bytes()).unwrap();
        // The server may answer (and close) before reading a refused body.
        let _ = s.write_all(body);
    } else {
        head.push_str("Transfer-Encoding: chunked\r\n\r\n");
        s.write_all(head.as_bytes()).unwrap();
        for piece in body.chunks(64 * 1024) {
            let _ = s.write_all(format!("{:x}\r\n", piece.len()).as_bytes());
            let _ = s.write_all(piece);
            let _ = s.write_all(b"\r\n");
        }
        let _ = s.write_all(b"0\r\n\r\n");
    }
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let split = out
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("an HTTP answer");
    let head = String::from_utf8_lossy(&out[..split]).into_owned();
    let mut lines = head.lines();
    let status = lines.next().unwrap().split_whitespace().nth(1).unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    Answer {
        status: status.parse().unwrap(),
        headers,
        body: out[split + 4..].to_vec(),
    }
}

fn get(address: &str, path: &str, headers: &[(&str, &str)]) -> Answer {
    send(address, "GET", path, headers, b"", true)
}

fn put(address: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Answer {
    send(address, "PUT", path, headers, body, true)
}

fn workspace(config: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("buildnet.yaml"), config).unwrap();
    dir
}

fn sha256_hex(data: &[u8]) -> String {
    Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// turbo 2.11's `x-artifact-tag`.
fn turbo_tag(key: &str, hash: &str, team_id: &str, body: &[u8]) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key.as_bytes()).unwrap();
    for field in [
        &b"artifact-signature:v2"[..],
        hash.as_bytes(),
        team_id.as_bytes(),
        body,
    ] {
        mac.update(&(field.len() as u64).to_le_bytes());
        mac.update(field);
    }
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

fn metric(address: &str, name: &str, protocol: &str, auth: &[(&str, &str)]) -> f64 {
    let text = get(address, "/metrics", auth).text();
    let series = format!("{name}{{protocol=\"{protocol}\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(series.as_str()))
        .unwrap_or_else(|| panic!("no {series} in {text}"))
        .parse()
        .unwrap()
}

#[test]
fn turborepo_v8_round_trip_with_teams_metadata_batch_query_and_events() {
    let dir = workspace("targets: {}\n");
    let server = serve(dir.path(), &[], &[]);
    let a = server.address.as_str();

    let status = get(a, "/v8/artifacts/status?slug=team_x", &[]);
    assert_eq!(status.status, 200);
    assert_eq!(status.json()["status"], "enabled");

    let miss = get(a, "/v8/artifacts/0123456789abcdef?slug=team_x", &[]);
    assert_eq!(miss.status, 404);
    assert_eq!(miss.json()["error"]["code"], "not_found");

    let body: Vec<u8> = (0..70_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let stored = put(
        a,
        "/v8/artifacts/0123456789abcdef?slug=team_x",
        &[
            ("Content-Type", "application/octet-stream"),
            ("x-artifact-duration", "409"),
            ("x-artifact-sha", "4b825dc642cb6eb9a060e54bf8d69288fbee4904"),
            ("x-artifact-dirty-hash", &"d".repeat(64)),
        ],
        &body,
    );
    assert_eq!(stored.status, 200, "{}", stored.text());
    assert_eq!(stored.json()["urls"][0], "team_x/0123456789abcdef");

    let hit = get(a, "/v8/artifacts/0123456789abcdef?slug=team_x", &[]);
    assert_eq!(hit.status, 200);
    assert_eq!(hit.body, body);
    assert_eq!(hit.headers["content-type"], "application/octet-stream");
    assert_eq!(hit.headers["x-artifact-duration"], "409");
    assert_eq!(
        hit.headers["x-artifact-sha"],
        "4b825dc642cb6eb9a060e54bf8d69288fbee4904"
    );
    assert_eq!(hit.headers["x-artifact-dirty-hash"], "d".repeat(64));
    let head = send(
        a,
        "HEAD",
        "/v8/artifacts/0123456789abcdef?slug=team_x",
        &[],
        b"",
        true,
    );
    assert_eq!(head.status, 200);
    assert_eq!(head.headers["content-length"], body.len().to_string());
    assert!(head.body.is_empty());

    // Each team is its own namespace, whether named by teamId or slug (as ducktors' server).
    for other in ["slug=team_y", ""] {
        let path = format!("/v8/artifacts/0123456789abcdef?{other}");
        assert_eq!(get(a, &path, &[]).status, 404, "{other}");
    }
    let by_id = get(a, "/v8/artifacts/0123456789abcdef?teamId=team_x", &[]);
    assert_eq!(by_id.body, body);

    let query = send(
        a,
        "POST",
        "/v8/artifacts?slug=team_x",
        &[("Content-Type", "application/json")],
        br#"{"hashes":["0123456789abcdef","fedcba9876543210"]}"#,
        true,
    );
    assert_eq!(query.status, 200);
    let q = query.json();
    assert_eq!(q["0123456789abcdef"]["size"], body.len());
    assert_eq!(q["0123456789abcdef"]["taskDurationMs"], 409);
    assert!(q["fedcba9876543210"].is_null(), "{q}");

    let events = br#"[{"sessionId":"8c8a4c1e-0000-4000-8000-000000000000","source":"REMOTE","event":"HIT","hash":"0123456789abcdef","duration":3}]"#;
    let posted = send(
        a,
        "POST",
        "/v8/artifacts/events?slug=team_x",
        &[],
        events,
        true,
    );
    assert_eq!(posted.status, 200);
    let junk = send(
        a,
        "POST",
        "/v8/artifacts/events?slug=team_x",
        &[],
        b"{",
        true,
    );
    assert_eq!(junk.status, 400);
    assert_eq!(junk.json()["error"]["code"], "bad_request");

    // Malformed keys and headers are refused and nothing is stored.
    let bad = put(a, "/v8/artifacts/has%20space?slug=team_x", &[], b"x");
    assert_eq!(bad.status, 400);
    let bad = put(
        a,
        "/v8/artifacts/aaaa?slug=team_x",
        &[("x-artifact-duration", "soon")],
        b"x",
    );
    assert_eq!(bad.status, 400, "{}", bad.text());
    assert!(bad.json()["error"]["message"]
        .as_str()
        .unwrap()
        .contains("x-artifact-duration"));
    assert_eq!(get(a, "/v8/artifacts/aaaa?slug=team_x", &[]).status, 404);

    assert_eq!(
        metric(a, "buildnet_remote_cache_hits_total", "turbo", &[]),
        2.0
    );
    assert_eq!(
        metric(a, "buildnet_remote_cache_misses_total", "turbo", &[]),
        4.0
    );
    assert_eq!(
        metric(a, "buildnet_remote_cache_bytes_in_total", "turbo", &[]),
        body.len() as f64
    );
    assert_eq!(
        metric(a, "buildnet_remote_cache_bytes_out_total", "turbo", &[]),
        2.0 * body.len() as f64
    );
    assert_eq!(
        metric(a, "buildnet_remote_cache_refusals_total", "turbo", &[]),
        3.0
    );
}

const TOKENS: &str = r#"
targets: {}
server:
  token: admin-token
  cache_tokens:
    - {token: ci-write, access: read-write}
    - {token: pr-read, access: read}
    - {token: team-a-only, access: read-write, teams: [team_a]}
"#;

#[test]
fn tokens_decide_who_reads_and_writes_in_each_protocols_shape() {
    let dir = workspace(TOKENS);
    let server = serve(dir.path(), &[], &[]);
    let a = server.address.as_str();
    let bearer = |t: &str| format!("Bearer {t}");
    let turbo = "/v8/artifacts/abc123?slug=team_a";
    let nx = "/v1/cache/1234567890";
    let cas_body = b"hello bazel";
    let cas = format!("/cas/{}", sha256_hex(cas_body));

    // Missing and wrong tokens: 401 everywhere, in each shape.
    for token in [None, Some("nope")] {
        let auth = token.map(bearer);
        let h: Vec<(&str, &str)> = auth.iter().map(|v| ("Authorization", v.as_str())).collect();
        let t = put(a, turbo, &h, b"x");
        assert_eq!(t.status, 401);
        assert_eq!(t.json()["error"]["code"], "unauthorized");
        assert_eq!(put(a, nx, &h, b"x").status, 401);
        assert_eq!(put(a, &cas, &h, cas_body).status, 401);
        assert_eq!(get(a, turbo, &h).status, 401);
    }

    // A read-only token reads but every write is refused with 403.
    let pr = bearer("pr-read");
    let pr = [("Authorization", pr.as_str())];
    let t = put(a, turbo, &pr, b"poison");
    assert_eq!(t.status, 403);
    assert_eq!(t.json()["error"]["code"], "forbidden");
    let n = put(a, nx, &pr, b"poison");
    assert_eq!(n.status, 403);
    assert!(n.text().contains("read-only"), "{}", n.text());
    assert_eq!(put(a, &cas, &pr, cas_body).status, 403);
    assert_eq!(get(a, turbo, &pr).status, 404);

    // The writer stores; the reader then reads what the writer stored.
    let ci = bearer("ci-write");
    let ci = [("Authorization", ci.as_str())];
    assert_eq!(put(a, turbo, &ci, b"good").status, 200);
    assert_eq!(put(a, nx, &ci, b"good").status, 200);
    assert_eq!(put(a, &cas, &ci, cas_body).status, 200);
    assert_eq!(get(a, turbo, &pr).body, b"good");
    assert_eq!(get(a, nx, &pr).body, b"good");
    assert_eq!(get(a, &cas, &pr).body, cas_body);

    // The admin token does everything; Basic auth carries a token as its password.
    let admin = bearer("admin-token");
    assert_eq!(
        get(a, turbo, &[("Authorization", admin.as_str())]).body,
        b"good"
    );
    let basic = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode("bazel:pr-read")
    );
    assert_eq!(
        get(a, &cas, &[("Authorization", basic.as_str())]).status,
        200
    );

    // A token bound to team_a reaches team_a only, and is its own namespace for Nx.
    let ta = bearer("team-a-only");
    let ta = [("Authorization", ta.as_str())];
    assert_eq!(get(a, turbo, &ta).body, b"good");
    let other = get(a, "/v8/artifacts/abc123?slug=team_b", &ta);
    assert_eq!(other.status, 403);
    assert_eq!(other.json()["error"]["code"], "forbidden");
    assert_eq!(
        put(a, "/v8/artifacts/abc123?teamId=team_b", &ta, b"x").status,
        403
    );
    assert_eq!(
        get(a, nx, &ta).status,
        404,
        "the shared Nx namespace is not team_a's"
    );
    assert_eq!(put(a, nx, &ta, b"team a").status, 200);
    assert_eq!(get(a, nx, &ta).body, b"team a");
    assert_eq!(get(a, nx, &ci).body, b"good");
    assert_eq!(get(a, &format!("/team_b{cas}"), &ta).status, 403);

    // The API itself still takes the admin token only.
    assert_eq!(get(a, "/api/v1/status", &ci).status, 401);
    let auth = [("Authorization", admin.as_str())];
    assert!(metric(a, "buildnet_remote_cache_refusals_total", "turbo", &auth) >= 7.0);
    assert!(metric(a, "buildnet_remote_cache_refusals_total", "nx", &auth) >= 3.0);
}

#[test]
fn nx_first_write_wins_and_answers_200_then_409() {
    let dir = workspace("targets: {}\n");
    let server = serve(dir.path(), &[], &[]);
    let a = server.address.as_str();
    let path = "/v1/cache/2346605085332193281";
    assert_eq!(get(a, path, &[]).status, 404);
    let first = put(
        a,
        path,
        &[("Content-Type", "application/octet-stream")],
        b"one",
    );
    assert_eq!(first.status, 200);
    assert!(first.body.is_empty());
    let second = put(a, path, &[], b"two");
    assert_eq!(second.status, 409);
    assert!(second.text().contains("Cannot override"));
    let got = get(a, path, &[("Accept", "application/octet-stream")]);
    assert_eq!(got.status, 200);
    assert_eq!(got.body, b"one");
}

#[test]
fn bazel_cas_checks_digests_and_the_action_cache_takes_only_action_results() {
    let dir = workspace("targets: {}\n");
    let server = serve(dir.path(), &[], &[]);
    let a = server.address.as_str();
    let blob = b"tr a-z A-Z output\n";
    let name = sha256_hex(blob);

    let wrong = put(a, &format!("/cas/{}", sha256_hex(b"other")), &[], blob);
    assert_eq!(wrong.status, 400);
    assert!(wrong.text().contains("hashes to"), "{}", wrong.text());
    assert_eq!(
        get(a, &format!("/cas/{}", sha256_hex(b"other")), &[]).status,
        404
    );
    assert_eq!(put(a, "/cas/NOTHEX", &[], blob).status, 400);

    assert_eq!(put(a, &format!("/cas/{name}"), &[], blob).status, 200);
    assert_eq!(get(a, &format!("/cas/{name}"), &[]).body, blob);
    let head = send(a, "HEAD", &format!("/cas/{name}"), &[], b"", true);
    assert_eq!(
        (head.status, head.headers["content-length"].as_str()),
        (200, "18")
    );
    let empty = sha256_hex(b"");
    assert_eq!(get(a, &format!("/cas/{empty}"), &[]).status, 200);

    // An ActionResult: output_files { path: "out/hello.txt", digest { hash, size } }.
    let mut digest = vec![0x0a, 64];
    digest.extend_from_slice(name.as_bytes());
    digest.extend_from_slice(&[0x10, blob.len() as u8]);
    let mut file = vec![0x0a, 13];
    file.extend_from_slice(b"out/hello.txt");
    file.push(0x12);
    file.push(digest.len() as u8);
    file.extend_from_slice(&digest);
    let mut result = vec![0x12, file.len() as u8];
    result.extend_from_slice(&file);
    let action = sha256_hex(b"the action");
    assert_eq!(put(a, &format!("/ac/{action}"), &[], &result).status, 200);
    assert_eq!(get(a, &format!("/ac/{action}"), &[]).body, result);
    let junk = put(
        a,
        &format!("/ac/{}", sha256_hex(b"junk")),
        &[],
        b"\xff\xff\xff",
    );
    assert_eq!(junk.status, 400);
    assert!(junk.text().contains("ActionResult"), "{}", junk.text());

    // Instance names are namespaces; BuildNet's own path names are not instance names.
    assert_eq!(get(a, &format!("/main/cas/{name}"), &[]).status, 404);
    assert_eq!(put(a, &format!("/main/cas/{name}"), &[], blob).status, 200);
    assert_eq!(get(a, &format!("/main/cas/{name}"), &[]).body, blob);
    assert_eq!(get(a, &format!("/api/cas/{name}"), &[]).status, 400);
}

#[test]
fn oversized_and_short_bodies_are_refused_and_large_ones_stream_verified() {
    let dir = workspace("targets: {}\ncache:\n  max_artifact_bytes: 20000000\n");
    let server = serve(dir.path(), &[], &[]);
    let a = server.address.as_str();
    let big: Vec<u8> = (0..20_000_001u32).map(|i| (i % 253) as u8).collect();
    for length in [true, false] {
        let refused = send(a, "PUT", "/v8/artifacts/big", &[], &big, length);
        assert_eq!(refused.status, 413, "length={length}");
        assert_eq!(refused.json()["error"]["code"], "payload_too_large");
        assert_eq!(get(a, "/v8/artifacts/big", &[]).status, 404);
    }

    // 16 MiB, chunked: stored, then served whole and identical.
    let large = &big[..16 * 1024 * 1024];
    let stored = send(a, "PUT", "/v8/artifacts/large", &[], large, false);
    assert_eq!(stored.status, 200, "{}", stored.text());
    let got = get(a, "/v8/artifacts/large", &[]);
    assert_eq!(got.status, 200);
    assert_eq!(got.body.len(), large.len());
    assert!(got.body == large);

    // A blob damaged on disk is never served whole: a large one is cut short, a small one
    // answers 404, and both are gone afterwards.
    assert_eq!(
        put(a, "/v8/artifacts/small", &[], b"small body").status,
        200
    );
    let cas = dir.path().join(".buildnet/cas");
    for hash in [
        blake3::hash(large).to_hex().to_string(),
        blake3::hash(b"small body").to_hex().to_string(),
    ] {
        let path = cas.join(&hash[..2]).join(&hash[2..]);
        let mut data = std::fs::read(&path).unwrap();
        let mid = data.len() / 2;
        data[mid] ^= 0xff;
        std::fs::write(&path, data).unwrap();
    }
    let cut = get(a, "/v8/artifacts/large", &[]);
    assert!(
        cut.body.len() < large.len(),
        "a corrupt blob was served whole"
    );
    assert_eq!(get(a, "/v8/artifacts/small", &[]).status, 404);
    assert_eq!(get(a, "/v8/artifacts/large", &[]).status, 404);
}

#[test]
fn signed_artifacts_are_checked_before_they_are_stored() {
    let key = "0123456789abcdef0123456789abcdef";
    let dir = workspace("targets: {}\n");
    let server = serve(dir.path(), &[], &[("BUILDNET_CACHE_SIGNATURE_KEY", key)]);
    let a = server.address.as_str();
    let body = b"an artifact".to_vec();
    let hash = "8ee5a26b7d02d970";
    let path = format!("/v8/artifacts/{hash}?teamId=team_abc");

    let unsigned = put(a, &path, &[], &body);
    assert_eq!(unsigned.status, 400);
    assert!(unsigned.text().contains("x-artifact-tag is missing"));
    let forged = turbo_tag("another key of thirty-two bytes!", hash, "team_abc", &body);
    let wrong = put(a, &path, &[("x-artifact-tag", &forged)], &body);
    assert_eq!(wrong.status, 400);
    assert!(wrong.text().contains("does not match"), "{}", wrong.text());
    // Signed for another team id: the team is part of what is signed.
    let elsewhere = turbo_tag(key, hash, "team_other", &body);
    assert_eq!(
        put(a, &path, &[("x-artifact-tag", &elsewhere)], &body).status,
        400
    );
    assert_eq!(get(a, &path, &[]).status, 404);

    let tag = turbo_tag(key, hash, "team_abc", &body);
    assert_eq!(
        put(a, &path, &[("x-artifact-tag", &tag)], &body).status,
        200
    );
    let hit = get(a, &path, &[]);
    assert_eq!(hit.body, body);
    assert_eq!(hit.headers["x-artifact-tag"], tag);
    // With only a slug, the team id signed is "".
    let slug_tag = turbo_tag(key, hash, "", &body);
    let slug_path = format!("/v8/artifacts/{hash}?slug=myteam");
    assert_eq!(
        put(a, &slug_path, &[("x-artifact-tag", &slug_tag)], &body).status,
        200
    );
}
