//! vinyl's FLAC frame decoder (`flac::frames`, behind `flac::decode::each_block`) against the
//! reference decoder: files made by the real `flac` at levels 0, 5 and 8 and LPC order 32, block
//! sizes 192 to 16384, 8 to 32 bits, 1, 2 and 6 channels and rates of every header code, and by
//! vinyl's own encoder (`vinyl-flac-rec`), from noise, silence, a sine, a full-scale square and
//! real music, must decode sample for sample as `flac -d` decodes them. Corrupted copies (flipped
//! bytes, truncations) must decode to an error or to the same samples: never a panic or a hang.

mod common;

use common::{assert_success, describe, run};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;
use vinyl::flac::frames::FrameReader;

const FLAC_REC: &str = env!("CARGO_BIN_EXE_vinyl-flac-rec");
const T: Duration = Duration::from_secs(120);
const OGG: &str = "/usr/share/games/frozen-bubble/snd/introzik.ogg";

/// Seconds of audio in each file: dozens of frames at every block size, quick in a debug build.
const SECONDS: f64 = 3.0;

#[derive(Clone, Copy, Debug)]
struct Shape {
    bits: u32,
    channels: u32,
    rate: u32,
}

const fn shape(bits: u32, channels: u32, rate: u32) -> Shape {
    Shape { bits, channels, rate }
}

#[derive(Clone, Copy, Debug)]
enum Content {
    Noise,
    Silence,
    /// A 16-bit sine, shifted to the sample size (24 and 32 bits: low bits zero, "wasted").
    Sine,
    /// Full scale, both extremes.
    Square,
    /// introzik, with a little noise below its 16 bits at 24 and 32 bits.
    Music,
}

/// introzik as 16-bit stereo at 44.1 kHz, decoded once per run.
fn music() -> &'static [i16] {
    static PCM: OnceLock<Vec<i16>> = OnceLock::new();
    PCM.get_or_init(|| {
        let raw = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("flac-decode-music.raw");
        let mut cmd = Command::new("ffmpeg");
        cmd.args(["-v", "error", "-y", "-ss", "4", "-t", "4", "-i", OGG])
            .args(["-ar", "44100", "-ac", "2", "-f", "s16le", "-acodec", "pcm_s16le"])
            .arg(&raw);
        assert_success("ffmpeg (the music)", &run(&mut cmd, T));
        std::fs::read(&raw).unwrap().chunks_exact(2).map(|b| i16::from_le_bytes([b[0], b[1]])).collect()
    })
}

/// Interleaved samples of `content` in `shape`.
fn samples(content: Content, s: Shape) -> Vec<i32> {
    let frames = (SECONDS * 44_100.0) as usize;
    let max = ((1i64 << (s.bits - 1)) - 1) as i32;
    let mut seed = 0x1234_5678u32;
    let mut rand = move || {
        seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        seed
    };
    let to_bits = |v16: i32| if s.bits >= 16 { v16 << (s.bits - 16) } else { v16 >> (16 - s.bits) };
    let mut out = Vec::with_capacity(frames * s.channels as usize);
    for n in 0..frames {
        for c in 0..s.channels as usize {
            out.push(match content {
                Content::Noise => (rand() as i32) >> (32 - s.bits),
                Content::Silence => 0,
                Content::Sine => to_bits((20_000.0 * (n as f64 * 0.0571 * (c + 1) as f64).sin()) as i32),
                Content::Square => {
                    if (n / 50 + c) % 2 == 0 {
                        max
                    } else {
                        -max - 1
                    }
                }
                Content::Music => {
                    let m = music();
                    let (l, r) = (i32::from(m[2 * n]), i32::from(m[2 * n + 1]));
                    let v =
                        [l, r, (l + r) / 2, (l - r) / 2, i32::from(m[2 * n.saturating_sub(7)]), -r][c % 6];
                    let dither = if s.bits > 16 { (rand() >> (48 - s.bits)) as i32 } else { 0 };
                    to_bits(v.clamp(-32_768, 32_767)) | dither
                }
            });
        }
    }
    out
}

