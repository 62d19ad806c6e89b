//! Writing beneath a folder without following symbolic links, through directory descriptors.
//!
//! A restore that checks its path and then writes by path follows whatever is there at write
//! time: a symbolic link swapped in between (by a command still running, or another process)
//! sends the write outside the workspace. Here each folder on the way is opened relative to
//! the one before with `O_NOFOLLOW | O_DIRECTORY`, the file is written as a temporary beside
//! its place (`O_CREAT | O_EXCL | O_NOFOLLOW`) and renamed over it within that folder, as
//! Turborepo's restore does since PR #14095. A link met on the way is an error; a link in the
//! file's own place is replaced, never written through.

use std::ffi::{CString, OsStr};
use std::fs::File;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use crate::error::{Error, Result};

/// An open folder.
pub struct Dir {
    fd: OwnedFd,
}

fn c_name(name: &OsStr) -> Result<CString> {
    CString::new(name.as_bytes())
        .map_err(|_| Error::invalid_argument(format!("{name:?} holds a NUL byte")))
}

impl Dir {
    /// Opens `path` itself (which may be reached through links: it is the trusted root).
    pub fn open(path: &Path) -> Result<Dir> {
        let c = c_name(path.as_os_str())?;
        // SAFETY: open(2) of a NUL-terminated path; the descriptor is owned below.
        let fd = unsafe { libc::open(c.as_ptr(), libc::O_DIRECTORY | libc::O_CLOEXEC) };
        if fd < 0 {
            return Err(Error::io(path.display(), std::io::Error::last_os_error()));
        }
        // SAFETY: a descriptor just opened and owned by nothing else.
        Ok(Dir {
            fd: unsafe { OwnedFd::from_raw_fd(fd) },
        })
    }

    /// The subfolder `name`, created if missing; a symbolic link or a file there is refused
    /// (`shown` names the place in the error).
    pub fn sub(&self, name: &OsStr, shown: &dyn Fn() -> String) -> Result<Dir> {
        let c = c_name(name)?;
        for _ in 0..8 {
            // SAFETY: openat(2) relative to a descriptor this value owns.
            let fd = unsafe {
                libc::openat(
                    self.fd.as_raw_fd(),
                    c.as_ptr(),
                    libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC,
                )
            };
            if fd >= 0 {
                // SAFETY: a descriptor just opened and owned by nothing else.
                return Ok(Dir {
                    fd: unsafe { OwnedFd::from_raw_fd(fd) },
                });
            }
            let err = std::io::Error::last_os_error();
            match err.raw_os_error() {
                Some(libc::ENOENT) => {
                    // SAFETY: mkdirat(2) relative to a descriptor this value owns.
                    let rc = unsafe { libc::mkdirat(self.fd.as_raw_fd(), c.as_ptr(), 0o777) };
                    let made = std::io::Error::last_os_error();
                    if rc != 0 && made.raw_os_error() != Some(libc::EEXIST) {
                        return Err(Error::io(shown(), made));
                    }
                }
                // With O_DIRECTORY, Linux answers ENOTDIR for a link as for a file.
                Some(libc::ELOOP) | Some(libc::ENOTDIR) => {
                    let what = if self.is_link(&c) {
                        "is a symbolic link"
                    } else {
                        "is not a folder"
                    };
                    return Err(Error::invalid_argument(format!("{} {what}", shown())));
                }
                _ => return Err(Error::io(shown(), err)),
            }
        }
        Err(Error::io(
            shown(),
            std::io::Error::other("the folder keeps changing"),
        ))
    }

    fn is_link(&self, name: &CString) -> bool {
        // SAFETY: an all-zero stat is a valid value for fstatat to fill in.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        // SAFETY: fstatat(2) relative to a descriptor this value owns, into a local.
        let rc = unsafe {
            libc::fstatat(
                self.fd.as_raw_fd(),
                name.as_ptr(),
                &mut st,
                libc::AT_SYMLINK_NOFOLLOW,
            )
        };
        rc == 0 && (st.st_mode & libc::S_IFMT) == libc::S_IFLNK
    }

