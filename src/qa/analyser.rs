//! The analysis of one input, streamed: half-second chunks go through the sample-rate pass
//! ([`super::levels`]) and one spectrum each ([`super::spectrum`]), which says what the chunk is:
//! - a speed tone: over 90 % of a channel's power in one peak between 2.9 and 3.4 kHz (scaled by
//!   `--reference`/3150), within 1.5 % of the tone's first chunk; its samples then go through the
//!   demodulator ([`super::wow`]) while the tone lasts;
//! - a separation tone: over 90 % of one channel's power in a peak within 4 % of 1 kHz, the other
//!   channel at least 6 dB under it at that frequency; the two channels' powers there add up
//!   while it lasts;
//! - else music (or the noise between it).
//!
//! A tone counts when it lasts 4 s (8 chunks) or more; the longest of each kind is reported.
//! At the end, the whole side's blocks give the music level, the noise floor and what depends
//! on them ([`super::side`]).
//!
//! Owns the chunking and the classification. It does not read input or print. It cannot fail:
//! what cannot be measured is `None`.

use super::levels::Levels;
use super::spectrum::{Bands, Spectrum};
use super::wow::{self, Demodulator, Flutter};

/// A tone's purity to count as a test tone.
const PURITY: f64 = 0.9;
/// Chunks a tone must last (4 s).
const MIN_TONE_CHUNKS: usize = 8;
/// The leak channel must be this far under the driven one (dB) for a separation tone.
const ONE_CHANNEL_DB: f64 = 6.0;

/// What a chunk is.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    Music,
    /// A speed tone on channel `.0` at `.1` Hz.
    Speed(usize, f64),
    /// A 1 kHz tone driven on channel `.0`: (driven power, leak power).
    Separation(usize, f64, f64),
}

/// What the analyser keeps of a chunk, for the side's figures.
#[derive(Clone, Debug)]
pub struct Chunk {
    /// True when the chunk was a test tone.
    pub tone: bool,
    /// The chunk's spectral bands, summed over its first two channels.
    pub bands: Bands,
    /// Its third-octave powers, summed over its first two channels (for the noise spectrum).
    pub thirds: [f32; super::spectrum::THIRDS],
}

/// A test tone found.
#[derive(Clone, Debug, PartialEq)]
pub struct Tone {
    /// `speed`, `left_1k` or `right_1k`.
    pub kind: &'static str,
    /// Where it starts (s).
    pub start_s: f64,
    /// How long it lasts (s).
    pub seconds: f64,
    /// Its frequency (Hz): for a speed tone, the demodulator's mean.
    pub frequency_hz: f64,
    /// A speed tone's measurement.
    pub flutter: Option<Flutter>,
    /// A speed tone's deviation spectrum ([`wow::spectrum`]).
    pub deviation: Vec<[f64; 2]>,
    /// A separation tone's (driven, leak) mean powers.
    pub powers: Option<(f64, f64)>,
}

/// A tone being followed.
struct Run {
    kind: Kind,
    start_chunk: usize,
    chunks: usize,
    demod: Option<Demodulator>,
    powers: (f64, f64),
}

/// The analysis in progress.
pub struct Analyser {
    /// Frames a second.
    pub rate: u32,
    /// Channels a frame.
    pub channels: usize,
    speed_band: (f64, f64),
    chunk_frames: usize,
    pending: Vec<f32>,
    /// The sample-rate pass.
    pub levels: Levels,
    spectrum: Spectrum,
    /// Every chunk's bands and kind.
    pub chunks: Vec<Chunk>,
    run: Option<Run>,
    /// The tones found, in order.
    pub tones: Vec<Tone>,
    /// Frames fed.
    pub frames: u64,
}

impl Analyser {
    /// An analysis of `channels` channels at `rate` Hz, `bits` a sample, for a speed tone
    /// nominally at `reference` Hz.
    pub fn new(rate: u32, channels: usize, bits: u32, reference: f64) -> Analyser {
        let sub = (rate / 100).max(1) as usize;
        let chunk_frames = sub * 50;
        let n = if rate >= 32_000 { 8192 } else { 1 << chunk_frames.ilog2() };
        let clip = 1.0 - 1.0 / (1u64 << (bits.clamp(2, 32) - 1)) as f64;
        Analyser {
            rate,
            channels,
            speed_band: (2900.0 * reference / 3150.0, 3400.0 * reference / 3150.0),
            chunk_frames,
            pending: Vec::with_capacity(chunk_frames * channels),
            levels: Levels::new(channels, sub, clip as f32),
            spectrum: Spectrum::new(n, rate),
            chunks: Vec::new(),
            run: None,
            tones: Vec::new(),
            frames: 0,
        }
    }

    /// Seconds of one chunk.
    pub fn chunk_s(&self) -> f64 {
        self.chunk_frames as f64 / f64::from(self.rate)
    }