/// Little-endian signed samples of `bits`, as `flac --force-raw-format` reads and writes them.
fn to_raw(samples: &[i32], bits: u32) -> Vec<u8> {
    let width = bits as usize / 8;
    samples.iter().flat_map(|s| s.to_le_bytes()[..width].to_vec()).collect()
}

fn from_raw(raw: &[u8], bits: u32) -> Vec<i32> {
    let width = bits as usize / 8;
    raw.chunks_exact(width)
        .map(|b| {
            let mut v = [0u8; 4];
            v[4 - width..].copy_from_slice(b);
            i32::from_le_bytes(v) >> (32 - bits)
        })
        .collect()
}

/// How a test file is made.
#[derive(Clone, Copy, Debug)]
enum Encoder {
    /// `flac` with these options.
    Flac(&'static [&'static str]),
    /// `vinyl-flac-rec --compression N`.
    Ours(u8),
}

/// Encodes `pcm` of `s` into `dir/name.flac`.
fn encode(dir: &Path, name: &str, pcm: &[i32], s: Shape, how: Encoder) -> PathBuf {
    let raw = dir.join(format!("{name}.raw"));
    std::fs::write(&raw, to_raw(pcm, s.bits)).unwrap();
    let flac = dir.join(format!("{name}.flac"));
    let mut cmd = match how {
        Encoder::Flac(args) => {
            let mut cmd = Command::new("flac");
            cmd.args(["-s", "-f", "--force-raw-format", "--endian=little", "--sign=signed"])
                .arg(format!("--channels={}", s.channels))
                .arg(format!("--bps={}", s.bits))
                .arg(format!("--sample-rate={}", s.rate))
                .args(args)
                .arg("-o")
                .arg(&flac)
                .arg(&raw);
            cmd
        }
        Encoder::Ours(level) => {
            let mut cmd = Command::new(FLAC_REC);
            let format = if s.bits == 24 { "s24_3le" } else { "s16le" };
            cmd.arg("-o").arg(&flac).args(["--compression", &level.to_string(), "--format", format]);
            cmd.args(["--rate", &s.rate.to_string(), "--channels", &s.channels.to_string()]);
            cmd.stdin(Stdio::from(std::fs::File::open(&raw).unwrap()));
            cmd
        }
    };
    let what = describe(&cmd);
    assert_success(&what, &run(&mut cmd, T));
    flac
}

/// What `flac -d` decodes `flac` to.
fn reference(flac: &Path, bits: u32) -> Vec<i32> {
    from_raw(&common::flac_raw(flac), bits)
}

/// Our decode of `bytes`, interleaved.
fn decode(bytes: &[u8]) -> anyhow::Result<Vec<i32>> {
    let mut r = FrameReader::new(std::io::Cursor::new(bytes), bytes.len() as u64)?;
    let mut out = Vec::new();
    while let Some(b) = r.next_block()? {
        for i in 0..b.len() {
            out.extend((0..b.channels()).map(|c| b.channel(c)[i]));
        }
    }
    Ok(out)
}

/// Panics at the first sample where `got` differs from `want`.
fn assert_same(name: &str, got: &[i32], want: &[i32], channels: u32) {
    if let Some(i) = got.iter().zip(want).position(|(g, w)| g != w) {
        let c = channels as usize;
        panic!("{name}: frame {} channel {}: {} where flac -d gives {}", i / c, i % c, got[i], want[i]);
    }
    assert_eq!(got.len(), want.len(), "{name}: samples decoded");
}

