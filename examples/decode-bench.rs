//! Times the FLAC decoders for the numbers in `src/flac/frames.rs`'s charter (not installed, not a
//! tool): `decode-bench ours|claxon|each FILE` decodes FILE with vinyl's frame decoder, with
//! claxon, or through `flac::decode::each_block` (vinyl's decoder, interleaved and scaled to f32),
//! and prints the samples per channel, a checksum of the samples (the same for `ours` and `claxon`)
//! and the seconds of CPU the process used. Run it under `perf stat` or `/usr/bin/time`.
//! `decode-bench measure FILE` runs what `vinyl-rec auto` does to each finished side's file
//! (`rec::auto::measure::file`: the decode, EBU R128 loudness and true peak) and prints the same
//! CPU seconds, so that the decode's part and the meter's part can be told apart.
use std::path::Path;

fn cpu_seconds() -> f64 {
    let u = nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_SELF).expect("getrusage");
    let s = |t: nix::sys::time::TimeVal| t.tv_sec() as f64 + t.tv_usec() as f64 / 1e6;
    s(u.user_time()) + s(u.system_time())
}

/// Folds the samples of channel `c` into a checksum both integer decoders agree on: a sum of
/// each sample xor its place, which vectorises, so next to decoding it costs next to nothing.
fn fold(sum: u64, c: usize, samples: &[i32]) -> u64 {
    let s = samples.iter().enumerate().fold(0u32, |acc, (i, s)| acc.wrapping_add(*s as u32 ^ i as u32));
    sum.wrapping_mul(31).wrapping_add(u64::from(s) ^ c as u64)
}

fn ours(path: &Path) -> anyhow::Result<(u64, u64)> {
    let mut r = vinyl::flac::frames::FrameReader::open(path)?;
    let (mut n, mut sum) = (0u64, 0u64);
    while let Some(b) = r.next_block()? {
        for c in 0..b.channels() {
            sum = fold(sum, c, b.channel(c));
        }
        n += b.len() as u64;
    }
    Ok((n, sum))
}

fn claxon(path: &Path) -> anyhow::Result<(u64, u64)> {
    let mut r = claxon::FlacReader::open(path)?;
    let mut blocks = r.blocks();
    let (mut n, mut sum, mut buf) = (0u64, 0u64, Vec::new());
    while let Some(b) = blocks.read_next_or_eof(std::mem::take(&mut buf))? {
        for c in 0..b.channels() {
            sum = fold(sum, c as usize, b.channel(c));
        }
        n += u64::from(b.duration());
        buf = b.into_buffer();
    }
    Ok((n, sum))
}

fn each(path: &Path) -> anyhow::Result<(u64, u64)> {
    let (mut n, mut sum) = (0u64, 0f64);
    let shape = vinyl::flac::decode::each_block(path, "bench", |_, pcm| {
        sum += pcm.iter().map(|s| f64::from(s.abs())).sum::<f64>();
        n += pcm.len() as u64;
        Ok(true)
    })?;
    Ok((n / u64::from(shape.channels.max(1)), sum as u64))
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let [_, which, file] = &args[..] else {
        anyhow::bail!("usage: decode-bench ours|claxon|each|measure FILE");
    };
    let path = Path::new(file);
    let (samples, sum) = match which.as_str() {
        "ours" => ours(path)?,
        "claxon" => claxon(path)?,
        "each" => each(path)?,
        "measure" => {
            let (lufs, tp) = vinyl::rec::auto::measure::file(path)?;
            println!("measure: {lufs:?} LUFS, {tp:?} dBTP");
            (0, 0)
        }
        _ => anyhow::bail!("usage: decode-bench ours|claxon|each|measure FILE"),
    };
    println!("{which}: {samples} samples per channel, checksum {sum:016x}, {:.3} s CPU", cpu_seconds());
    Ok(())
}
