//! Test audio built stretch by stretch (tones, music-like partials, seeded noise) and written as
//! raw PCM or as FLAC by vinyl's own encoder: the sides vinyl-qa measures and the page plots.

use std::f64::consts::PI;
use std::path::{Path, PathBuf};
use vinyl::flac::{FlacWriter, WriterOptions};
use vinyl::pcm::{PcmSpec, SampleFormat};

/// A seeded Gaussian source (xorshift64* and Box–Muller).
pub struct Noise(pub u64);

impl Noise {
    /// The next value: mean 0, standard deviation 1.
    pub fn gauss(&mut self) -> f64 {
        let mut u = || {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64
        };
        let a = u().max(1e-300);
        (-2.0 * a.ln()).sqrt() * (2.0 * PI * u()).cos()
    }
}

/// The amplitude of `db` dBFS.
pub fn amp(db: f64) -> f64 {
    10f64.powf(db / 20.0)
}

/// Frames of `channels` channels as ±1.0 samples, built stretch by stretch.
pub struct Audio {
    pub rate: f64,
    pub channels: usize,
    pub samples: Vec<f64>,
    noise: Noise,
}

impl Audio {
    /// No audio yet, at `rate` Hz in `channels` channels.
    pub fn new(rate: u32, channels: usize) -> Audio {
        Audio { rate: f64::from(rate), channels, samples: Vec::new(), noise: Noise(0x5EED) }
    }

    /// `seconds` of `f(channel, t)` plus white noise at -62 dBFS RMS on every channel.
    pub fn add(&mut self, seconds: f64, f: impl Fn(usize, f64) -> f64) -> &mut Audio {
        let start = self.samples.len() / self.channels;
        for i in 0..(seconds * self.rate) as usize {
            let t = (start + i) as f64 / self.rate;
            for c in 0..self.channels {
                let v = f(c, t) + amp(-62.0) * self.noise.gauss();
                self.samples.push(v);
            }
        }
        self
    }

    /// Little-endian PCM of `format`.
    pub fn pcm(&self, format: SampleFormat) -> Vec<u8> {
        let full = f64::from(1u32 << (format.bits() - 1));
        let mut out = Vec::new();
        for s in &self.samples {
            let v = (s * full).round().clamp(-full, full - 1.0) as i32;
            out.extend_from_slice(&v.to_le_bytes()[..format.bytes()]);
        }
        out
    }

    /// The audio as a FLAC file written by vinyl's encoder.
    pub fn flac(&self, path: &Path, format: SampleFormat) -> PathBuf {
        self.flac_tagged(path, format, &[])
    }

    /// The audio as a FLAC file with the Vorbis comments `tags`.
    pub fn flac_tagged(&self, path: &Path, format: SampleFormat, tags: &[(&str, &str)]) -> PathBuf {
        let spec = PcmSpec { rate: self.rate as u32, channels: self.channels as u16, format };
        let file = std::fs::File::create(path).unwrap();
        let tags = tags.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let mut w = FlacWriter::new(file, spec, &WriterOptions { tags, ..WriterOptions::default() }).unwrap();
        w.write_pcm(&self.pcm(format)).unwrap();
        w.finalize().unwrap();
        path.to_path_buf()
    }
}

/// A play of one mono side (music between a lead-in and a gap, its treble `treble` dB under the
/// rest) with `clicks` clicks at -20 dBFS spread over it, as a FLAC file at `path`.
pub fn play_with_clicks(path: &Path, clicks: usize, treble: f64) -> PathBuf {
    let mut a = Audio::new(44_100, 1);
    let music = |_: usize, t: f64| {
        let env = 0.5 + 0.5 * (2.0 * PI * 0.3 * t).sin().abs();
        env * (0.08 * (2.0 * PI * 220.0 * t).sin()
            + 0.02 * (2.0 * PI * 1760.0 * t).sin()
            + 0.02 * amp(-treble) * (2.0 * PI * 12_000.0 * t).sin())
    };
    a.add(6.0, |_, _| 0.0).add(20.0, music).add(2.0, |_, _| 0.0).add(20.0, music);
    let span = a.samples.len() - 44_100;
    for k in 0..clicks {
        a.samples[44_100 / 2 + k * span / clicks] += amp(-20.0);
    }
    a.flac(path, SampleFormat::S24_3Le)
}
