//! `vinyl-preroll info`: the ring's state as text for people or one flat JSON line for scripts.
//!
//! Owns the names of the JSON keys (`vinyl-up` depends on them; see [`json`]). It maps the ring
//! read-only and never takes its lock. Fails (exit 1, naming the path) when there is no ring,
//! the file is not a ring, it is a ring of another layout version, or its header is corrupt
//! (said in those words, with the field that is impossible).

use super::cli::InfoOpts;
use crate::ring::{Gap, RingReader, Snapshot, layout};
use std::io::Write as _;

/// Everything `info` shows, read at one moment.
#[derive(Debug, Clone)]
pub struct Info {
    /// The ring's path as given.
    pub ring: String,
    /// The ring's configuration.
    pub config: crate::ring::Config,
    /// The changing header fields.
    pub snap: Snapshot,
    /// Whether a writer holds the ring's lock.
    pub writer_alive: bool,
    /// The gap journal, oldest first.
    pub gaps: Vec<Gap>,
}

impl Info {
    /// The oldest frame the ring guarantees.
    pub fn oldest(&self) -> u64 {
        self.snap.head.saturating_sub(self.config.capacity_frames)
    }
}

/// Runs `info`.
pub fn run(o: InfoOpts) -> anyhow::Result<()> {
    if let Some(d) = &o.wait_advancing {
        wait_advancing(&o.ring, d.wall_time(crate::pcm::PcmSpec::default().rate))?;
    }
    let ring = RingReader::open(&o.ring, false)?;
    let snap = ring.snapshot().map_err(|e| anyhow::anyhow!("{}: corrupt ring: {e}", o.ring.display()))?;
    let info = Info {
        ring: o.ring.display().to_string(),
        config: ring.config(),
        snap,
        writer_alive: ring.writer_alive()?,
        gaps: ring.gaps(),
    };
    let text = if o.json { json(&info) } else { text(&info) };
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .map_err(|e| anyhow::anyhow!("stdout: write: {e}"))?;
    Ok(())
}

