//! Live policy updates: [`watch`] calls back when a policy file (text or engine file) changes,
//! so a host can compile or map it again and swap the new engine in.
//!
//! The file's directory is watched, not the file: writers that replace a file by renaming a
//! new one over it (`hostgate compile`, editors, `kubectl` updating a ConfigMap volume through
//! its `..data` symlink) leave a watch on the old inode looking at a file nobody will change
//! again. Events are kept when they name the file or, when the file is a symlink into the same
//! directory, the link's first step (a ConfigMap's `..data`); reads are not changes, and other
//! files in the directory (logs next to the policy) are ignored. A kept event starts a short
//! quiet period; when it is over, the path is looked at again (through symlinks) and the
//! callback runs only if the file it names is another one or was modified.
//!
//! ```
//! use std::sync::mpsc;
//! use std::time::Duration;
//! let dir = tempfile::tempdir().unwrap();
//! let path = dir.path().join("egress.policy");
//! std::fs::write(&path, "allow a.test\n").unwrap();
//! let (tx, rx) = mpsc::channel();
//! let _watch = hostgate_watch::watch(&path, move || { let _ = tx.send(()); }).unwrap();
//! let new = dir.path().join(".egress.policy.new");
//! std::fs::write(&new, "allow b.test\n").unwrap();
//! std::fs::rename(&new, &path).unwrap();
//! rx.recv_timeout(Duration::from_secs(10)).expect("a change");
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

use std::ffi::OsString;
use std::fmt;
use std::path::{Component, Path, PathBuf};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread;
use std::time::{Duration, Instant, SystemTime};

use notify::{RecursiveMode, Watcher};

/// How long the directory must stay quiet after an event before the file is looked at: a
/// writer that rewrites the file in place is given the time to finish.
pub const SETTLE: Duration = Duration::from_millis(150);

/// The longest a change waits for the quiet period: a file written to without pause is still
/// looked at.
const SETTLE_AT_MOST: Duration = Duration::from_secs(1);

/// A running watch; dropping it stops it (the callback is not called after that).
///
/// ```
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("p.policy");
/// std::fs::write(&path, "").unwrap();
/// let w = hostgate_watch::watch(&path, || {}).unwrap();
/// assert_eq!(w.path(), path.as_path());
/// drop(w);
/// ```
pub struct Watch {
    path: PathBuf,
    // Dropping the watcher closes the channel, which ends the thread.
    _watcher: notify::RecommendedWatcher,
}

impl Watch {
    /// The watched path, as given.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl fmt::Debug for Watch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Watch").field("path", &self.path).finish()
    }
}

/// Why a watch could not start.
///
/// ```
/// let e = hostgate_watch::watch(std::path::Path::new("/nonexistent-dir/p.policy"), || {}).unwrap_err();
/// assert!(e.to_string().starts_with("cannot watch /nonexistent-dir/p.policy: "));
/// ```
#[derive(Debug)]
pub struct Error {
    path: PathBuf,
    message: String,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cannot watch {}: {}", self.path.display(), self.message)
    }
}

impl std::error::Error for Error {}

/// What identifies one version of the file: the inode it names now and its size and time.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
struct Version {
    dev: u64,
    ino: u64,
    len: u64,
    modified: Option<SystemTime>,
}

/// When `path` is a symlink with a relative target, the target's first step (in the same
/// directory): renaming something over that step changes the file too.
fn link_head(path: &Path) -> Option<OsString> {
    let target = std::fs::read_link(path).ok()?;
    match target.components().next()? {
        Component::Normal(first) => Some(first.to_os_string()),
        _ => None,
    }
}

fn version(path: &Path) -> Option<Version> {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(path).ok()?;
    Some(Version {
        dev: m.dev(),
        ino: m.ino(),
        len: m.len(),
        modified: m.modified().ok(),
    })
}

/// Watches `path` and calls `on_change` (on a thread of the watch's own) each time the file it
/// names has changed and the directory has been quiet for [`SETTLE`]. A file that disappears
/// does not call back (a reload would only fail); its return does.
pub fn watch(path: &Path, mut on_change: impl FnMut() + Send + 'static) -> Result<Watch, Error> {
    let fail = |message: String| Error {
        path: path.to_path_buf(),
        message,
    };
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let Some(file) = path.file_name().map(OsString::from) else {
        return Err(fail("not a file name".into()));
    };
    // Each event's file names; none: look anyway (an error, such as a lost event queue).
    let (tx, rx) = mpsc::channel::<Vec<OsString>>();
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        let names = match event {
            Ok(e) if e.kind.is_access() => return,
            Ok(e) => e
                .paths
                .iter()
                .filter_map(|p| p.file_name())
                .map(OsString::from)
                .collect(),
            Err(_) => Vec::new(),
        };
        let _ = tx.send(names);
    })
    .map_err(|e| fail(e.to_string()))?;
    watcher
        .watch(&dir, RecursiveMode::NonRecursive)
        .map_err(|e| fail(e.to_string()))?;
    let watched = path.to_path_buf();
    let mut last = version(&watched);
    let mut link = link_head(&watched);
    thread::Builder::new()
        .name("hostgate-watch".into())
        .spawn(move || {
            let relevant = |names: &[OsString], link: &Option<OsString>| {
                names.is_empty() || names.iter().any(|n| *n == file || link.as_ref() == Some(n))
            };
            while let Ok(names) = rx.recv() {
                if !relevant(&names, &link) {
                    continue;
                }
                // Wait for the file to settle: SETTLE without a relevant event, or at most
                // SETTLE_AT_MOST.
                let started = Instant::now();
                let mut quiet_from = started;
                loop {
                    let until = (quiet_from + SETTLE).min(started + SETTLE_AT_MOST);
                    let Some(wait) = until.checked_duration_since(Instant::now()) else {
                        break;
                    };
                    match rx.recv_timeout(wait) {
                        Ok(names) if relevant(&names, &link) => quiet_from = Instant::now(),
                        Ok(_) => {}
                        Err(RecvTimeoutError::Timeout) => break,
                        Err(RecvTimeoutError::Disconnected) => return,
                    }
                }
                let now = version(&watched);
                if now.is_some() && now != last {
                    on_change();
                }
                if now.is_some() {
                    last = now;
                }
                link = link_head(&watched);
            }
        })
        .map_err(|e| fail(e.to_string()))?;
    Ok(Watch {
        path: path.to_path_buf(),
        _watcher: watcher,
    })
}
