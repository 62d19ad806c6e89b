//! The messages of Bazel's Remote Execution API v2 (`build.bazel.remote.execution.v2`) that
//! BuildNet reads, as prost structs with the proto's field numbers. Fields not listed here
//! (execution metadata, node properties) are skipped when decoding, as protobuf allows.

use prost::Message;

/// A blob's SHA-256 (lowercase hex) and size.
#[derive(Clone, PartialEq, Message)]
pub struct Digest {
    #[prost(string, tag = "1")]
    pub hash: String,
    #[prost(int64, tag = "2")]
    pub size_bytes: i64,
}

#[derive(Clone, PartialEq, Message)]
pub struct OutputFile {
    #[prost(string, tag = "1")]
    pub path: String,
    #[prost(message, optional, tag = "2")]
    pub digest: Option<Digest>,
    #[prost(bool, tag = "4")]
    pub is_executable: bool,
    #[prost(bytes = "vec", tag = "5")]
    pub contents: Vec<u8>,
}

#[derive(Clone, PartialEq, Message)]
pub struct OutputSymlink {
    #[prost(string, tag = "1")]
    pub path: String,
    #[prost(string, tag = "2")]
    pub target: String,
}

#[derive(Clone, PartialEq, Message)]
pub struct OutputDirectory {
    #[prost(string, tag = "1")]
    pub path: String,
    #[prost(message, optional, tag = "3")]
    pub tree_digest: Option<Digest>,
    #[prost(bool, tag = "4")]
    pub is_topologically_sorted: bool,
    #[prost(message, optional, tag = "5")]
    pub root_directory_digest: Option<Digest>,
}

/// What an action produced: the value of an action-cache entry.
#[derive(Clone, PartialEq, Message)]
pub struct ActionResult {
    #[prost(message, repeated, tag = "2")]
    pub output_files: Vec<OutputFile>,
    #[prost(message, repeated, tag = "3")]
    pub output_directories: Vec<OutputDirectory>,
    #[prost(int32, tag = "4")]
    pub exit_code: i32,
    #[prost(bytes = "vec", tag = "5")]
    pub stdout_raw: Vec<u8>,
    #[prost(message, optional, tag = "6")]
    pub stdout_digest: Option<Digest>,
    #[prost(bytes = "vec", tag = "7")]
    pub stderr_raw: Vec<u8>,
    #[prost(message, optional, tag = "8")]
    pub stderr_digest: Option<Digest>,
    #[prost(message, repeated, tag = "10")]
    pub output_file_symlinks: Vec<OutputSymlink>,
    #[prost(message, repeated, tag = "11")]
    pub output_directory_symlinks: Vec<OutputSymlink>,
    #[prost(message, repeated, tag = "12")]
    pub output_symlinks: Vec<OutputSymlink>,
}

/// Whether `hash` is a SHA-256 as REAPI writes it (64 lowercase hex digits).
pub fn is_sha256(hash: &str) -> bool {
    hash.len() == 64 && hash.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

impl ActionResult {
    /// Decodes an action-cache value, and checks what protobuf alone cannot: every digest is
    /// a SHA-256 with a size, every output path is relative and stays below the exec root.
    pub fn parse(bytes: &[u8]) -> Result<ActionResult, String> {
        let result =
            ActionResult::decode(bytes).map_err(|e| format!("not an ActionResult: {e}"))?;
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
            if p.is_empty() || p.starts_with('/') || p.split('/').any(|c| c == "..") {
                Err(format!(
                    "output path {p:?} is not relative to the exec root"
                ))
            } else {
                Ok(())
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
        Ok(result)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_real_shape_and_refuses_junk_and_escapes() {
        let ok = ActionResult {
            output_files: vec![OutputFile {
                path: "bazel-out/k8-fastbuild/bin/hello.txt".into(),
                digest: Some(Digest {
                    hash: "a".repeat(64),
                    size_bytes: 12,
                }),
                is_executable: false,
                contents: vec![],
            }],
            exit_code: 0,
            ..ActionResult::default()
        };
        let bytes = ok.encode_to_vec();
        assert_eq!(ActionResult::parse(&bytes).unwrap(), ok);
        assert!(ActionResult::parse(b"\xff\xff\xff\xff").is_err());
        let mut escape = ok.clone();
        escape.output_files[0].path = "../../etc/passwd".into();
        assert!(ActionResult::parse(&escape.encode_to_vec())
            .unwrap_err()
            .contains("not relative"));
        let mut bad_digest = ok;
        bad_digest.output_files[0].digest.as_mut().unwrap().hash = "xyz".into();
        assert!(ActionResult::parse(&bad_digest.encode_to_vec())
            .unwrap_err()
            .contains("not a digest"));
    }
}
