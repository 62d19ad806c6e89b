//! Merkle trees of files as REAPI has them: an input root of `Directory` messages (children
//! sorted by name, each named by the digest of its encoding), and the `Tree` an output
//! directory is sent back as, flattened again with every reference checked.

use std::collections::{BTreeMap, HashMap};

use super::{encode, is_relative_path, re, Digest};

/// A file of a tree: its path (relative to the tree's root, `/`-separated), digest and mode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TreeFile {
    pub path: String,
    pub digest: Digest,
    pub executable: bool,
}

#[derive(Default)]
struct Node {
    files: BTreeMap<String, (Digest, bool)>,
    dirs: BTreeMap<String, Node>,
}

impl Node {
    fn dir(&mut self, path: &str) -> &mut Node {
        let mut node = self;
        for part in path.split('/').filter(|p| !p.is_empty() && *p != ".") {
            node = node.dirs.entry(part.to_owned()).or_default();
        }
        node
    }

    /// Encodes this folder and those below it; every encoding goes into `blobs`.
    fn seal(&self, blobs: &mut HashMap<String, Vec<u8>>) -> (re::Directory, Digest) {
        let directories = self
            .dirs
            .iter()
            .map(|(name, child)| re::DirectoryNode {
                name: name.clone(),
                digest: Some(child.seal(blobs).1),
            })
            .collect();
        let files = self
            .files
            .iter()
            .map(|(name, (digest, executable))| re::FileNode {
                name: name.clone(),
                digest: Some(digest.clone()),
                is_executable: *executable,
                ..Default::default()
            })
            .collect();
        let dir = re::Directory {
            files,
            directories,
            ..Default::default()
        };
        let (digest, bytes) = encode(&dir);
        blobs.insert(digest.hash.clone(), bytes);
        (dir, digest)
    }
}

/// An input root: its digest and the encoded `Directory` of every folder in it, by hash.
pub struct InputRoot {
    pub digest: Digest,
    pub directories: HashMap<String, Vec<u8>>,
}

/// The input root of `files`, with the (possibly empty) folders `dirs` present as well.
/// A path that is not relative, or a file whose path is also a folder's, is refused.
pub fn input_root(files: &[TreeFile], dirs: &[&str]) -> Result<InputRoot, String> {
    let root = Node::of(files, dirs, "input")?;
    let mut directories = HashMap::new();
    let (_, digest) = root.seal(&mut directories);
    Ok(InputRoot {
        digest,
        directories,
    })
}

impl Node {
    /// The tree of `files` and the folders `dirs`; `what` names the paths in errors.
    fn of(files: &[TreeFile], dirs: &[&str], what: &str) -> Result<Node, String> {
        let mut root = Node::default();
        for dir in dirs {
            root.dir(dir);
        }
        for file in files {
            if !is_relative_path(&file.path) {
                return Err(format!("{what} path {:?} is not relative", file.path));
            }
            let (parent, name) = file.path.rsplit_once('/').unwrap_or(("", &file.path));
            root.dir(parent)
                .files
                .insert(name.to_owned(), (file.digest.clone(), file.executable));
        }
        check_disjoint(&root, "")?;
        Ok(root)
    }
}

fn check_disjoint(node: &Node, at: &str) -> Result<(), String> {
    for (name, child) in &node.dirs {
        if node.files.contains_key(name) {
            return Err(format!("{at}{name} is both a file and a folder"));
        }
        check_disjoint(child, &format!("{at}{name}/"))?;
    }
    Ok(())
}

/// The `Tree` of `files` (an output directory's contents, paths relative to it).
pub fn tree(files: &[TreeFile], dirs: &[&str]) -> Result<re::Tree, String> {
    let root = Node::of(files, dirs, "output")?;
    let mut blobs = HashMap::new();
    let (root_dir, _) = root.seal(&mut blobs);
    let root_hash = super::digest_of(&prost::Message::encode_to_vec(&root_dir)).hash;
    let mut children: Vec<(String, Vec<u8>)> = blobs
        .into_iter()
        .filter(|(hash, _)| *hash != root_hash)
        .collect();
    children.sort();
    let children = children
        .into_iter()
        .map(|(_, bytes)| prost::Message::decode(bytes.as_slice()).expect("just encoded"))
        .collect();
    Ok(re::Tree {
        root: Some(root_dir),
        children,
    })
}

/// The most folders deep a tree from an engine may go.
const MAX_DEPTH: usize = 256;

