//! `vinyl-rec split FILE [--into DIR]`: one FLAC file per track of a recording, bit-exact.
//!
//! Owns the folder (DIR, created when missing, or the recording's own folder) and the output:
//! the path of each part on its own line. The cutting, the names and the tags are
//! [`crate::flac::split`]'s. How it fails: a recording without markers, or a part that exists
//! already, exits 1 before anything is written; a failure while writing removes the parts
//! written so far; each is one line naming the file and the step.

use super::cli::SplitOpts;
use super::out_path;
use anyhow::Context as _;
use std::path::Path;

/// Runs `split`.
pub fn split(o: &SplitOpts) -> anyhow::Result<()> {
    if let Some(d) = &o.into {
        super::check::dir(d.as_os_str())
            .map_err(|e| crate::cli::UsageError::new(e.0.replace("--dir", "--into")))?;
    }
    let dir = match (&o.into, o.file.parent()) {
        (Some(d), _) => d.clone(),
        (None, Some(p)) if !p.as_os_str().is_empty() => p.to_path_buf(),
        (None, _) => Path::new(".").to_path_buf(),
    };
    if o.into.is_some() {
        std::fs::create_dir_all(&dir).with_context(|| format!("{}: mkdir", dir.display()))?;
    }
    for part in crate::flac::split::split(&o.file, &dir)? {
        out_path(&part.path)?;
    }
    Ok(())
}