/// Waits until the ring at `path` has a live writer and a head that moves, checking every 20 ms
/// for at most `timeout`. Fails naming the ring and the last thing seen (no ring, no writer, a
/// head that stayed at N).
fn wait_advancing(path: &std::path::Path, timeout: std::time::Duration) -> anyhow::Result<()> {
    let deadline = std::time::Instant::now() + timeout;
    let mut first: Option<u64> = None;
    loop {
        let seen = match RingReader::open(path, false) {
            Err(e) => format!("no ring ({e:#})"),
            Ok(ring) => match (ring.writer_alive(), ring.snapshot()) {
                (Ok(true), Ok(s)) if first.is_some_and(|f| s.head > f) => return Ok(()),
                (Ok(true), Ok(s)) => {
                    first.get_or_insert(s.head);
                    format!("a writer, but the head stayed at {}", s.head)
                }
                (Ok(false), _) => "no writer".to_string(),
                (Err(e), _) => format!("{e:#}"),
                (_, Err(e)) => format!("corrupt ring: {e}"),
            },
        };
        if std::time::Instant::now() >= deadline {
            anyhow::bail!("{}: not advancing after {:?}: {seen}", path.display(), timeout);
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// One flat JSON object on one line (with a final newline). Keys: `ring`, `version`, `format`,
/// `rate`, `channels`, `capacity_frames`, `slot_frames`, `head`, `oldest_frame`, `newest_frame`
/// (`null` while the ring is empty), `writer_alive`, `writer_pid` (0 when no writer is alive),
/// `generation`, `timeline` (the timeline's id, for `tap --timeline`: a string of digits, because
/// the id is above 2^53 and JSON readers that use doubles, jq and JavaScript, would change its
/// last digits), `writers`, `gap_count`
/// and `gap_frames` (gaps and silent frames since the timeline began), `frame0_unix_ns` and
/// `frame0_time` (RFC 3339 UTC; both `null` while no frame was written), and last `gaps`: the
/// journal, an array of `{"first","frames","cause","exact","time"}` objects, oldest first.
pub fn json(i: &Info) -> String {
    let (c, s) = (&i.config, &i.snap);
    let known = |v: u64| (v > 0).then_some(v);
    let gaps = i
        .gaps
        .iter()
        .map(|g| GapJson {
            first: g.first,
            frames: g.frames,
            cause: g.cause.name(),
            exact: g.exact,
            time: crate::time::rfc3339_utc(g.unix_ns),
        })
        .collect();
    let j = InfoJson {
        ring: &i.ring,
        version: layout::VERSION,
        format: c.spec.format.name(),
        rate: c.spec.rate,
        channels: c.spec.channels,
        capacity_frames: c.capacity_frames,
        slot_frames: c.slot_frames,
        head: s.head,
        oldest_frame: i.oldest(),
        newest_frame: s.head.checked_sub(1),
        writer_alive: i.writer_alive,
        writer_pid: if i.writer_alive { s.writer_pid } else { 0 },
        generation: s.generation,
        timeline: s.timeline.to_string(),
        writers: s.writers,
        gap_count: s.gap_count,
        gap_frames: s.gap_frames,
        frame0_unix_ns: known(s.frame0_unix_ns),
        frame0_time: known(s.frame0_unix_ns).map(crate::time::rfc3339_utc),
        gaps,
    };
    // Numbers, strings, booleans and nulls: serialising cannot fail.
    serde_json::to_string(&j).unwrap_or_default() + "\n"
}

/// The object [`json`] prints, its keys in this order.
#[derive(serde::Serialize)]
struct InfoJson<'a> {
    ring: &'a str,
    version: u32,
    format: &'static str,
    rate: u32,
    channels: u16,
    capacity_frames: u64,
    slot_frames: u64,
    head: u64,
    oldest_frame: u64,
    newest_frame: Option<u64>,
    writer_alive: bool,
    writer_pid: u32,
    generation: u64,
    timeline: String,
    writers: u32,
    gap_count: u64,
    gap_frames: u64,
    frame0_unix_ns: Option<u64>,
    frame0_time: Option<String>,
    gaps: Vec<GapJson>,
}

/// One gap of the journal in [`json`].
#[derive(serde::Serialize)]
struct GapJson {
    first: u64,
    frames: u64,
    cause: &'static str,
    exact: bool,
    time: String,
}

/// The human-readable form, one `name: value` a line.
pub fn text(i: &Info) -> String {
    let c = &i.config;
    let s = &i.snap;
    let spec = &c.spec;
    let mut out = String::new();
    let mut line = |k: &str, v: String| out.push_str(&format!("{k:<14}{v}\n"));
    line("ring:", i.ring.clone());
    line("version:", layout::VERSION.to_string());
    line("format:", spec.to_string());
    line(
        "capacity:",
        format!(
            "{} (+ {} slack)",
            spec.describe_frames(c.capacity_frames),
            spec.describe_frames(c.slot_frames - c.capacity_frames)
        ),
    );
    line("head:", format!("{} ({} written)", s.head, spec.describe_frames(s.head)));
    line(
        "newest frame:",
        if s.head > 0 { (s.head - 1).to_string() } else { "none (the ring is empty)".into() },
    );
    line("oldest frame:", i.oldest().to_string());
    line("held:", spec.describe_frames(s.head - i.oldest()));
    let writer = match (i.writer_alive, s.writer_pid) {
        (true, 0) => "running".to_string(),
        (true, pid) => format!("running (pid {pid})"),
        (false, _) if s.retired => "none: this file was replaced by a new ring".to_string(),
        (false, _) => "none".to_string(),
    };
    line("writer:", writer);
    line("generation:", s.generation.to_string());
    line("timeline:", format!("{} ({} writers so far)", s.timeline, s.writers));
    line(
        "gaps:",
        format!(
            "{} since the timeline began, {} of silence",
            s.gap_count,
            spec.describe_frames(s.gap_frames)
        ),
    );
    for g in &i.gaps {
        line(
            "  gap:",
            format!("{} ({})", crate::ring::describe_gap(g, spec.rate), crate::time::rfc3339_utc(g.unix_ns)),
        );
    }
    let f0 = if s.frame0_unix_ns > 0 {
        format!("{} ({} unix ns)", crate::time::rfc3339_utc(s.frame0_unix_ns), s.frame0_unix_ns)
    } else {
        "unknown (no frame written yet)".into()
    };
    line("frame 0 time:", f0);
    if s.head > 0 && s.last_write_mono_ns > 0 {
        let ago = layout::monotonic_ns().saturating_sub(s.last_write_mono_ns);
        line("last write:", format!("{:.3}s ago", ago as f64 / 1e9));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pcm::PcmSpec;

    #[test]
    fn json_is_one_flat_line_with_nulls_for_the_unknown() {
        let info = Info {
            ring: "/dev/shm/a\"b".into(),
            config: crate::ring::Config::new(PcmSpec::default(), 48_000),
            snap: Snapshot {
                head: 0,
                generation: 1,
                timeline: 7,
                writers: 2,
                gap_count: 1,
                gap_frames: 480,
                retired: false,
                writer_pid: 42,
                frame0_unix_ns: 0,
                last_write_mono_ns: 0,
            },
            writer_alive: false,
            gaps: vec![Gap {
                first: 96_000,
                frames: 480,
                cause: crate::ring::GapCause::WriterRestart,
                exact: false,
                unix_ns: 0,
            }],
        };
        let j = json(&info);
        assert_eq!(j.lines().count(), 1);
        assert!(j.starts_with("{\"ring\":\"/dev/shm/a\\\"b\",\"version\":2,\"format\":\"s16le\","), "{j}");
        assert!(j.contains("\"newest_frame\":null,\"writer_alive\":false,\"writer_pid\":0,"), "{j}");
        assert!(j.contains("\"timeline\":\"7\",\"writers\":2,\"gap_count\":1,\"gap_frames\":480,"), "{j}");
        assert!(
            j.ends_with(
                "\"frame0_unix_ns\":null,\"frame0_time\":null,\"gaps\":[{\"first\":96000,\"frames\":480,\
                 \"cause\":\"writer-restart\",\"exact\":false,\"time\":\"1970-01-01T00:00:00.000Z\"}]}\n"
            ),
            "{j}"
        );
    }
}