/// The files of `tree`, with paths relative to its root. Every folder a node names must be
/// among the tree's children (by the digest of its encoding), every name a plain one, and no
/// path may appear twice: anything else is an error, never a partial list.
pub fn flatten(tree: &re::Tree) -> Result<Vec<TreeFile>, String> {
    let root = tree.root.as_ref().ok_or("the tree has no root")?;
    let children: HashMap<String, &re::Directory> = tree
        .children
        .iter()
        .map(|c| (encode(c).0.hash, c))
        .collect();
    let mut get = |d: &Digest| -> Result<re::Directory, String> {
        children
            .get(&d.hash)
            .map(|c| (*c).clone())
            .ok_or_else(|| format!("the tree lacks the folder {}", d.hash))
    };
    let (out, _) = walk_with(root, &mut get)?;
    let mut seen = std::collections::HashSet::new();
    for f in &out {
        if !seen.insert(f.path.as_str()) {
            return Err(format!("the tree names {} twice", f.path));
        }
    }
    Ok(out)
}

/// The files below `dir` (an input root's `Directory`), fetching each folder with `get`.
pub fn walk_with(
    dir: &re::Directory,
    get: &mut dyn FnMut(&Digest) -> Result<re::Directory, String>,
) -> Result<(Vec<TreeFile>, Vec<String>), String> {
    fn go(
        dir: &re::Directory,
        at: &str,
        get: &mut dyn FnMut(&Digest) -> Result<re::Directory, String>,
        depth: usize,
        files: &mut Vec<TreeFile>,
        dirs: &mut Vec<String>,
    ) -> Result<(), String> {
        if depth > MAX_DEPTH {
            return Err("the tree is too deep".into());
        }
        for f in &dir.files {
            files.push(TreeFile {
                path: join(at, checked_name(&f.name)?),
                digest: f.digest.clone().ok_or("a file node has no digest")?,
                executable: f.is_executable,
            });
        }
        for d in &dir.directories {
            let path = join(at, checked_name(&d.name)?);
            let child = get(d.digest.as_ref().ok_or("a folder node has no digest")?)?;
            dirs.push(path.clone());
            go(&child, &path, get, depth + 1, files, dirs)?;
        }
        if !dir.symlinks.is_empty() {
            return Err("symbolic links in a tree are not supported".into());
        }
        Ok(())
    }
    let (mut files, mut dirs) = (Vec::new(), Vec::new());
    go(dir, "", get, 0, &mut files, &mut dirs)?;
    Ok((files, dirs))
}

fn checked_name(name: &str) -> Result<&str, String> {
    if name.is_empty() || name == "." || name == ".." || name.contains('/') || name.contains('\0') {
        Err(format!("{name:?} is not a file name"))
    } else {
        Ok(name)
    }
}

fn join(at: &str, name: &str) -> String {
    if at.is_empty() {
        name.to_owned()
    } else {
        format!("{at}/{name}")
    }
}

#[cfg(test)]
mod tests {
    use super::super::digest_of;
    use super::*;

    fn file(path: &str, body: &[u8]) -> TreeFile {
        TreeFile {
            path: path.into(),
            digest: digest_of(body),
            executable: false,
        }
    }

    #[test]
    fn the_input_root_is_canonical_and_covers_every_folder() {
        let a = [
            file("b/y.txt", b"y"),
            file("a.txt", b"a"),
            file("b/c/z", b"z"),
        ];
        let mut b = a.clone();
        b.reverse();
        let (ra, rb) = (input_root(&a, &[]).unwrap(), input_root(&b, &[]).unwrap());
        assert_eq!(ra.digest, rb.digest, "order does not matter");
        // root, b, b/c
        assert_eq!(ra.directories.len(), 3);
        let with_dir = input_root(&a, &["pkg/app"]).unwrap();
        assert_ne!(with_dir.digest, ra.digest);
        assert_eq!(with_dir.directories.len(), 5);
        let changed = input_root(&[file("b/y.txt", b"Y"), a[0].clone()], &[]);
        assert!(changed.is_ok());
        assert!(input_root(&[file("../x", b"")], &[]).is_err());
        assert!(input_root(&[file("a", b""), file("a/b", b"")], &[]).is_err());
    }

    #[test]
    fn a_tree_flattens_back_and_a_broken_one_is_refused() {
        let files = vec![file("x.js", b"1"), file("sub/deep/y.js", b"2")];
        let t = tree(&files, &[]).unwrap();
        let mut back = flatten(&t).unwrap();
        back.sort_by(|a, b| a.path.cmp(&b.path));
        let mut want = files.clone();
        want.sort_by(|a, b| a.path.cmp(&b.path));
        assert_eq!(back, want);
        let mut missing = t.clone();
        missing.children.clear();
        assert!(flatten(&missing).unwrap_err().contains("lacks the folder"));
        let mut evil = t;
        evil.root.as_mut().unwrap().files[0].name = "../../x".into();
        assert!(flatten(&evil).unwrap_err().contains("not a file name"));
    }
}
