//! Turntable side synthesiser with ground truth: the test corpus of `vinyl-listen` (issue 12).
//!
//! Owns: one side of a record as an ADC would capture it (raw s16le, 48 kHz, 2 channels, streamed
//! to stdout in 100 ms blocks) and a JSON file saying where everything is. Built from real music
//! (`--music FILE.raw`, raw s16le 48 kHz stereo, repeatable; tracks are cut from these at seeded
//! offsets and played at the deck's speed error, pitch and tempo together, by linear
//! interpolation). Does not: model wow/flutter or warps, or read compressed audio
//! (`scripts/corpus` decodes with ffmpeg). How it fails: a bad flag is a clap error (exit 2); an
//! unreadable or empty music file exits 1 with its name; a closed stdout ends the run quietly
//! (exit 0). The same flags and `--seed` give the same bytes.
//!
//! Replays of one side (`--content-seed N`, the recognition corpus of issue 21): the music —
//! which piece each track is cut from (`--in-order`: track k from the k-th `--music`), where
//! (fixed in source frames, so the same cut at any speed), its level, its fades, the gaps and the
//! quiet passage (placed in the side's frames, so it moves a little with the speed) — comes from N
//! alone, and `--seed` drives only the deck: speed error, hiss, crackle, thumps, lead-in, run-out
//! and idle. The same N with other seeds is the same side played again, on another deck or day.
//! Without the flag every choice comes from `--seed`, byte for byte as before.
//!
//! A side, in order: idle (motor hum 50/60 Hz + harmonics and rumble, about −75 dBFS); the
//! needle-drop thump (8–30 Hz damped oscillation plus a sharp hit, peak −25..−6 dBFS); 3–8 s of
//! lead-in groove; the tracks (music RMS −35..−18 dBFS, 0.3–2 s fades) separated by `--gap` of
//! groove (`--medley`: butt joins with 20 ms fades or 0.3–2 s cross-fades); in one track a 15 s
//! quiet passage at −28 dB (under loud hiss it may sink below the groove noise); 1–4 s of lead-out spiral (swooshing
//! groove noise, +3..+6 dB, modulated once a revolution); the locked run-out groove (one
//! revolution of groove looped, with one click −35..−12 dBFS per revolution) for `--runout`
//! seconds; the lift thump; idle again. The groove (pink hiss at `--noise-dbfs`, partly
//! correlated between channels, plus crackle: short ringing clicks of random amplitude and
//! polarity at `--clicks-per-min`) plays the whole time the stylus is down, under the music too.
//! `--gain-db` scales everything from the turntable; the ADC floor (−95 dBFS white) does not.
//! Samples are TPDF-dithered to 16 bits.
//!
//! Ground truth (`--truth FILE`; written before the first sample; a contract with the bench).
//! Frames count from 0 = the first frame written; intervals are half-open `[a, b)`.
//! ```text
//! {"rate":48000, "needle_drop":F, "music_start":F (= tracks[0].start),
//!  "tracks":[{"start":F,"end":F},…]  first to last frame+1 of each track's music, fades included;
//!                                     in a medley a track may start before the previous ends,
//!  "gaps":[[a,b],…]   groove-only stretches between tracks (empty for a medley),
//!  "quiet":[[a,b],…]  the quiet passage at full attenuation (0.5 s ramps lie outside it); empty
//!                     with --no-quiet or when no track has 15 s + 2.5 s margins inside its fades,
//!  "music_end":F (the last track's end; = lift when lifted early), "lock":F|null (first frame of the locked groove), "lock_click":F|null (its
//!  first click; then every "period" frames), "period":frames|null, "rpm":true rpm|null
//!  (= 60·48000/period), "lift":F (lift thump; the stylus leaves the groove), "end":"runout"|"lift",
//!  "frames":total, "gain_db":G, "noise_dbfs":N (hiss RMS before the gain), "clicks_per_min":C,
//!  "seed":S}
//! ```
//! Idle mode (`--idle DURATION`, no needle drop): `{"idle":true,"frames":N,"bumps":[F,…],
//! "motor_initially":"on"|"off","motor":[[F,"on"|"off"],…],"gain_db":G,"seed":S}`; bumps are
//! knocks on the plinth (peak −45..−12 dBFS, `--bumps-per-hour`); motor changes (half as often)
//! ramp the rumble over 1.5 s and click the switch. The mains hum stays: it is the ground loop.
//!
//! Keys are written in alphabetical order (serde_json); readers should not rely on any order.
use anyhow::{Context, Result};
use clap::Parser;
use serde_json::json;
use std::f64::consts::TAU;
use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;

/// Frames a second.
const RATE: f64 = 48_000.0;
/// Frames a write.
const BLOCK: usize = 4_800;

