//! Hashing: xxh3 for fast non-cryptographic keys, blake3 for content addresses and cache keys.
//!
//! Large files are memory-mapped and hashed on all cores (blake3's rayon mode, as `b3sum`
//! does); small files are read whole, since mapping costs more than reading them.

pub(crate) mod tree;

use std::io::Read;
use std::path::Path;

pub(crate) use tree::compile_globs;
pub use tree::{FileHash, FileStat, TreeHash, TreeHasher};

use crate::error::{Error, Result};

/// Files at least this large are memory-mapped (and hashed in parallel for blake3).
const MMAP_THRESHOLD: u64 = 128 * 1024;

/// xxh3, 64-bit, seed 0 (the same value as `xxhsum -H3`).
pub fn xxh3_64(data: &[u8]) -> u64 {
    xxhash_rust::xxh3::xxh3_64(data)
}

/// blake3 of `data`; inputs of [`MMAP_THRESHOLD`] bytes or more are hashed on all cores.
pub fn blake3(data: &[u8]) -> blake3::Hash {
    if data.len() as u64 >= MMAP_THRESHOLD && crate::runtime::parallel() {
        blake3::Hasher::new().update_rayon(data).finalize()
    } else {
        blake3::hash(data)
    }
}

/// blake3 of a file's contents; multi-threaded and memory-mapped for large files.
pub fn blake3_file(path: &Path) -> Result<blake3::Hash> {
    let mut hasher = blake3::Hasher::new();
    let file = open_regular(path)?;
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    if len >= MMAP_THRESHOLD && crate::runtime::parallel() {
        hasher
            .update_mmap_rayon(path)
            .map_err(|e| Error::io(path.display(), e))?;
    } else if len >= MMAP_THRESHOLD {
        hasher
            .update_mmap(path)
            .map_err(|e| Error::io(path.display(), e))?;
    } else {
        hasher
            .update_reader(file)
            .map_err(|e| Error::io(path.display(), e))?;
    }
    Ok(hasher.finalize())
}

/// blake3 of a small file, single-threaded (the tree hasher is already parallel across files).
pub(crate) fn blake3_file_single(path: &Path, len: u64) -> std::io::Result<blake3::Hash> {
    let mut hasher = blake3::Hasher::new();
    if len >= MMAP_THRESHOLD {
        hasher.update_mmap(path)?;
    } else {
        hasher.update_reader(std::fs::File::open(path)?)?;
    }
    Ok(hasher.finalize())
}

/// xxh3-64 of a file's contents (memory-mapped for large files).
pub fn xxh3_file(path: &Path) -> Result<u64> {
    let mut file = open_regular(path)?;
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    if len >= MMAP_THRESHOLD {
        // SAFETY: the map is read-only and dropped before returning; a file truncated by another
        // process while we read it can fault, as it does for b3sum and every mmap reader.
        let map = unsafe { memmap2::Mmap::map(&file) }.map_err(|e| Error::io(path.display(), e))?;
        return Ok(xxh3_64(&map));
    }
    let mut hasher = xxhash_rust::xxh3::Xxh3::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = file
            .read(&mut buf)
            .map_err(|e| Error::io(path.display(), e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hasher.digest())
}

fn open_regular(path: &Path) -> Result<std::fs::File> {
    let file = std::fs::File::open(path).map_err(|e| Error::io(path.display(), e))?;
    let meta = file.metadata().map_err(|e| Error::io(path.display(), e))?;
    if meta.is_dir() {
        return Err(Error::invalid_argument(format!(
            "{}: is a directory",
            path.display()
        )));
    }
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_vectors() {
        assert_eq!(
            blake3(b"").to_hex().as_str(),
            "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262"
        );
        assert_eq!(xxh3_64(b""), 0x2d06800538d394c2);
        assert_eq!(xxh3_64(b"abc"), 0x78af5f94892f3950);
    }

    #[test]
    fn file_hashes_match_in_memory_hashes_for_small_and_large_files() {
        let dir = tempfile::tempdir().unwrap();
        for len in [
            0usize,
            1,
            1000,
            MMAP_THRESHOLD as usize,
            3 * 1024 * 1024 + 7,
        ] {
            let data: Vec<u8> = (0..len).map(|i| (i * 31 % 251) as u8).collect();
            let path = dir.path().join(format!("f{len}"));
            std::fs::write(&path, &data).unwrap();
            assert_eq!(blake3_file(&path).unwrap(), blake3(&data), "len {len}");
            assert_eq!(
                blake3_file_single(&path, len as u64).unwrap(),
                blake3(&data),
                "len {len}"
            );
            assert_eq!(xxh3_file(&path).unwrap(), xxh3_64(&data), "len {len}");
        }
    }

    #[test]
    fn missing_file_and_directory_are_clear_errors() {
        let dir = tempfile::tempdir().unwrap();
        let err = blake3_file(&dir.path().join("nope")).unwrap_err();
        assert_eq!(err.code(), crate::error::ErrorCode::NotFound);
        let err = blake3_file(dir.path()).unwrap_err();
        assert!(err.message().contains("is a directory"));
    }
}
