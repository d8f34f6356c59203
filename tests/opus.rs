//! vinyl::opus against the reference decoder: 10 s of a stereo test signal (a tone per channel
//! plus a common sweep) encoded at 48 kHz (s16le) and at 44.1 kHz (s24_3le, resampled), wrapped
//! in a minimal Ogg file written here, decoded by opusdec (opus-tools, which honours pre-skip
//! and end trimming), and compared with the same signal computed at 48 kHz.

mod common;

use std::f64::consts::PI;
use std::path::Path;
use std::process::Command;
use std::time::Duration;
use vinyl::opus::{OpusPacket, OpusStream};
use vinyl::pcm::{PcmSpec, SampleFormat};

const SECONDS: f64 = 10.0;

/// The test signal, channel `c` at time `t`: a tone (440 Hz left, 1 kHz right) and a sweep from
/// 100 Hz to 8 kHz over the 10 s, both channels.
fn signal(c: usize, t: f64) -> f64 {
    let tone = if c == 0 { 440.0 } else { 1000.0 };
    let (f0, f1) = (100.0, 8000.0);
    let sweep = 2.0 * PI * (f0 * t + (f1 - f0) * t * t / (2.0 * SECONDS));
    0.3 * (2.0 * PI * tone * t).sin() + 0.2 * sweep.sin()
}

fn pcm(spec: &PcmSpec) -> Vec<u8> {
    let frames = (spec.rate as f64 * SECONDS) as usize;
    let mut v = Vec::with_capacity(frames * spec.frame_bytes());
    for i in 0..frames {
        for c in 0..2 {
            let x = signal(c, i as f64 / spec.rate as f64);
            match spec.format {
                SampleFormat::S16Le => v.extend_from_slice(&((x * 32767.0).round() as i16).to_le_bytes()),
                SampleFormat::S24_3Le => {
                    v.extend_from_slice(&((x * 8_388_607.0).round() as i32).to_le_bytes()[..3])
                }
            }
        }
    }
    v
}

/// Ogg's CRC-32 (polynomial 0x04c11db7, no reflection, initial value and final XOR 0).
fn ogg_crc(data: &[u8]) -> u32 {
    let mut crc = 0u32;
    for &b in data {
        crc ^= (b as u32) << 24;
        for _ in 0..8 {
            crc = if crc & 0x8000_0000 != 0 { (crc << 1) ^ 0x04c1_1db7 } else { crc << 1 };
        }
    }
    crc
}

/// One Ogg page holding exactly one packet (RFC 3533).
fn page(out: &mut Vec<u8>, packet: &[u8], granule: u64, seq: u32, flags: u8) {
    let mut lacing = vec![255u8; packet.len() / 255];
    lacing.push((packet.len() % 255) as u8);
    let start = out.len();
    out.extend_from_slice(b"OggS");
    out.push(0);
    out.push(flags);
    out.extend_from_slice(&granule.to_le_bytes());
    out.extend_from_slice(&0x7669_6e79u32.to_le_bytes());
    out.extend_from_slice(&seq.to_le_bytes());
    out.extend_from_slice(&[0; 4]);
    out.push(lacing.len() as u8);
    out.extend_from_slice(&lacing);
    out.extend_from_slice(packet);
    let crc = ogg_crc(&out[start..]);
    out[start + 22..start + 26].copy_from_slice(&crc.to_le_bytes());
}

fn ogg_file(head: &[u8], tags: &[u8], packets: &[OpusPacket]) -> Vec<u8> {
    let mut out = Vec::new();
    page(&mut out, head, 0, 0, 0x02);
    page(&mut out, tags, 0, 1, 0);
    for (i, p) in packets.iter().enumerate() {
        let eos = if i + 1 == packets.len() { 0x04 } else { 0 };
        page(&mut out, &p.data, p.granule, i as u32 + 2, eos);
    }
    out
}