/// `--flags`: every flag is defined here once; `synth-side --help` prints them.
#[derive(Parser, Debug)]
#[command(
    name = "synth-side",
    about = "Synthesise a turntable side (raw s16le 48 kHz stereo on stdout) and its ground truth"
)]
struct Cli {
    /// Music to cut tracks from: raw s16le 48 kHz stereo (repeatable).
    #[arg(long, value_name = "FILE.raw", required_unless_present = "idle")]
    music: Vec<PathBuf>,
    /// Seed of every random choice; the same flags and seed give the same bytes.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Seed of the music alone: the cuts, levels, fades, gaps and quiet passage; --seed then
    /// drives only the deck (speed, hiss, crackle, thumps, idle): the same music, replayed.
    #[arg(long, value_name = "N", conflicts_with = "idle")]
    content_seed: Option<u64>,
    /// Cut track k from the k-th --music file (cycling) instead of a seeded pick.
    #[arg(long, conflicts_with = "idle")]
    in_order: bool,
    /// Number of tracks on the side.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=30))]
    tracks: u32,
    /// Track length in seconds, a number or a range A..B (capped at the music's length).
    #[arg(long, default_value = "25..60", value_parser = positive_span)]
    track_len: Span,
    /// Nominal speed: 33 (33⅓), 45 or 78 rpm.
    #[arg(long, default_value = "33", value_parser = parse_rpm)]
    rpm: f64,
    /// Speed error of the deck: uniformly random within ± this many percent.
    #[arg(long, default_value_t = 1.5, value_name = "PCT", value_parser = parse_speed_error)]
    speed_error: f64,
    /// Gain of everything from the turntable, in dB (0 down to −40; not the ADC floor).
    #[arg(long, default_value_t = 0.0, allow_negative_numbers = true, value_parser = parse_gain)]
    gain_db: f64,
    /// Surface hiss RMS in dBFS before the gain, a number or range [default: -62..-48].
    #[arg(long, allow_hyphen_values = true, value_parser = parse_span)]
    noise_dbfs: Option<Span>,
    /// Crackle clicks a minute, a number or range [default: 5..300, log-uniform].
    #[arg(long, value_parser = parse_span)]
    clicks_per_min: Option<Span>,
    /// Gap between tracks in seconds, a number or range.
    #[arg(long, default_value = "0.8..4", value_parser = parse_span)]
    gap: Span,
    /// No gaps: tracks butt or cross-fade.
    #[arg(long)]
    medley: bool,
    /// Lift the stylus mid-track: no lead-out, no run-out.
    #[arg(long)]
    lift_early: bool,
    /// Leave out the 15 s quiet passage.
    #[arg(long)]
    no_quiet: bool,
    /// Seconds in the locked run-out groove before the lift, a number or range.
    #[arg(long, default_value = "20..45", value_parser = positive_span)]
    runout: Span,
    /// Seconds of idle before the needle drop, a number or range.
    #[arg(long, default_value = "2..8", value_parser = parse_span)]
    idle_before: Span,
    /// Seconds of idle after the lift, a number or range.
    #[arg(long, default_value = "2..8", value_parser = parse_span)]
    idle_after: Span,
    /// Write the ground truth (JSON) here.
    #[arg(long, value_name = "FILE")]
    truth: Option<PathBuf>,
    /// Idle only, no needle drop, for this long (3600, 3600s, 60m, 1h).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration,
          conflicts_with_all = ["music", "medley", "lift_early"])]
    idle: Option<f64>,
    /// Knocks on the plinth an hour in idle mode (motor changes come at half this rate).
    #[arg(long, default_value_t = 12.0, requires = "idle")]
    bumps_per_hour: f64,
}

/// A number or a range of numbers given as `A..B`; a value is picked uniformly from it.
#[derive(Clone, Copy, Debug)]
struct Span {
    lo: f64,
    hi: f64,
}

impl Span {
    fn pick(self, rng: &mut Rng) -> f64 {
        rng.range(self.lo, self.hi)
    }
}

fn parse_span(s: &str) -> Result<Span, String> {
    let bad = || format!("'{s}' should be a number or a range like 0.8..4");
    let (a, b) = s.split_once("..").unwrap_or((s, s));
    let lo: f64 = a.trim().parse().map_err(|_| bad())?;
    let hi: f64 = b.trim().parse().map_err(|_| bad())?;
    if !lo.is_finite() || !hi.is_finite() || lo > hi {
        return Err(format!("'{s}' should be a range A..B with A ≤ B"));
    }
    Ok(Span { lo, hi })
}

fn positive_span(s: &str) -> Result<Span, String> {
    let span = parse_span(s)?;
    if span.lo <= 0.0 {
        return Err(format!("'{s}' should be more than 0 seconds"));
    }
    Ok(span)
}

fn parse_rpm(s: &str) -> Result<f64, String> {
    match s {
        "33" | "33.3" | "33.33" => Ok(100.0 / 3.0),
        "45" => Ok(45.0),
        "78" => Ok(78.0),
        _ => Err(format!("'{s}' should be 33, 45 or 78")),
    }
}

fn parse_gain(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(g) if (-40.0..=0.0).contains(&g) => Ok(g),
        _ => Err(format!("'{s}' should be a number of dB between -40 and 0")),
    }
}

