//! # hostgate-map
//!
//! Opens hostgate engine files (written by `hostgate compile`, format in `docs/engine-file.md`)
//! by mapping them read-only, so that every process that opens the same file shares one copy of
//! its pages in the page cache, and lookups read the engine's arrays where they are mapped.
//!
//! The core crate forbids `unsafe`; mapping a file needs one `unsafe` call, which lives here.
//!
//! ```
//! let dir = tempfile::tempdir().unwrap();
//! let path = dir.path().join("egress.engine");
//! let engine = hostgate::Engine::compile("allow .kadath.io\n").unwrap();
//! hostgate_map::write(&path, &engine.to_bytes()).unwrap();
//!
//! let opened = hostgate_map::open(&path).unwrap();
//! assert!(opened.is_shared());
//! let p = opened.default_policy();
//! assert!(opened.check(p, &hostgate::Query::new("api.kadath.io")).is_allow());
//! ```

#![warn(missing_docs)]

use std::fs::File;
use std::io::{Read, Write};
use std::path::Path;
use std::sync::Arc;

use hostgate::{Engine, LoadError, PolicySource, SharedBytes};

/// A read-only private mapping of a whole file.
struct Mapping(memmap2::Mmap);

impl AsRef<[u8]> for Mapping {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

/// Maps a whole file read-only, as bytes an engine can be opened from in place
/// ([`Engine::from_shared`]).
///
/// The file must not change while it is mapped: replace an engine file by writing a new one
/// and renaming it over the old ([`write()`] does), never by writing into it. A reader that
/// still maps the old file keeps reading the old, unchanged inode.
///
/// ```
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("e.engine");
/// std::fs::write(&path, b"some bytes").unwrap();
/// let bytes = hostgate_map::map(&path).unwrap();
/// assert_eq!((*bytes).as_ref(), b"some bytes");
/// ```
pub fn map(path: impl AsRef<Path>) -> std::io::Result<SharedBytes> {
    let file = File::open(path)?;
    // SAFETY: the mapping is read-only (PROT_READ) and private (MAP_PRIVATE), so this process
    // cannot change the bytes through it. Another process could change them by writing into
    // or truncating the file; engine files are never changed in place: writers put a complete
    // new file beside the old one and rename it over it (see `write`), which replaces the
    // directory entry and leaves the mapped inode as it was. Even a file changed against
    // that rule cannot make the engine read out of bounds: every index is checked when the
    // engine is opened and read through bounds-checked slices; what changes is which bytes
    // are read (or a SIGBUS past a truncated end), not memory safety of Rust references to
    // plain integers.
    let map = unsafe {
        memmap2::MmapOptions::new()
            .populate()
            .map_copy_read_only(&file)?
    };
    Ok(Arc::new(Mapping(map)))
}

/// Loads a policy file: an engine file is mapped, its large arrays read in place and shared
/// with every other process that maps the same file; policy text is compiled (as
/// [`read_source`] then [`PolicySource::compile`]). Errors name the file.
///
/// ```
/// let err = hostgate_map::open("/nonexistent/e.engine").unwrap_err();
/// assert!(err.to_string().starts_with("cannot read policy file /nonexistent/e.engine: "));
/// ```
pub fn open(path: impl AsRef<Path>) -> Result<Engine, LoadError> {
    read_source(path)?
        .compile()
        .map(|loaded| loaded.into_engine())
}

/// [`PolicySource::read`] that maps an engine file instead of reading it: what a front end's
/// `--policy` uses, so that policy text is compiled and an engine file is opened in place.
///
/// ```
/// let dir = tempfile::tempdir().unwrap();
/// let text = dir.path().join("p.policy");
/// std::fs::write(&text, "allow a.io\n").unwrap();
/// let engine = dir.path().join("p.engine");
/// hostgate_map::write(&engine, &hostgate::Engine::compile("allow a.io\n").unwrap().to_bytes())
///     .unwrap();
/// assert!(!hostgate_map::read_source(&text).unwrap().is_engine_file());
/// let source = hostgate_map::read_source(&engine).unwrap();
/// assert!(source.is_engine_file());
/// assert!(source.compile().unwrap().engine().is_shared());
/// ```
pub fn read_source(path: impl AsRef<Path>) -> Result<PolicySource<'static>, LoadError> {
    let path = path.as_ref();
    let mut head = [0u8; 8];
    let starts = File::open(path)
        .and_then(|mut f| read_head(&mut f, &mut head))
        .map_err(|e| read_error(path, e))?;
    if !hostgate::is_engine_file(&head[..starts]) {
        return PolicySource::read(path);
    }
    let bytes = map(path).map_err(|e| read_error(path, e))?;
    Ok(PolicySource::shared(path.display().to_string(), bytes))
}