/// The files: (name, content, shape, encoder).
const CASES: &[(&str, Content, Shape, Encoder)] = &[
    ("music-0", Content::Music, shape(16, 2, 44_100), Encoder::Flac(&["-0"])),
    ("music-5", Content::Music, shape(16, 2, 44_100), Encoder::Flac(&["-5"])),
    ("music-8", Content::Music, shape(16, 2, 44_100), Encoder::Flac(&["-8"])),
    ("music-lpc32", Content::Music, shape(16, 2, 44_100), Encoder::Flac(&["-8", "--lax", "-l", "32"])),
    ("music24-lpc32", Content::Music, shape(24, 2, 96_000), Encoder::Flac(&["-8", "--lax", "-l", "32"])),
    ("music-b192", Content::Music, shape(16, 2, 48_000), Encoder::Flac(&["-5", "-b", "192"])),
    ("music-b4096", Content::Music, shape(16, 2, 48_000), Encoder::Flac(&["-5", "-b", "4096"])),
    ("music-b4608", Content::Music, shape(16, 2, 48_000), Encoder::Flac(&["-8", "-b", "4608"])),
    ("music-b16384", Content::Music, shape(16, 2, 48_000), Encoder::Flac(&["-8", "--lax", "-b", "16384"])),
    ("music8-mono", Content::Music, shape(8, 1, 44_100), Encoder::Flac(&["-8"])),
    ("music24-6ch", Content::Music, shape(24, 6, 48_000), Encoder::Flac(&["-8"])),
    ("music-6ch", Content::Music, shape(16, 6, 96_000), Encoder::Flac(&["-5"])),
    ("music32-mono", Content::Music, shape(32, 1, 48_000), Encoder::Flac(&["-8"])),
    // Rates in the header as kHz (8 bits), Hz (16 bits) and tens of Hz (16 bits).
    ("music-100k", Content::Music, shape(16, 2, 100_000), Encoder::Flac(&["--lax", "-5"])),
    ("music-37801", Content::Music, shape(16, 2, 37_801), Encoder::Flac(&["--lax", "-5"])),
    ("music-37800", Content::Music, shape(16, 2, 37_800), Encoder::Flac(&["--lax", "-5"])),
    ("noise", Content::Noise, shape(16, 2, 48_000), Encoder::Flac(&["-8"])),
    ("noise24", Content::Noise, shape(24, 1, 96_000), Encoder::Flac(&["-5"])),
    ("noise8", Content::Noise, shape(8, 2, 44_100), Encoder::Flac(&["-0"])),
    ("noise32", Content::Noise, shape(32, 2, 48_000), Encoder::Flac(&["-5"])),
    ("silence", Content::Silence, shape(16, 2, 48_000), Encoder::Flac(&["-5"])),
    ("silence24-6ch", Content::Silence, shape(24, 6, 96_000), Encoder::Flac(&["-8"])),
    ("sine24", Content::Sine, shape(24, 2, 96_000), Encoder::Flac(&["-8"])),
    ("sine", Content::Sine, shape(16, 1, 44_100), Encoder::Flac(&["-0"])),
    ("sine32", Content::Sine, shape(32, 1, 44_100), Encoder::Flac(&["-5"])),
    ("square", Content::Square, shape(16, 2, 48_000), Encoder::Flac(&["-8"])),
    ("square24", Content::Square, shape(24, 2, 44_100), Encoder::Flac(&["-5", "-b", "192"])),
    ("square8", Content::Square, shape(8, 1, 48_000), Encoder::Flac(&["-8"])),
    ("ours-0", Content::Music, shape(16, 2, 48_000), Encoder::Ours(0)),
    ("ours-1", Content::Music, shape(16, 2, 48_000), Encoder::Ours(1)),
    ("ours-5", Content::Music, shape(16, 2, 48_000), Encoder::Ours(5)),
    ("ours-8", Content::Music, shape(16, 2, 48_000), Encoder::Ours(8)),
    ("ours24", Content::Music, shape(24, 2, 96_000), Encoder::Ours(5)),
    ("ours-mono", Content::Music, shape(16, 1, 44_100), Encoder::Ours(3)),
    ("ours-noise", Content::Noise, shape(16, 2, 48_000), Encoder::Ours(8)),
    ("ours-silence", Content::Silence, shape(16, 2, 48_000), Encoder::Ours(1)),
];

