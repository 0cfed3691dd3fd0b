//! The ways a policy file is changed in practice, each seen exactly once; the changes that are
//! not to the file are not seen.

use std::fs;
use std::os::unix::fs::symlink;
use std::path::Path;
use std::sync::mpsc::{self, Receiver};
use std::time::Duration;

use hostgate_watch::{watch, Watch, SETTLE};

fn start(path: &Path) -> (Watch, Receiver<()>) {
    let (tx, rx) = mpsc::channel();
    let w = watch(path, move || {
        let _ = tx.send(());
    })
    .unwrap();
    (w, rx)
}

/// Calls seen within a few quiet periods.
fn calls(rx: &Receiver<()>) -> usize {
    let mut n = 0;
    while rx.recv_timeout(SETTLE * 6).is_ok() {
        n += 1;
    }
    n
}

#[test]
fn a_file_renamed_over_the_policy_is_one_change() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("egress.policy");
    fs::write(&path, "allow a.test\n").unwrap();
    let (_w, rx) = start(&path);
    let tmp = dir.path().join(".egress.policy.tmp");
    fs::write(&tmp, "allow b.test\n").unwrap();
    fs::rename(&tmp, &path).unwrap();
    assert_eq!(calls(&rx), 1);
    // And again: the watch follows the name, not the first inode.
    fs::write(&tmp, "allow c.test\n").unwrap();
    fs::rename(&tmp, &path).unwrap();
    assert_eq!(calls(&rx), 1);
}

#[test]
fn a_rewrite_in_place_in_several_writes_is_one_change() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("egress.policy");
    fs::write(&path, "allow a.test\n").unwrap();
    let (_w, rx) = start(&path);
    let mut f = fs::File::create(&path).unwrap();
    for line in ["default deny\n", "allow a.test\n", "allow b.test\n"] {
        f.write_all(line.as_bytes()).unwrap();
        f.flush().unwrap();
        std::thread::sleep(Duration::from_millis(20));
    }
    drop(f);
    assert_eq!(calls(&rx), 1);
}

#[test]
fn other_files_in_the_directory_are_not_changes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("egress.policy");
    fs::write(&path, "allow a.test\n").unwrap();
    let (_w, rx) = start(&path);
    fs::write(dir.path().join("other.policy"), "allow x.test\n").unwrap();
    fs::remove_file(dir.path().join("other.policy")).unwrap();
    assert_eq!(calls(&rx), 0);
}

#[test]
fn a_configmap_volume_update_through_its_data_symlink_is_one_change() {
    // kubelet's layout: the file is a symlink into `..data`, itself a symlink to a timestamped
    // directory; an update writes a new directory and renames a new `..data` link over the old.
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    fs::create_dir(d.join("..2026_12_07_01")).unwrap();
    fs::write(d.join("..2026_12_07_01/egress.policy"), "allow a.test\n").unwrap();
    symlink("..2026_12_07_01", d.join("..data")).unwrap();
    symlink("..data/egress.policy", d.join("egress.policy")).unwrap();
    let (_w, rx) = start(&d.join("egress.policy"));
    fs::create_dir(d.join("..2026_12_07_02")).unwrap();
    fs::write(d.join("..2026_12_07_02/egress.policy"), "allow b.test\n").unwrap();
    symlink("..2026_12_07_02", d.join("..data_tmp")).unwrap();
    fs::rename(d.join("..data_tmp"), d.join("..data")).unwrap();
    fs::remove_dir_all(d.join("..2026_12_07_01")).unwrap();
    assert_eq!(calls(&rx), 1);
    assert_eq!(
        fs::read_to_string(d.join("egress.policy")).unwrap(),
        "allow b.test\n"
    );
}

#[test]
fn a_removed_file_is_no_change_until_it_returns() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("egress.policy");
    fs::write(&path, "allow a.test\n").unwrap();
    let (_w, rx) = start(&path);
    fs::remove_file(&path).unwrap();
    assert_eq!(calls(&rx), 0);
    fs::write(&path, "allow b.test\n").unwrap();
    assert_eq!(calls(&rx), 1);
}

#[test]
fn no_calls_after_the_watch_is_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("egress.policy");
    fs::write(&path, "allow a.test\n").unwrap();
    let (w, rx) = start(&path);
    drop(w);
    fs::write(&path, "allow b.test\n").unwrap();
    assert_eq!(calls(&rx), 0);
}

#[test]
fn reads_and_writes_of_other_files_do_not_hold_a_change_back() {
    // A log written (and read) next to the policy every 50 ms, as the e2e suites do: the
    // change to the policy is still seen, once, within a second or so.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("egress.policy");
    fs::write(&path, "allow a.test\n").unwrap();
    let (_w, rx) = start(&path);
    let log = dir.path().join("queries.log");
    let busy = std::thread::spawn(move || {
        for i in 0..60 {
            fs::write(&log, format!("line {i}\n")).unwrap();
            let _ = fs::read(&log).unwrap();
            std::thread::sleep(Duration::from_millis(50));
        }
    });
    std::thread::sleep(Duration::from_millis(200));
    let tmp = dir.path().join(".egress.policy.tmp");
    fs::write(&tmp, "allow b.test\n").unwrap();
    fs::rename(&tmp, &path).unwrap();
    assert!(
        rx.recv_timeout(Duration::from_secs(2)).is_ok(),
        "change not seen"
    );
    busy.join().unwrap();
    assert_eq!(calls(&rx), 0);
}