/// Encodes the test signal in `spec` at 128 kbit/s in pushes of 4 KiB; returns the Ogg file,
/// the pre-skip and the packets.
fn encode(spec: &PcmSpec) -> (Vec<u8>, u16, Vec<OpusPacket>) {
    let mut e = OpusStream::new(spec, 128_000).unwrap();
    let mut packets = Vec::new();
    for chunk in pcm(spec).chunks(4096) {
        packets.extend(e.push(chunk).unwrap());
    }
    packets.extend(e.finish().unwrap());
    let tags = e.tags(&[("TITLE".into(), "test signal".into())]);
    (ogg_file(&e.head(), &tags, &packets), e.pre_skip(), packets)
}

/// opusdec's output at 48 kHz, per channel, as floats.
fn opusdec(dir: &Path, ogg: &[u8]) -> Vec<Vec<f64>> {
    let (src, wav) = (dir.join("t.opus"), dir.join("t.wav"));
    std::fs::write(&src, ogg).unwrap();
    let out = common::run_ok(
        Command::new("opusdec").args(["--quiet", "--rate", "48000", "--float"]).arg(&src).arg(&wav),
        Duration::from_secs(120),
    );
    let mut r = hound::WavReader::open(&wav)
        .unwrap_or_else(|e| panic!("{}: {e}; {}", wav.display(), common::stderr(&out)));
    assert_eq!((r.spec().channels, r.spec().sample_rate), (2, 48_000));
    let mut ch = vec![Vec::new(), Vec::new()];
    for (i, s) in r.samples::<f32>().enumerate() {
        ch[i % 2].push(s.unwrap() as f64);
    }
    ch
}

/// The lag in 48 kHz samples (decoded sample `i` matches the input at `i - lag`), searched in
/// tenths of a sample over ±2, with the best SNR, and that SNR in dB over the middle of the
/// signal, worst channel reported. Fractions matter: the 44.1 kHz resampler places the output
/// half a sample early, which at the sweep's 8 kHz is a 0.5 rad phase error.
fn best_snr(decoded: &[Vec<f64>]) -> (f64, f64) {
    let n = decoded[0].len();
    let mut best = (0.0, f64::MIN);
    for tenths in -20..=20 {
        let lag = tenths as f64 / 10.0;
        let mut worst = f64::MAX;
        for (c, d) in decoded.iter().enumerate() {
            let (mut sig, mut err) = (0.0, 0.0);
            for (i, y) in d.iter().enumerate().take(n - 4_800).skip(4_800) {
                let x = signal(c, (i as f64 - lag) / 48_000.0);
                sig += x * x;
                err += (y - x) * (y - x);
            }
            worst = worst.min(10.0 * (sig / err).log10());
        }
        if worst > best.1 {
            best = (lag, worst);
        }
    }
    best
}

fn round_trip(spec: PcmSpec) {
    if !common::tier(&["opusdec"]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (ogg, pre_skip, packets) = encode(&spec);
    let input48 = (SECONDS * 48_000.0) as u64;
    assert_eq!(packets.last().unwrap().granule, pre_skip as u64 + input48, "{spec:?}: end granule");
    for w in packets.windows(2) {
        assert!(
            w[1].granule > w[0].granule && w[1].granule - w[0].granule <= 960,
            "{spec:?}: granules {w:?}"
        );
    }
    let decoded = opusdec(dir.path(), &ogg);
    let len = decoded[0].len() as u64;
    assert_eq!(len, input48, "{spec:?}: decoded samples (pre-skip and end trimming), input at 48 kHz");
    let (lag, snr) = best_snr(&decoded);
    eprintln!("{spec:?}: decoded {len} samples (input {input48}), best lag {lag:+.1}, SNR {snr:.1} dB");
    assert!(lag.abs() <= 0.5, "{spec:?}: decoded signal is {lag} samples off the input (SNR {snr:.1} dB)");
    assert!(snr > 20.0, "{spec:?}: SNR {snr:.1} dB at lag {lag}, want > 20 dB at 128 kbit/s");
}

#[test]
fn opusdec_returns_the_48k_input_at_its_length_and_place() {
    round_trip(PcmSpec { rate: 48_000, channels: 2, format: SampleFormat::S16Le });
}

#[test]
fn opusdec_returns_the_44k1_24bit_input_resampled_at_its_length_and_place() {
    round_trip(PcmSpec { rate: 44_100, channels: 2, format: SampleFormat::S24_3Le });
}
