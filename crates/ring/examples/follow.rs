//! Follows a vinyl ring live and writes its PCM to stdout: all an outside program needs.
//!
//!     cargo run -p vinyl-ring --example follow -- /dev/shm/vinyl-ring | aplay -f S16_LE -r 48000 -c 2
use std::{io::Write as _, time::Duration};
use vinyl_ring::{ReadError, RingReader};

fn main() -> anyhow::Result<()> {
    let path = std::env::args().nth(1).unwrap_or_else(|| vinyl_ring::DEFAULT_RING.to_string());
    vinyl_ring::guard::install()?; // a ring truncated under us is an error, not SIGBUS
    let ring = RingReader::open(path.as_ref(), true)?;
    let (fb, gen_) = (ring.config().spec.frame_bytes(), ring.snapshot()?.generation);
    let (mut next, mut buf, mut out) = (ring.head()?, vec![0u8; fb * 4800], std::io::stdout().lock());
    loop {
        ring.wait_beyond(next, gen_, Duration::from_secs(1));
        let n = (ring.head()? - next).min(4800);
        match ring.read(gen_, next, n, &mut buf) {
            Ok(()) => out.write_all(&buf[..n as usize * fb])?,
            Err(ReadError::Lost { first, end }) => eprintln!("overtaken: frames {first}..{end} lost"),
            Err(e) => anyhow::bail!("{path}: {e}"), // replaced, truncated or damaged
        }
        next = if n == 0 { next } else { (next + n).max(ring.first_intact()) };
    }
}