fn parse_speed_error(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(p) if (0.0..=10.0).contains(&p) => Ok(p),
        _ => Err(format!("'{s}' should be a percentage between 0 and 10")),
    }
}

fn parse_duration(s: &str) -> Result<f64, String> {
    let (num, unit) = match s.char_indices().find(|(_, c)| c.is_ascii_alphabetic()) {
        Some((i, _)) => s.split_at(i),
        None => (s, "s"),
    };
    let scale = match unit {
        "s" => 1.0,
        "m" | "min" => 60.0,
        "h" => 3600.0,
        _ => f64::NAN,
    };
    match num.parse::<f64>() {
        Ok(n) if n > 0.0 && scale.is_finite() => Ok(n * scale),
        _ => Err(format!("'{s}' should be a duration like 3600, 3600s, 60m or 1h")),
    }
}

/// SplitMix64: small, fast, seedable; every random choice of a run comes from one seed.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0xD1B5_4A32_D192_ED03) ^ 0x5851_F42D_4C95_7F2D)
    }
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.unit()
    }
    /// White noise of unit RMS (uniform, so a sum of a few is near Gaussian).
    fn white(&mut self) -> f32 {
        ((self.unit() * 2.0 - 1.0) * 3f64.sqrt()) as f32
    }
    fn sign(&mut self) -> f64 {
        if self.next_u64() & 1 == 0 { 1.0 } else { -1.0 }
    }
    /// An independent generator for one part of the side.
    fn fork(&mut self) -> Rng {
        Rng::new(self.next_u64())
    }
}

fn db(x: f64) -> f64 {
    10f64.powf(x / 20.0)
}

fn secs(s: f64) -> u64 {
    (s * RATE).round().max(0.0) as u64
}

/// Pink noise of unit RMS: Paul Kellet's refined filter over white noise.
struct Pink {
    b: [f32; 7],
}

impl Pink {
    /// The filter's output RMS for unit white noise is 3.01 (measured over 8 s).
    const SCALE: f32 = 1.0 / 3.01;

    fn next(&mut self, w: f32) -> f32 {
        let b = &mut self.b;
        b[0] = 0.99886 * b[0] + w * 0.055_517_9;
        b[1] = 0.99332 * b[1] + w * 0.075_075_9;
        b[2] = 0.96900 * b[2] + w * 0.153_852;
        b[3] = 0.86650 * b[3] + w * 0.310_485_6;
        b[4] = 0.55000 * b[4] + w * 0.532_952_2;
        b[5] = -0.7616 * b[5] - w * 0.016_898;
        let out = b[0] + b[1] + b[2] + b[3] + b[4] + b[5] + b[6] + w * 0.5362;
        b[6] = w * 0.115_926;
        out * Self::SCALE
    }
}

/// Stereo pink noise of unit RMS a channel, correlated by `corr` (0..1) between the channels.
struct StereoPink {
    p: [Pink; 3],
    a: f32,
    b: f32,
    rng: Rng,
}

impl StereoPink {
    fn new(mut rng: Rng, corr: f64) -> StereoPink {
        let p = [Pink { b: [0.0; 7] }, Pink { b: [0.0; 7] }, Pink { b: [0.0; 7] }];
        rng.next_u64();
        let mut s = StereoPink { p, a: corr.sqrt() as f32, b: (1.0 - corr).sqrt() as f32, rng };
        // Half a second lets the slowest pole of the filter settle.
        for _ in 0..secs(0.5) {
            s.next();
        }
        s
    }
    fn next(&mut self) -> (f32, f32) {
        let c = self.p[0].next(self.rng.white());
        let l = self.p[1].next(self.rng.white());
        let r = self.p[2].next(self.rng.white());
        (self.a * c + self.b * l, self.a * c + self.b * r)
    }
}

/// A short sound at a frame: a thump (needle drop, lift, knock) or a click (crackle, run-out).
#[derive(Clone, Copy, Debug)]
enum Shape {
    /// Damped low-frequency oscillation plus a sharp hit.
    Thump { amp: f64, hz: f64, tau: f64, hit: f64, hit_hz: f64 },
    /// Impulse with a little ringing; `pan` scales the two channels (a negative right channel
    /// is a vertical, out-of-phase click).
    Click { amp: f64, hz: f64, tau: f64, pan: (f64, f64) },
}

#[derive(Clone, Copy, Debug)]
struct Transient {
    start: u64,
    shape: Shape,
}

impl Transient {
    fn len(&self) -> u64 {
        match self.shape {
            Shape::Thump { tau, .. } => secs(tau * 8.0),
            Shape::Click { tau, .. } => secs(tau * 10.0).max(4),
        }
    }
    /// The sound `t` frames after its start.
    fn at(&self, t: u64) -> (f32, f32) {
        let s = t as f64 / RATE;
        match self.shape {
            Shape::Thump { amp, hz, tau, hit, hit_hz } => {
                let attack = 1.0 - (-s / 0.002).exp();
                let lf = amp * (TAU * hz * s).sin() * (-s / tau).exp() * attack;
                let h = hit * (TAU * hit_hz * s).cos() * (-s / 0.0005).exp();
                ((lf + h) as f32, (0.9 * lf + 0.8 * h) as f32)
            }
            Shape::Click { amp, hz, tau, pan } => {
                let v = amp * (TAU * hz * s).cos() * (-s / tau).exp();
                ((v * pan.0) as f32, (v * pan.1) as f32)
            }
        }
    }
}

