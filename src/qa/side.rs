//! The whole side's figures, once every block and chunk is known: the music level, the noise
//! floor (the quietest stretches: the lead-in and the gaps), the signal-to-noise ratio, the rumble
//! and the treble.
//!
//! Owns the rules: blocks are 100 ms, test tones and exact zeros left out. The music level is the
//! RMS of the louder half of the blocks. The noise floor is the median of the blocks within
//! [`NOISE_SPAN_DB`] of the [`MIN_NOISE_BLOCKS`]th quietest (so a lead-in of a few seconds is
//! enough on a 20-minute side, and one odd block does not set it), when it is at least
//! [`NOISE_UNDER_DB`] under the music level; else there is no quiet stretch and no floor.
//! The rumble is the 5–30 Hz level of the quiet chunks (those whose blocks are all within 3 dB of
//! the floor), else of every chunk; the treble (`hf_rolloff_db`) the 10–20 kHz energy against the
//! 1–4 kHz energy over the music chunks (a block 10 dB over the floor). It does not read audio.
//! It cannot fail: what cannot be measured is `None`.

use super::analyser::Chunk;

/// Blocks within this of the 5th quietest are the quiet stretches (dB).
pub const NOISE_SPAN_DB: f64 = 3.0;
/// The noise floor must be this far under the music (dB).
pub const NOISE_UNDER_DB: f64 = 10.0;
/// Quiet blocks needed for a floor (half a second); the quietest stretches are measured from the
/// level of the 5th quietest block.
pub const MIN_NOISE_BLOCKS: usize = 5;
/// Blocks in a chunk.
pub const BLOCKS_PER_CHUNK: usize = 5;

/// The side's figures.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Side {
    /// The music level (dBFS RMS), e.g. −24.
    pub music_dbfs: Option<f64>,
    /// The quiet stretches' level (dBFS RMS), e.g. −58.
    pub noise_floor_dbfs: Option<f64>,
    /// Music over noise (dB).
    pub snr_db: Option<f64>,
    /// 5–30 Hz (dBFS RMS).
    pub rumble_dbfs: Option<f64>,
    /// 10–20 kHz against 1–4 kHz (dB), e.g. −12.
    pub hf_rolloff_db: Option<f64>,
}

fn db(ms: f64) -> f64 {
    10.0 * ms.log10()
}

/// The loudest 100 ms block of chunk `j` (dBFS); `None` past the end or when one of its blocks is
/// digital zeros.
fn chunk_max(blocks: &[Option<f64>], j: usize) -> Option<f64> {
    let b = blocks.get(j * BLOCKS_PER_CHUNK..(j + 1) * BLOCKS_PER_CHUNK)?;
    b.iter().map(|v| v.map(db)).try_fold(f64::MIN, |m, v| v.map(|v| m.max(v)))
}

/// The chunks that are neither a test tone nor touched by digital zeros.
fn plain_chunks(blocks: &[Option<f64>], chunks: &[Chunk]) -> Vec<usize> {
    (0..chunks.len()).filter(|&j| !chunks[j].tone && chunk_max(blocks, j).is_some()).collect()
}

/// The chunks of a side whose noise floor is `noise` dBFS that are only noise: no block over it
/// by more than [`NOISE_SPAN_DB`] (the rumble's and the noise spectrum's stretches).
pub fn quiet_chunks(blocks: &[Option<f64>], chunks: &[Chunk], noise: f64) -> Vec<usize> {
    let quiet = |j: &usize| chunk_max(blocks, *j).is_some_and(|m| m <= noise + NOISE_SPAN_DB);
    plain_chunks(blocks, chunks).into_iter().filter(quiet).collect()
}