    /// A new file `name` in this folder (never an existing one, never through a link), with
    /// `mode` (less the umask).
    pub fn create_new(&self, name: &OsStr, mode: u32) -> std::io::Result<File> {
        let c = CString::new(name.as_bytes()).map_err(std::io::Error::other)?;
        // SAFETY: openat(2) relative to a descriptor this value owns.
        let fd = unsafe {
            libc::openat(
                self.fd.as_raw_fd(),
                c.as_ptr(),
                libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW | libc::O_CLOEXEC,
                mode as libc::c_uint,
            )
        };
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: a descriptor just opened and owned by nothing else.
        Ok(unsafe { File::from_raw_fd(fd) })
    }

    /// Opens the existing regular file `name` for reading, not through a link.
    pub fn open_file(&self, name: &OsStr) -> std::io::Result<File> {
        let c = CString::new(name.as_bytes()).map_err(std::io::Error::other)?;
        // SAFETY: openat(2) relative to a descriptor this value owns.
        let fd = unsafe {
            libc::openat(
                self.fd.as_raw_fd(),
                c.as_ptr(),
                libc::O_RDONLY | libc::O_NOFOLLOW | libc::O_CLOEXEC,
            )
        };
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: a descriptor just opened and owned by nothing else.
        Ok(unsafe { File::from_raw_fd(fd) })
    }

    /// Renames `from` to `to`, both in this folder (a link at `to` is replaced, not followed).
    pub fn rename(&self, from: &OsStr, to: &OsStr) -> std::io::Result<()> {
        let (a, b) = (
            CString::new(from.as_bytes()).map_err(std::io::Error::other)?,
            CString::new(to.as_bytes()).map_err(std::io::Error::other)?,
        );
        let fd = self.fd.as_raw_fd();
        // SAFETY: renameat(2) within a folder this value owns a descriptor of.
        if unsafe { libc::renameat(fd, a.as_ptr(), fd, b.as_ptr()) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(())
    }

    /// Removes the file `name` from this folder (errors ignored: used to clean up).
    pub fn remove(&self, name: &OsStr) {
        if let Ok(c) = CString::new(name.as_bytes()) {
            // SAFETY: unlinkat(2) within a folder this value owns a descriptor of.
            unsafe { libc::unlinkat(self.fd.as_raw_fd(), c.as_ptr(), 0) };
        }
    }
}

/// `rel` as its folders and its file name, provided it is only plain names (no `..`, not
/// absolute, not empty).
pub fn plain_parts(rel: &Path) -> Result<(Vec<&OsStr>, &OsStr)> {
    let parts: Vec<&OsStr> = rel
        .components()
        .map(|c| match c {
            std::path::Component::Normal(p) => Ok(p),
            _ => Err(Error::invalid_argument(format!(
                "{}: not a plain relative path",
                rel.display()
            ))),
        })
        .collect::<Result<_>>()?;
    match parts.split_last() {
        Some((name, dirs)) => Ok((dirs.to_vec(), name)),
        None => Err(Error::invalid_argument("an empty path")),
    }
}

/// Opens the folders `dirs` below `root` one by one (creating missing ones), never through a
/// symbolic link.
pub fn open_beneath(root: &Path, dirs: &[&OsStr]) -> Result<Dir> {
    let mut at = Dir::open(root)?;
    let mut shown = root.to_path_buf();
    for name in dirs {
        shown.push(name);
        let place = shown.clone();
        at = at.sub(name, &|| place.display().to_string())?;
    }
    Ok(at)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folders_are_created_and_links_on_the_way_refused() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("ws");
        let outside = dir.path().join("outside");
        std::fs::create_dir_all(&root).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        let sub = open_beneath(&root, &[OsStr::new("a"), OsStr::new("b")]).unwrap();
        assert!(root.join("a/b").is_dir());
        sub.create_new(OsStr::new("f"), 0o644).unwrap();
        assert!(
            sub.create_new(OsStr::new("f"), 0o644).is_err(),
            "never an existing file"
        );
        std::os::unix::fs::symlink(&outside, root.join("link")).unwrap();
        let err = open_beneath(&root, &[OsStr::new("link"), OsStr::new("x")])
            .err()
            .unwrap();
        assert!(err.message().contains("is a symbolic link"), "{err}");
        assert!(!outside.join("x").exists());
        std::fs::write(root.join("file"), "x").unwrap();
        let err = open_beneath(&root, &[OsStr::new("file")]).err().unwrap();
        assert!(err.message().contains("is not a folder"), "{err}");
    }
}