/// A needle drop or lift thump, peak −25..−6 dBFS.
fn thump(rng: &mut Rng, start: u64) -> Transient {
    let amp = rng.sign() * db(rng.range(-25.0, -6.0));
    let shape = Shape::Thump {
        amp,
        hz: rng.range(8.0, 30.0),
        tau: rng.range(0.05, 0.2),
        hit: amp * rng.range(0.3, 0.9),
        hit_hz: rng.range(800.0, 3000.0),
    };
    Transient { start, shape }
}

/// A crackle click (peak `peak_dbfs`), short and ringing.
fn click(rng: &mut Rng, start: u64, peak_dbfs: f64) -> Transient {
    let shape = Shape::Click {
        amp: rng.sign() * db(peak_dbfs),
        hz: rng.range(1500.0, 9000.0),
        tau: rng.range(0.00005, 0.0004),
        pan: if rng.unit() < 0.5 { (1.0, rng.range(-0.4, 1.0)) } else { (rng.range(-0.4, 1.0), 1.0) },
    };
    Transient { start, shape }
}

/// Sounds under way; each plays until its length has passed.
#[derive(Default)]
struct Sounds(Vec<Transient>);

impl Sounds {
    fn at(&mut self, f: u64) -> (f32, f32) {
        let (mut l, mut r) = (0.0, 0.0);
        for t in &self.0 {
            let (a, b) = t.at(f - t.start);
            l += a;
            r += b;
        }
        self.0.retain(|t| f + 1 < t.start + t.len());
        (l, r)
    }
}

/// What the deck adds with or without a record: mains hum (50/60 Hz and harmonics) and motor
/// rumble; together about −75 dBFS.
struct Deck {
    hum: Vec<(f64, f64)>,
    phase: f64,
    rumble: f32,
    lp: [f32; 4],
    rng: Rng,
}

impl Deck {
    fn new(rng: &mut Rng) -> Deck {
        let mains = if rng.unit() < 0.5 { 50.0 } else { 60.0 };
        let mut hum: Vec<(f64, f64)> =
            (1..=4).map(|k| (mains * k as f64, rng.range(0.1, 1.0) / k as f64)).collect();
        let norm = hum.iter().map(|h| h.1 * h.1 / 2.0).sum::<f64>().sqrt();
        let level = db(rng.range(-80.0, -74.0));
        hum.iter_mut().for_each(|h| h.1 *= level / norm);
        let rumble = db(rng.range(-82.0, -75.0)) as f32;
        Deck { hum, phase: rng.unit(), rumble, lp: [0.0; 4], rng: rng.fork() }
    }
    /// One frame; `motor` (0..1) scales the rumble.
    fn next(&mut self, motor: f32) -> (f32, f32) {
        self.phase = (self.phase + 1.0 / RATE) % 10.0;
        let hum: f64 = self.hum.iter().map(|&(hz, a)| a * (TAU * hz * self.phase).sin()).sum();
        // Two one-pole lowpasses at about 20 Hz a channel; their output RMS for unit white noise
        // is k²·√((1+a²)/(1−a²)³) with a = 1−k: 0.0255.
        let k = 0.0026;
        for c in 0..2 {
            let w = self.rng.white();
            self.lp[c] += k * (w - self.lp[c]);
            self.lp[c + 2] += k * (self.lp[c] - self.lp[c + 2]);
        }
        let rum = |x: f32| x * (self.rumble * motor / 0.0255);
        let (l, r) = (rum(self.lp[2]), rum(0.8 * self.lp[2] + 0.6 * self.lp[3]));
        (hum as f32 + l, (hum * 0.95) as f32 + r)
    }
}

/// A track cut from the music: which file, where, how loud, and its fades.
#[derive(Clone, Debug)]
struct Track {
    src: usize,
    /// First source frame, and source frames played per output frame (the deck's speed).
    offset: u64,
    speed: f64,
    start: u64,
    end: u64,
    gain: f32,
    fade_in: u64,
    fade_out: u64,
}

impl Track {
    fn envelope(&self, f: u64) -> f32 {
        let (t, left) = (f - self.start, self.end - f);
        let ramp = |x: u64, n: u64| {
            if x < n { (std::f32::consts::FRAC_PI_2 * x as f32 / n as f32).sin().powi(2) } else { 1.0 }
        };
        ramp(t, self.fade_in) * ramp(left, self.fade_out)
    }
}