/// Reads up to `head.len()` bytes, fewer only at the end of the file.
fn read_head(f: &mut File, head: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < head.len() {
        match f.read(&mut head[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

fn read_error(path: &Path, e: std::io::Error) -> LoadError {
    LoadError::unreadable(path.display().to_string(), e)
}

/// Writes `bytes` to `path` atomically: into a new temporary file in the same directory,
/// flushed to disk, then renamed over `path`. A reader sees the old file or the new one,
/// never part of one; one that mapped the old file keeps it unchanged.
///
/// ```
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("e.engine");
/// hostgate_map::write(&path, b"one").unwrap();
/// hostgate_map::write(&path, b"two").unwrap();
/// assert_eq!(std::fs::read(&path).unwrap(), b"two");
/// assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
/// ```
pub fn write(path: impl AsRef<Path>, bytes: &[u8]) -> std::io::Result<()> {
    let path = path.as_ref();
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    // A name no other writer picks: process id, time and a counter.
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = dir.join(format!(".{name}.{}.{nanos}.{n}.tmp", std::process::id()));
    let result = (|| {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        // The rename itself reaches the disk with the directory.
        if let Ok(d) = File::open(&dir) {
            let _ = d.sync_all();
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mapped_engine_answers_as_the_compiled_one() {
        let text = "policy web\nallow **.kadath.io port 443 id k\ndeny api.kadath.io\n";
        let compiled = Engine::compile(text).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("web.engine");
        write(
            &path,
            &compiled.to_bytes_with_source("web.policy", text.as_bytes()),
        )
        .unwrap();
        let mapped = open(&path).unwrap();
        assert!(mapped.is_shared());
        let p = mapped.policy("web").unwrap();
        for (name, port) in [
            ("a.kadath.io", 443),
            ("api.kadath.io", 443),
            ("a.kadath.io", 80),
        ] {
            let q = hostgate::Query::new(name).port(port);
            let (a, b) = (mapped.check(p, &q), compiled.check(p, &q));
            assert_eq!(a.action, b.action, "{name}");
            assert_eq!(a.rule.map(|r| r.line()), b.rule.map(|r| r.line()));
        }
        let info = hostgate::EngineFileInfo::read(&std::fs::read(&path).unwrap()).unwrap();
        assert_eq!(info.source_name, "web.policy");
    }

    #[test]
    fn a_replaced_file_leaves_the_open_engine_as_it_was() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("e.engine");
        write(&path, &Engine::compile("allow a.io\n").unwrap().to_bytes()).unwrap();
        let old = open(&path).unwrap();
        write(&path, &Engine::compile("deny a.io\n").unwrap().to_bytes()).unwrap();
        let new = open(&path).unwrap();
        let q = hostgate::Query::new("a.io");
        assert!(old.check(old.default_policy(), &q).is_allow());
        assert!(!new.check(new.default_policy(), &q).is_allow());
    }

    #[test]
    fn bad_files_are_named_in_their_errors() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cut.engine");
        let bytes = Engine::compile("allow a.io\n").unwrap().to_bytes();
        write(&path, &bytes[..bytes.len() / 2]).unwrap();
        let err = open(&path).unwrap_err().to_string();
        assert!(
            err.starts_with(&format!("{}: engine file is ", path.display())),
            "{err}"
        );
        // Text is compiled, and not shared.
        let text = dir.path().join("p.policy");
        std::fs::write(&text, "allow a.io\n").unwrap();
        assert!(!open(&text).unwrap().is_shared());
        // A checksum mismatch, named.
        let mut flipped = bytes.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 1;
        write(&path, &flipped).unwrap();
        let err = open(&path).unwrap_err().to_string();
        assert!(
            err.contains("cut.engine: engine file checksum mismatch"),
            "{err}"
        );
        // An empty file is neither; `read_source` gives it to the compiler (an empty policy).
        let empty = dir.path().join("empty");
        std::fs::write(&empty, "").unwrap();
        assert!(read_source(&empty).unwrap().compile().is_ok());
    }
}
