//! Bazel's Remote Execution API v2 (`build.bazel.remote.execution.v2`): the messages and gRPC
//! stubs of the published `bazel-remote-apis` crate (generated from the official protos, no
//! `protoc` needed), and what BuildNet builds on them: the Merkle input root ([`merkle`]), a
//! blocking client of an engine's CAS, action cache and execution services ([`client`]), and
//! a worker for its Remote Workers API ([`bots`], [`worker`]).

pub mod bots;
pub mod client;
mod exec_root;
pub mod merkle;
pub mod worker;

pub use bazel_remote_apis::build::bazel::remote::execution::v2 as re;
pub use bazel_remote_apis::google::bytestream as bs;
pub use bazel_remote_apis::google::longrunning as lro;
pub use bazel_remote_apis::google::protobuf as pb;
pub use bazel_remote_apis::google::rpc;

pub use re::{ActionResult, Digest};

use prost::Message;
use sha2::{Digest as _, Sha256};

/// Whether `hash` is a SHA-256 as REAPI writes it (64 lowercase hex digits).
pub fn is_sha256(hash: &str) -> bool {
    hash.len() == 64 && hash.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// The digest of `bytes`.
pub fn digest_of(bytes: &[u8]) -> Digest {
    Digest {
        hash: hex(&Sha256::digest(bytes)),
        size_bytes: bytes.len() as i64,
    }
}

/// The digest and encoding of a message, as REAPI stores messages in the CAS.
pub fn encode<M: Message>(message: &M) -> (Digest, Vec<u8>) {
    let bytes = message.encode_to_vec();
    (digest_of(&bytes), bytes)
}

/// The digest of the file at `path`, read once.
pub fn digest_file(path: &std::path::Path) -> std::io::Result<Digest> {
    use std::io::Read;
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    let mut size = 0i64;
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        size += n as i64;
    }
    Ok(Digest {
        hash: hex(&hasher.finalize()),
        size_bytes: size,
    })
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::with_capacity(64), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// Whether `path` is relative, `/`-separated and stays below the folder it is relative to.
pub fn is_relative_path(path: &str) -> bool {
    !path.is_empty()
        && !path.starts_with('/')
        && path
            .split('/')
            .all(|c| !c.is_empty() && c != "." && c != ".." && !c.contains('\0'))
}

/// Checks what protobuf alone cannot of an action result: every digest is a SHA-256 with a
/// size, every output path is relative and stays below the exec root.
#[allow(deprecated)] // the v2.0 symlink lists are still checked: old servers fill them
pub fn check_action_result(result: &ActionResult) -> Result<(), String> {
    let digest = |d: &Option<Digest>, what: &str| -> Result<(), String> {
        match d {
            Some(d) if !is_sha256(&d.hash) || d.size_bytes < 0 => Err(format!(
                "{what}: {:?}/{} is not a digest",
                d.hash, d.size_bytes
            )),
            _ => Ok(()),
        }
    };
    let path = |p: &str| -> Result<(), String> {
        if is_relative_path(p) {
            Ok(())
        } else {
            Err(format!(
                "output path {p:?} is not relative to the exec root"
            ))
        }
    };
    for f in &result.output_files {
        path(&f.path)?;
        if f.digest.is_none() {
            return Err(format!("output file {:?} has no digest", f.path));
        }
        digest(&f.digest, &f.path)?;
    }
    for d in &result.output_directories {
        path(&d.path)?;
        if d.tree_digest.is_none() {
            return Err(format!("output directory {:?} has no tree", d.path));
        }
        digest(&d.tree_digest, &d.path)?;
        digest(&d.root_directory_digest, &d.path)?;
    }
    for s in result
        .output_symlinks
        .iter()
        .chain(&result.output_file_symlinks)
        .chain(&result.output_directory_symlinks)
    {
        path(&s.path)?;
    }
    digest(&result.stdout_digest, "stdout")?;
    digest(&result.stderr_digest, "stderr")?;
    Ok(())
}

/// Decodes an action-cache value and checks it ([`check_action_result`]).
pub fn parse_action_result(bytes: &[u8]) -> Result<ActionResult, String> {
    let result = ActionResult::decode(bytes).map_err(|e| format!("not an ActionResult: {e}"))?;
    check_action_result(&result)?;
    Ok(result)
}

/// `grpc://host:port` (or `http://`) as the URI tonic dials; `grpcs://`/`https://` are refused
/// until TLS is configured.
pub fn endpoint_uri(url: &str) -> crate::error::Result<String> {
    let rest = url
        .strip_prefix("grpc://")
        .or_else(|| url.strip_prefix("http://"))
        .ok_or_else(|| {
            crate::error::Error::config(format!(
                "remote_execution.url {url:?}: expected grpc://HOST:PORT (TLS is not supported yet)"
            ))
        })?;
    let rest = rest.trim_end_matches('/');
    if rest.is_empty() || rest.contains('/') || !rest.contains(':') {
        return Err(crate::error::Error::config(format!(
            "remote_execution.url {url:?}: expected grpc://HOST:PORT"
        )));
    }
    Ok(format!("http://{rest}"))
}

/// Refuses bytes that are not the blob `digest` names.
pub fn check(digest: &Digest, data: &[u8], whose: &str) -> crate::error::Result<()> {
    let got = digest_of(data);
    if got.hash != digest.hash || got.size_bytes != digest.size_bytes {
        return Err(integrity(format!(
            "{whose} blob {}/{} has other contents ({}/{}): refused",
            digest.hash, digest.size_bytes, got.hash, got.size_bytes
        )));
    }
    Ok(())
}

/// A random version-4 UUID (ByteStream upload names need one).
pub(crate) fn uuid() -> String {
    let mut b = [0u8; 16];
    let _ = getrandom::fill(&mut b);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex(&b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// The engine could not be reached or refused: an I/O error of the socket's kind.
pub(crate) fn unavailable(message: impl Into<String>) -> crate::error::Error {
    crate::error::Error::new(crate::error::ErrorCode::Io, message)
}

/// The engine sent something that is not what it names (a blob, a result).
pub(crate) fn integrity(message: impl Into<String>) -> crate::error::Error {
    crate::error::Error::new(crate::error::ErrorCode::Io, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_real_shape_and_refuses_junk_and_escapes() {
        let ok = ActionResult {
            output_files: vec![re::OutputFile {
                path: "bazel-out/k8-fastbuild/bin/hello.txt".into(),
                digest: Some(Digest {
                    hash: "a".repeat(64),
                    size_bytes: 12,
                }),
                ..Default::default()
            }],
            exit_code: 0,
            ..ActionResult::default()
        };
        let bytes = ok.encode_to_vec();
        assert_eq!(parse_action_result(&bytes).unwrap(), ok);
        assert!(parse_action_result(b"\xff\xff\xff\xff").is_err());
        let mut escape = ok.clone();
        escape.output_files[0].path = "../../etc/passwd".into();
        assert!(parse_action_result(&escape.encode_to_vec())
            .unwrap_err()
            .contains("not relative"));
        let mut bad_digest = ok;
        bad_digest.output_files[0].digest.as_mut().unwrap().hash = "xyz".into();
        assert!(parse_action_result(&bad_digest.encode_to_vec())
            .unwrap_err()
            .contains("not a digest"));
    }

    #[test]
    fn digests_are_sha256_of_the_bytes() {
        let d = digest_of(b"abc");
        assert_eq!(
            d.hash,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(d.size_bytes, 3);
        assert!(is_relative_path("a/b.txt"));
        for bad in ["", "/a", "a/../b", "a//b", "./a", "a/."] {
            assert!(!is_relative_path(bad), "{bad}");
        }
    }
}