/// Where everything on the side is, in frames; the ground truth is written from it.
#[derive(Debug)]
struct Plan {
    seed: u64,
    gain: f64,
    noise: f64,
    clicks_per_min: f64,
    corr: f64,
    needle_drop: u64,
    tracks: Vec<Track>,
    quiet: Option<(u64, u64)>,
    music_end: u64,
    lock: Option<u64>,
    lock_click: u64,
    period: u64,
    spiral_gain: f64,
    lift: u64,
    frames: u64,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.idle {
        Some(duration) => idle::run(&cli, duration),
        None => side::run(&cli),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.downcast_ref::<io::Error>().is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe) => {
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("synth-side: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn write_truth(cli: &Cli, truth: &serde_json::Value) -> Result<()> {
    if let Some(path) = &cli.truth {
        let text = serde_json::to_string_pretty(truth)? + "\n";
        std::fs::write(path, text)
            .with_context(|| format!("writing the ground truth to {}", path.display()))?;
    }
    Ok(())
}

/// Streams `frames` frames to stdout in blocks: `render(frame)` gives the turntable's signal
/// before the gain; the gain, the ADC floor (−95 dBFS white) and TPDF dither are added here.
fn stream(frames: u64, gain_db: f64, seed: u64, mut render: impl FnMut(u64) -> (f32, f32)) -> Result<()> {
    let mut rng = Rng::new(seed ^ 0xADC);
    let (gain, floor) = (db(gain_db) as f32 * 32767.0, db(-95.0) as f32 * 32767.0);
    let mut out = io::stdout().lock();
    let mut bytes = Vec::with_capacity(BLOCK * 4);
    let mut f = 0;
    while f < frames {
        bytes.clear();
        for _ in 0..(frames - f).min(BLOCK as u64) {
            let (l, r) = render(f);
            for x in [l, r] {
                let tpdf = (rng.unit() + rng.unit() - 1.0) as f32;
                let v = (x * gain + floor * rng.white() + tpdf).round().clamp(-32768.0, 32767.0);
                bytes.extend_from_slice(&(v as i16).to_le_bytes());
            }
            f += 1;
        }
        out.write_all(&bytes).context("writing PCM to stdout")?;
    }
    out.flush().context("writing PCM to stdout")?;
    Ok(())
}

mod idle {
    //! Idle input for the false-start test: the deck's hum and rumble, knocks on the plinth and
    //! the motor switched on and off; never a needle drop.
    use super::*;

    pub fn run(cli: &Cli, duration: f64) -> Result<()> {
        let mut rng = Rng::new(cli.seed);
        let frames = secs(duration);
        let events = |rng: &mut Rng, per_hour: f64| {
            let n = (per_hour * duration / 3600.0 + rng.unit()).floor() as usize;
            let mut v: Vec<u64> = (0..n).map(|_| (rng.unit() * frames as f64) as u64).collect();
            v.sort_unstable();
            v
        };
        let bumps = events(&mut rng, cli.bumps_per_hour);
        let switches = events(&mut rng, cli.bumps_per_hour / 2.0);
        let initially = rng.unit() < 0.7;
        // The motor alternates from its initial state at every switch.
        let motor: Vec<(u64, bool)> =
            switches.iter().enumerate().map(|(i, &f)| (f, initially ^ (i % 2 == 0))).collect();
        let word = |on: bool| if on { "on" } else { "off" };
        let motor_json: Vec<_> = motor.iter().map(|&(f, on)| json!([f, word(on)])).collect();
        let truth = json!({"idle": true, "frames": frames, "bumps": bumps, "motor_initially": word(initially),
                           "motor": motor_json, "gain_db": cli.gain_db, "seed": cli.seed});
        write_truth(cli, &truth)?;
        let sounds = schedule(&mut rng, &bumps, &motor);
        let mut deck = Deck::new(&mut rng);
        let (mut level, mut target) = (f32::from(u8::from(initially)), initially);
        let (mut next, mut next_switch) = (0, 0);
        let mut playing = Sounds::default();
        let step = 1.0 / (1.5 * RATE as f32);
        stream(frames, cli.gain_db, cli.seed, move |f| {
            while next < sounds.len() && sounds[next].start <= f {
                playing.0.push(sounds[next]);
                next += 1;
            }
            while next_switch < motor.len() && motor[next_switch].0 <= f {
                target = motor[next_switch].1;
                next_switch += 1;
            }
            level = if target { (level + step).min(1.0) } else { (level - step).max(0.0) };
            let (a, b) = deck.next(level);
            let (c, d) = playing.at(f);
            (a + c, b + d)
        })
    }

    /// The knocks (peak −45..−12 dBFS, 5–25 Hz) and the motor switch clicks, in frame order.
    fn schedule(rng: &mut Rng, bumps: &[u64], motor: &[(u64, bool)]) -> Vec<Transient> {
        let mut v: Vec<Transient> = bumps
            .iter()
            .map(|&f| {
                let amp = rng.sign() * db(rng.range(-45.0, -12.0));
                let shape = Shape::Thump {
                    amp,
                    hz: rng.range(5.0, 25.0),
                    tau: rng.range(0.08, 0.5),
                    hit: amp * rng.range(0.0, 0.6),
                    hit_hz: rng.range(300.0, 2000.0),
                };
                Transient { start: f, shape }
            })
            .collect();
        v.extend(motor.iter().map(|&(f, _)| {
            let peak = rng.range(-60.0, -45.0);
            click(rng, f, peak)
        }));
        v.sort_by_key(|t| t.start);
        v
    }
}

mod side {
    //! One side of a record: the plan (where everything is) and the renderer that plays it.
    use super::*;

    /// Reads a raw s16le stereo file as interleaved samples.
    fn read_music(path: &PathBuf) -> Result<Vec<i16>> {
        let bytes = std::fs::read(path).with_context(|| format!("reading music {}", path.display()))?;
        let frames = bytes.len() / 4;
        anyhow::ensure!(
            frames >= secs(2.0) as usize,
            "music {} has {frames} frames, which should be at least 2 s of raw s16le 48 kHz stereo",
            path.display()
        );
        Ok(bytes[..frames * 4].chunks_exact(2).map(|b| i16::from_le_bytes([b[0], b[1]])).collect())
    }

    pub fn run(cli: &Cli) -> Result<()> {
        let music = cli.music.iter().map(read_music).collect::<Result<Vec<_>>>()?;
        let mut rng = Rng::new(cli.seed);
        let plan = plan(cli, &music, &mut rng);
        write_truth(cli, &truth(&plan))?;
        let mut side = Side::new(&plan, &music, &mut rng);
        stream(plan.frames, plan.gain, plan.seed, |f| side.frame(f))
    }

    fn truth(p: &Plan) -> serde_json::Value {
        let tracks: Vec<_> = p.tracks.iter().map(|t| json!({"start": t.start, "end": t.end})).collect();
        let gaps: Vec<_> = p
            .tracks
            .windows(2)
            .filter(|w| w[0].end < w[1].start)
            .map(|w| json!([w[0].end, w[1].start]))
            .collect();
        let quiet: Vec<_> = p.quiet.iter().map(|&(a, b)| json!([a, b])).collect();
        let locked = p.lock.is_some();
        json!({
            "rate": RATE as u64, "needle_drop": p.needle_drop, "music_start": p.tracks[0].start,
            "tracks": tracks, "gaps": gaps, "quiet": quiet, "music_end": p.music_end,
            "lock": p.lock, "lock_click": locked.then_some(p.lock_click),
            "period": locked.then_some(p.period),
            "rpm": locked.then(|| 60.0 * RATE / p.period as f64),
            "lift": p.lift, "end": if locked { "runout" } else { "lift" }, "frames": p.frames,
            "gain_db": p.gain, "noise_dbfs": p.noise, "clicks_per_min": p.clicks_per_min, "seed": p.seed,
        })
    }

    /// Lays out the side; every random choice of the layout comes from `rng`.
    fn plan(cli: &Cli, music: &[Vec<i16>], rng: &mut Rng) -> Plan {
        let speed = 1.0 + rng.range(-cli.speed_error, cli.speed_error) / 100.0;
        let period = (60.0 * RATE / (cli.rpm * speed)).round() as u64;
        let noise = cli.noise_dbfs.unwrap_or(Span { lo: -62.0, hi: -48.0 }).pick(rng);
        let clicks_per_min = match cli.clicks_per_min {
            Some(span) => span.pick(rng).max(0.0),
            None => 5.0 * 60f64.powf(rng.unit()),
        };
        let needle_drop = secs(cli.idle_before.pick(rng));
        let music_start = needle_drop + secs(rng.range(3.0, 8.0));
        // With --content-seed the music's choices come from their own generator, so that they
        // do not move when --seed changes the deck.
        let mut content = cli.content_seed.map(Rng::new);
        let music_rng = match &mut content {
            Some(c) => c,
            None => &mut *rng,
        };
        let tracks = lay_tracks(cli, music, music_rng, music_start, speed);
        let quiet = if cli.no_quiet { None } else { place_quiet(&tracks, music_rng) };
        let music_end = tracks.last().map_or(music_start, |t| t.end);
        let (lock, lift) = if cli.lift_early {
            (None, music_end)
        } else {
            let lock = music_end + secs(rng.range(1.0, 4.0));
            (Some(lock), lock + secs(cli.runout.pick(rng)))
        };
        let lock_click = lock.unwrap_or(0) + (rng.unit() * period as f64) as u64;
        Plan {
            seed: cli.seed,
            gain: cli.gain_db,
            noise,
            clicks_per_min,
            corr: rng.range(0.4, 0.8),
            needle_drop,
            tracks,
            quiet,
            music_end,
            lock,
            lock_click,
            period,
            spiral_gain: db(rng.range(3.0, 6.0)),
            lift,
            frames: lift + secs(cli.idle_after.pick(rng)),
        }
    }

    /// Cuts the tracks from the music at seeded offsets and levels, one after another; `speed`
    /// (1 ± the speed error) is how many source frames one output frame plays. With
    /// --content-seed the length picked is of source music (the same cut at any speed), else of
    /// the side.
    fn lay_tracks(cli: &Cli, music: &[Vec<i16>], rng: &mut Rng, start: u64, speed: f64) -> Vec<Track> {
        let mut tracks: Vec<Track> = Vec::new();
        let mut at = start;
        for k in 0..cli.tracks {
            // Drawn with --in-order too, so that the other choices stay where they were.
            let pick = rng.next_u64();
            let src =
                if cli.in_order { k as usize % music.len() } else { (pick % music.len() as u64) as usize };
            // One frame spare: playing at `speed` interpolates between two source frames.
            let avail = music[src].len() as u64 / 2 - 1;
            let (len, span) = if cli.content_seed.is_some() {
                let span = secs(cli.track_len.pick(rng)).min(avail);
                ((span as f64 / speed) as u64, span)
            } else {
                let len = secs(cli.track_len.pick(rng)).min((avail as f64 / speed) as u64);
                (len, ((len as f64 * speed).ceil() as u64).min(avail))
            };
            let offset = (rng.unit() * (avail - span) as f64) as u64;
            let (mut fade_in, fade_out) = (secs(rng.range(0.3, 2.0)), secs(rng.range(0.3, 2.0)));
            if let Some(prev) = tracks.last_mut() {
                if cli.medley {
                    // A butt join (20 ms fades) or a cross-fade of up to 2 s.
                    let x = if rng.unit() < 0.3 { secs(0.02) } else { secs(rng.range(0.3, 2.0)) };
                    (prev.fade_out, fade_in) = (x, x);
                    at = prev.end - x;
                } else {
                    at = prev.end + secs(cli.gap.pick(rng));
                }
            }
            let target = db(rng.range(-35.0, -18.0));
            let gain = (target / rms(&music[src], offset, span)) as f32;
            let end = at + len;
            tracks.push(Track { src, offset, speed, start: at, end, gain, fade_in, fade_out });
            if cli.lift_early && k + 1 == cli.tracks {
                let last = tracks.last_mut().expect("just pushed");
                last.end = at + (len as f64 * rng.range(0.4, 0.8)) as u64;
                last.fade_out = secs(0.005);
            }
        }
        tracks
    }

    /// RMS of `len` frames of `music` from `offset` (every 7th frame), full scale 1; never 0.
    fn rms(music: &[i16], offset: u64, len: u64) -> f64 {
        let (mut sum, mut n) = (0.0, 0usize);
        for f in (offset..offset + len).step_by(7) {
            for c in 0..2 {
                let x = music[(2 * f) as usize + c] as f64 / 32768.0;
                sum += x * x;
                n += 1;
            }
        }
        (sum / n.max(1) as f64).sqrt().max(1e-6)
    }

    /// A 15 s quiet passage in one track long enough to hold it 2.5 s from its fades.
    fn place_quiet(tracks: &[Track], rng: &mut Rng) -> Option<(u64, u64)> {
        let (len, margin) = (secs(15.0), secs(2.5));
        let fits: Vec<&Track> =
            tracks.iter().filter(|t| t.end - t.start >= t.fade_in + t.fade_out + len + 2 * margin).collect();
        if fits.is_empty() {
            eprintln!("synth-side: no track is long enough for the 15 s quiet passage; leaving it out");
            return None;
        }
        let t = fits[(rng.next_u64() % fits.len() as u64) as usize];
        let (lo, hi) = (t.start + t.fade_in + margin, t.end - t.fade_out - margin - len);
        let a = lo + (rng.unit() * (hi - lo) as f64) as u64;
        Some((a, a + len))
    }

    /// Plays a plan, one frame at a time, in frame order.
    struct Side<'a> {
        plan: &'a Plan,
        music: &'a [Vec<i16>],
        deck: Deck,
        hiss: StereoPink,
        noise: f32,
        revolution: Vec<f32>,
        events: Vec<Transient>,
        next_event: usize,
        next_crackle: u64,
        playing: Sounds,
        rng: Rng,
    }

    impl<'a> Side<'a> {
        fn new(plan: &'a Plan, music: &'a [Vec<i16>], rng: &mut Rng) -> Side<'a> {
            let mut events = vec![thump(rng, plan.needle_drop), thump(rng, plan.lift)];
            events.sort_by_key(|t| t.start);
            let revolution = locked_revolution(plan, &mut rng.fork());
            let mut side = Side {
                plan,
                music,
                deck: Deck::new(rng),
                hiss: StereoPink::new(rng.fork(), plan.corr),
                noise: db(plan.noise) as f32,
                revolution,
                events,
                next_event: 0,
                next_crackle: 0,
                playing: Sounds::default(),
                rng: rng.fork(),
            };
            side.next_crackle = side.after_crackle(plan.needle_drop);
            side
        }

        /// The frame at which the crackle after `f` starts (exponential intervals).
        fn after_crackle(&mut self, f: u64) -> u64 {
            if self.plan.clicks_per_min <= 0.0 {
                return u64::MAX;
            }
            let mean = 60.0 * RATE / self.plan.clicks_per_min;
            f + 1 + (-(1.0 - self.rng.unit()).ln() * mean) as u64
        }

        fn frame(&mut self, f: u64) -> (f32, f32) {
            let p = self.plan;
            let (mut l, mut r) = self.deck.next(1.0);
            if f >= p.needle_drop && f < p.lift {
                let (a, b) = self.groove(f);
                let (c, d) = self.music_at(f);
                (l, r) = (l + a + c, r + b + d);
            }
            while self.next_event < self.events.len() && self.events[self.next_event].start <= f {
                self.playing.0.push(self.events[self.next_event]);
                self.next_event += 1;
            }
            if f == self.next_crackle {
                if f < p.lift && p.lock.is_none_or(|lock| f < lock) {
                    let peak = crackle_peak(&mut self.rng, p.noise);
                    self.playing.0.push(click(&mut self.rng, f, peak));
                }
                self.next_crackle = self.after_crackle(f);
            }
            let (a, b) = self.playing.at(f);
            (l + a, r + b)
        }

        /// Surface noise: plain hiss, the swooshing lead-out spiral, or the looped locked groove.
        fn groove(&mut self, f: u64) -> (f32, f32) {
            let p = self.plan;
            let (hl, hr) = self.hiss.next();
            let n = self.noise;
            match p.lock {
                Some(lock) if f >= lock => {
                    let i = 2 * ((f - lock) % p.period) as usize;
                    let rev = &self.revolution;
                    (0.85 * rev[i] + 0.53 * n * hl, 0.85 * rev[i + 1] + 0.53 * n * hr)
                }
                Some(_) if f >= p.music_end => {
                    let turns = (f - p.music_end) as f64 / p.period as f64;
                    let g = (p.spiral_gain * (1.0 + 0.45 * (TAU * turns).sin())) as f32 * n;
                    (g * hl, g * hr)
                }
                _ => (n * hl, n * hr),
            }
        }

        fn music_at(&self, f: u64) -> (f32, f32) {
            let (mut l, mut r) = (0.0, 0.0);
            for t in self.plan.tracks.iter().filter(|t| t.start <= f && f < t.end) {
                let g = t.gain * t.envelope(f) * quiet_gain(self.plan.quiet, f);
                let pos = t.offset as f64 + (f - t.start) as f64 * t.speed;
                let (i, frac) = (2 * pos as usize, pos.fract() as f32);
                let src = &self.music[t.src];
                let at = |c: usize| src[i + c] as f32 + frac * (src[i + 2 + c] as f32 - src[i + c] as f32);
                l += g * at(0) / 32768.0;
                r += g * at(1) / 32768.0;
            }
            (l, r)
        }
    }