/// The files of [`CASES`], made once per run (in the target's folder for test files: a static's
/// temporary folder would never be removed) with what `flac -d` decodes them to.
fn files() -> &'static [(PathBuf, Shape, Vec<i32>)] {
    static FILES: OnceLock<Vec<(PathBuf, Shape, Vec<i32>)>> = OnceLock::new();
    FILES.get_or_init(|| {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("flac-decode");
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        CASES
            .iter()
            .map(|&(name, content, s, how)| {
                let pcm = samples(content, s);
                let flac = encode(&dir, name, &pcm, s, how);
                let want = reference(&flac, s.bits);
                assert_same(&format!("{name} (flac -d against the input)"), &want, &pcm, s.channels);
                (flac, s, want)
            })
            .collect()
    })
}

#[test]
fn every_file_decodes_as_flac_decodes_it() {
    if !common::tier_files(&[Path::new(OGG)]) {
        return;
    }
    for (flac, s, want) in files() {
        let name = flac.file_name().unwrap().to_string_lossy();
        let got = decode(&std::fs::read(flac).unwrap()).unwrap_or_else(|e| panic!("{name}: {e:#}"));
        assert_same(&name, &got, want, s.channels);
    }
}

#[test]
fn each_block_scales_the_same_samples() {
    if !common::tier_files(&[Path::new(OGG)]) {
        return;
    }
    for (flac, s, want) in files().iter().filter(|(_, s, _)| s.channels != 2 || s.bits == 24) {
        let scale = 1.0 / (1u64 << (s.bits - 1)) as f32;
        let mut got = Vec::new();
        let shape = vinyl::flac::decode::each_block(flac, "test", |_, pcm| {
            got.extend_from_slice(pcm);
            Ok(true)
        })
        .unwrap();
        assert_eq!((shape.rate, shape.channels), (s.rate, s.channels));
        assert!(got.iter().zip(want).all(|(g, w)| *g == *w as f32 * scale), "{}", flac.display());
        assert_eq!(got.len(), want.len());
    }
}

/// Offsets spread over `len`, plus a few pseudo-random ones.
fn spread(len: usize, count: usize, seed: u32) -> Vec<usize> {
    let mut x = seed;
    (0..count)
        .map(|i| {
            x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            if i % 2 == 0 { i * len / count } else { (x >> 4) as usize % len }
        })
        .collect()
}

#[test]
fn corrupted_copies_are_errors_or_the_same_samples_never_a_panic_or_a_hang() {
    if !common::tier_files(&[Path::new(OGG)]) {
        return;
    }
    let picked: Vec<(Vec<u8>, Vec<i32>, u64)> =
        ["music-8.flac", "music24-lpc32.flac", "ours-1.flac", "music-b192.flac"]
            .iter()
            .map(|name| {
                let (flac, _, want) = files().iter().find(|(f, ..)| f.ends_with(name)).unwrap();
                let bytes = std::fs::read(flac).unwrap();
                let mut r = std::io::Cursor::new(&bytes);
                let (_, audio) = vinyl::flac::recover::read_metadata(&mut r, bytes.len() as u64).unwrap();
                (bytes, want.clone(), audio)
            })
            .collect();
    common::with_deadline(Duration::from_secs(120), move || {
        for (k, (good, want, audio)) in picked.iter().enumerate() {
            for at in spread(good.len(), 40, k as u32) {
                for flip in [0x01, 0xFF] {
                    let mut bad = good.clone();
                    bad[at] ^= flip;
                    match decode(&bad) {
                        Ok(got) => {
                            assert!(got == *want, "file {k}: flip {flip:#x} at {at} decoded to other samples")
                        }
                        Err(e) => assert!(
                            at < *audio as usize || format!("{e:#}").contains("frame at sample"),
                            "file {k}: flip at {at}: {e:#}"
                        ),
                    }
                }
            }
            for len in spread(good.len(), 60, 100 + k as u32) {
                assert!(decode(&good[..len]).is_err(), "file {k}: cut at {len} of {} decoded", good.len());
            }
        }
    });
}