    /// Takes interleaved whole frames.
    pub fn feed(&mut self, mut pcm: &[f32]) {
        self.frames += (pcm.len() / self.channels) as u64;
        let whole = self.chunk_frames * self.channels;
        while !pcm.is_empty() {
            let take = (whole - self.pending.len()).min(pcm.len());
            self.pending.extend_from_slice(&pcm[..take]);
            pcm = &pcm[take..];
            if self.pending.len() == whole {
                let chunk = std::mem::take(&mut self.pending);
                self.chunk(&chunk);
                self.pending = chunk;
                self.pending.clear();
            }
        }
    }

    /// Ends the analysis: the last whole sub-blocks through the levels, the open tone closed.
    pub fn finish(&mut self) {
        let sub = self.levels.sub_frames() * self.channels;
        let whole = self.pending.len() / sub * sub;
        let rest = std::mem::take(&mut self.pending);
        self.levels.feed(&rest[..whole]);
        self.close_run();
    }

    fn chunk(&mut self, pcm: &[f32]) {
        self.levels.feed(pcm);
        let bands = self.spectrum.read(pcm, self.channels);
        let kind = self.classify(&bands);
        let mut sum = bands[0];
        if let Some(b) = bands.get(1) {
            (sum.rumble, sum.mid, sum.hf, sum.total) =
                (sum.rumble + b.rumble, sum.mid + b.mid, sum.hf + b.hf, sum.total + b.total);
        }
        let thirds = self.spectrum.thirds(self.channels);
        self.chunks.push(Chunk { tone: kind != Kind::Music, bands: sum, thirds });
        self.follow(kind, pcm);
    }

    /// What a chunk with these bands is.
    fn classify(&self, bands: &[Bands]) -> Kind {
        let (lo, hi) = self.speed_band;
        let speed = bands
            .iter()
            .enumerate()
            .filter(|(_, b)| b.purity() >= PURITY && (lo..=hi).contains(&b.peak_hz) && b.peak > 1e-7)
            .max_by(|a, b| a.1.peak.total_cmp(&b.1.peak));
        if let Some((c, b)) = speed {
            return Kind::Speed(c, b.peak_hz);
        }
        if bands.len() < 2 {
            return Kind::Music;
        }
        for (c, b) in bands.iter().enumerate().take(2) {
            if b.purity() >= PURITY && (b.peak_hz - 1000.0).abs() <= 40.0 && b.peak > 1e-7 {
                let leak = self.spectrum.power_at(1 - c, b);
                if leak * 10f64.powf(ONE_CHANNEL_DB / 10.0) <= b.peak {
                    return Kind::Separation(c, b.peak, leak);
                }
            }
        }
        Kind::Music
    }

    /// Continues, ends or starts the tone being followed with a chunk of `kind`.
    fn follow(&mut self, kind: Kind, pcm: &[f32]) {
        let same = match (self.run.as_ref().map(|r| r.kind), kind) {
            // A tone on both channels may peak on either: the run keeps its first channel.
            (Some(Kind::Speed(_, f)), Kind::Speed(_, f2)) => (f2 / f - 1.0).abs() <= 0.015,
            (Some(Kind::Separation(c, ..)), Kind::Separation(c2, ..)) => c == c2,
            _ => false,
        };
        if !same {
            self.close_run();
            let demod = match kind {
                Kind::Speed(_, f) => Some(Demodulator::new(f, self.rate)),
                _ => None,
            };
            if kind != Kind::Music {
                self.run = Some(Run {
                    kind,
                    start_chunk: self.chunks.len() - 1,
                    chunks: 0,
                    demod,
                    powers: (0.0, 0.0),
                });
            }
        }
        let channels = self.channels;
        let Some(run) = self.run.as_mut() else { return };
        run.chunks += 1;
        match (run.kind, kind) {
            (Kind::Speed(c, _), _) => {
                if let Some(d) = run.demod.as_mut() {
                    d.feed(pcm[c..].iter().step_by(channels).copied(), self.rate);
                }
            }
            (_, Kind::Separation(_, drive, leak)) => run.powers = (run.powers.0 + drive, run.powers.1 + leak),
            _ => {}
        }
    }

    /// Ends the tone being followed, keeping it when it lasted long enough.
    fn close_run(&mut self) {
        let Some(run) = self.run.take() else { return };
        if run.chunks < MIN_TONE_CHUNKS {
            return;
        }
        let chunk_s = self.chunk_s();
        let mut tone = Tone {
            kind: "speed",
            start_s: run.start_chunk as f64 * chunk_s,
            seconds: run.chunks as f64 * chunk_s,
            frequency_hz: 1000.0,
            flutter: None,
            deviation: Vec::new(),
            powers: None,
        };
        match (run.kind, run.demod) {
            (Kind::Speed(..), Some(d)) => {
                tone.flutter = wow::measure(&d.freqs, d.if_rate(self.rate));
                tone.deviation = wow::spectrum(&d.freqs, d.if_rate(self.rate));
                let Some(f) = tone.flutter else { return };
                tone.frequency_hz = f.mean_hz;
            }
            (Kind::Separation(c, ..), _) => {
                tone.kind = if c == 0 { "left_1k" } else { "right_1k" };
                let n = run.chunks as f64;
                tone.powers = Some((run.powers.0 / n, run.powers.1 / n));
            }
            _ => return,
        }
        self.tones.push(tone);
    }
}
