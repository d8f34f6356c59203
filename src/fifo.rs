//! Making a FIFO: the one policy every tool that creates one follows.
//!
//! Owns creation only: `mkfifo` with the mode asked, then the mode set again on the FIFO itself
//! (mkfifo's mode is narrowed by the umask), through a descriptor opened with `O_NOFOLLOW`, so a
//! symbolic link swapped in at the path between the two steps is refused, never followed to
//! change another file's mode. Whether an existing path is acceptable (any file for an input, only
//! a FIFO for a title channel) is the caller's rule. How it fails: the system call's error.

use nix::fcntl::{OFlag, open};
use nix::sys::stat::{Mode, fchmod};
use std::path::Path;

/// Creates a FIFO at `path` with exactly `mode`.
pub fn create(path: &Path, mode: u32) -> nix::Result<()> {
    let mode = Mode::from_bits_truncate(mode);
    nix::unistd::mkfifo(path, mode)?;
    // Non-blocking: opening a FIFO for reading without a writer returns at once.
    let fd = open(
        path,
        OFlag::O_RDONLY | OFlag::O_NONBLOCK | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::empty(),
    )?;
    fchmod(&fd, mode)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{FileTypeExt as _, PermissionsExt as _};

    #[test]
    fn the_fifo_gets_exactly_its_mode_whatever_the_umask() {
        // 0666 is narrowed by any usual umask (022, 077); the umask itself is left alone, as it
        // is the whole test process's.
        let d = tempfile::tempdir().unwrap();
        create(&d.path().join("f"), 0o666).unwrap();
        let m = std::fs::symlink_metadata(d.path().join("f")).unwrap();
        assert!(m.file_type().is_fifo());
        assert_eq!(m.permissions().mode() & 0o777, 0o666);
        assert!(create(&d.path().join("f"), 0o600).is_err(), "an existing path is not replaced");
    }
}