    /// Peak of a crackle click: 6 to 34 dB over the hiss, log-uniform so most are small.
    fn crackle_peak(rng: &mut Rng, noise_dbfs: f64) -> f64 {
        (noise_dbfs + 6.0 + 28.0 * rng.unit() * rng.unit()).min(-6.0)
    }

    /// Gain of the quiet passage: −28 dB inside it, 0.5 s ramps (in dB) outside its edges.
    fn quiet_gain(quiet: Option<(u64, u64)>, f: u64) -> f32 {
        let Some((a, b)) = quiet else { return 1.0 };
        let ramp = secs(0.5);
        let depth = if f + ramp <= a || f >= b + ramp {
            0.0
        } else if f < a {
            (f + ramp - a) as f64 / ramp as f64
        } else if f >= b {
            1.0 - (f - b) as f64 / ramp as f64
        } else {
            1.0
        };
        db(-28.0 * depth) as f32
    }

    /// One revolution of the locked groove (interleaved stereo, before the gain): its hiss, the
    /// crackles that repeat every turn (6 dB or more below the click), and the click at
    /// `lock_click` (peak −35..−12 dBFS, and 14 dB or more over the hiss).
    fn locked_revolution(p: &Plan, rng: &mut Rng) -> Vec<f32> {
        let n = p.period;
        let mut hiss = StereoPink::new(rng.fork(), p.corr);
        let amp = db(p.noise) as f32;
        let mut rev: Vec<f32> = (0..n)
            .flat_map(|_| {
                let (l, r) = hiss.next();
                [amp * l, amp * r]
            })
            .collect();
        let loud = rng.range((-35f64).max(p.noise + 14.0), -12.0);
        let mut clicks = vec![click(rng, (p.lock_click - p.lock.unwrap_or(0)) % n, loud)];
        let baked = (p.clicks_per_min * n as f64 / RATE / 60.0 + rng.unit()).floor() as usize;
        clicks.extend((0..baked).map(|_| {
            let at = (rng.unit() * n as f64) as u64;
            let peak = (crackle_peak(rng, p.noise) - 6.0).min(loud - 6.0);
            click(rng, at, peak)
        }));
        for c in clicks {
            for t in 0..c.len() {
                let (l, r) = c.at(t);
                let i = 2 * ((c.start + t) % n) as usize;
                rev[i] += l / 0.85;
                rev[i + 1] += r / 0.85;
            }
        }
        rev
    }
}
