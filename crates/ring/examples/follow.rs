//! Follows a vinyl ring live and writes its PCM to stdout: all an outside program needs.
//!
//!     cargo run -p vinyl-ring --example follow -- /dev/shm/vinyl-ring | aplay -f S16_LE -r 48000 -c 2
use std::io::Write as _;
use vinyl_ring::tap::{Follow, Note, Observer, follow_live};

/// Says on stderr what the tap saw: skips, gaps, a replaced ring.
struct Say;
impl Observer for Say {
    fn note(&mut self, note: Note) {
        eprintln!("{note:?}");
    }
}

fn main() -> anyhow::Result<()> {
    let path = std::env::args().nth(1).unwrap_or_else(|| vinyl_ring::DEFAULT_RING.to_string());
    vinyl_ring::guard::install()?; // a ring truncated under us is an error, not SIGBUS
    let spec = vinyl_ring::RingReader::open(path.as_ref(), true)?.config().spec;
    let mut out = std::io::stdout().lock();
    let f = Follow { ring: path.as_ref(), spec, from: None, batch: Default::default(), stop: &|| false };
    follow_live(f, &mut Say, &mut |_frame, pcm| Ok(out.write_all(pcm).and_then(|()| out.flush())?))
}