/// The figures of a side of `blocks` (mean squares, `None` for zeros) and `chunks`, whose bands
/// sum `channels` channels.
pub fn measure(blocks: &[Option<f64>], chunks: &[Chunk], channels: usize) -> Side {
    let tone = |i: usize| chunks.get(i / BLOCKS_PER_CHUNK).is_some_and(|c| c.tone);
    let levels: Vec<f64> =
        blocks.iter().enumerate().filter(|(i, _)| !tone(*i)).filter_map(|(_, b)| b.map(db)).collect();
    if levels.is_empty() {
        return Side::default();
    }
    let mut sorted = levels.clone();
    sorted.sort_by(f64::total_cmp);
    let loud = &sorted[sorted.len() / 2..];
    let music = db(loud.iter().map(|l| 10f64.powf(l / 10.0)).sum::<f64>() / loud.len() as f64);
    let quietest = sorted[(MIN_NOISE_BLOCKS - 1).min(sorted.len() - 1)];
    let quiet: Vec<f64> = sorted.iter().copied().take_while(|l| *l <= quietest + NOISE_SPAN_DB).collect();
    let noise = (quiet.len() >= MIN_NOISE_BLOCKS && quiet[quiet.len() / 2] <= music - NOISE_UNDER_DB)
        .then(|| quiet[quiet.len() / 2]);
    let chunk_max = |j: usize| chunk_max(blocks, j);
    let per_channel = channels.clamp(1, 2) as f64;
    let plain = plain_chunks(blocks, chunks);
    let quiet_chunks = noise.map_or_else(Vec::new, |n| quiet_chunks(blocks, chunks, n));
    let rumble_from = if quiet_chunks.is_empty() { &plain } else { &quiet_chunks };
    let rumble = (!rumble_from.is_empty()).then(|| {
        db(rumble_from.iter().map(|&j| chunks[j].bands.rumble).sum::<f64>()
            / rumble_from.len() as f64
            / per_channel)
    });
    let floor = noise.unwrap_or(f64::MIN);
    let music_chunks = plain.iter().filter(|&&j| chunk_max(j).is_some_and(|m| m > floor + NOISE_UNDER_DB));
    let (hf, mid) =
        music_chunks.fold((0.0, 0.0), |(h, m), &j| (h + chunks[j].bands.hf, m + chunks[j].bands.mid));
    Side {
        music_dbfs: Some(music),
        noise_floor_dbfs: noise,
        snr_db: noise.map(|n| music - n),
        rumble_dbfs: rumble.filter(|r| r.is_finite()),
        hf_rolloff_db: (hf > 0.0 && mid > 0.0).then(|| db(hf / mid)),
    }
}

#[cfg(test)]
mod tests {
    use super::super::analyser::Analyser;
    use super::super::testsig;
    use super::*;

    fn analyse(pcm: &[f32]) -> Side {
        let mut a = Analyser::new(48_000, 2, 16, 3150.0);
        a.feed(pcm);
        a.finish();
        measure(&a.levels.blocks, &a.chunks, 2)
    }

    #[test]
    fn the_noise_floor_is_the_lead_in_and_gaps_within_1_db() {
        for noise in [-65.0, -55.0, -45.0] {
            let s = analyse(&testsig::side(6.0, 4, 20.0, noise, 10, -30.0));
            let floor = s.noise_floor_dbfs.unwrap();
            println!("noise {noise} dBFS: floor {floor:.2} dBFS, music {:.2} dBFS", s.music_dbfs.unwrap());
            assert!((floor - noise).abs() <= 1.0, "noise {noise}: floor {floor:.2} ({s:?})");
            let music = s.music_dbfs.unwrap();
            assert!((-30.0..-15.0).contains(&music), "{s:?}");
            assert!((s.snr_db.unwrap() - (music - floor)).abs() < 1e-9);
        }
    }

    #[test]
    fn treble_loss_shows_in_hf_rolloff_and_rumble_in_its_band() {
        let bright = analyse(&testsig::side(4.0, 2, 20.0, -60.0, 0, -30.0)).hf_rolloff_db.unwrap();
        // The same side through a gentle low-pass (a worn stylus loses treble).
        let mut dull = testsig::side(4.0, 2, 20.0, -60.0, 0, -30.0);
        let (mut l, mut r) = (0.0f32, 0.0f32);
        for f in dull.chunks_mut(2) {
            l += 0.5 * (f[0] - l);
            r += 0.5 * (f[1] - r);
            (f[0], f[1]) = (l, r);
        }
        let dull = analyse(&dull).hf_rolloff_db.unwrap();
        assert!(dull < bright - 3.0, "bright {bright:.1} dB, dull {dull:.1} dB");
        // 12 Hz rumble at -40 dBFS RMS on the noise.
        let mut x = testsig::side(6.0, 2, 20.0, -60.0, 0, -30.0);
        let a = testsig::amp(-40.0 + 3.01);
        for (i, f) in x.chunks_mut(2).enumerate() {
            let v = (a * (2.0 * std::f64::consts::PI * 12.0 * i as f64 / 48_000.0).sin()) as f32;
            f[0] += v;
            f[1] += v;
        }
        let rumble = analyse(&x).rumble_dbfs.unwrap();
        assert!((rumble - (-40.0)).abs() <= 1.0, "{rumble}");
    }

    #[test]
    fn pure_noise_and_silence_have_no_floor() {
        let noise = testsig::fm_tone(1000.0, -200.0, 0.0, 1.0, 10.0, -40.0, 48_000, 3);
        let s = analyse(&testsig::stereo(&noise, &noise));
        assert_eq!((s.noise_floor_dbfs, s.snr_db), (None, None), "{s:?}");
        assert!((s.music_dbfs.unwrap() - (-40.0)).abs() < 0.5);
        assert_eq!(analyse(&vec![0.0; 96_000 * 3]), Side::default());
    }
}
