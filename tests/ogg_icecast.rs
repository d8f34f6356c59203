//! End-to-end tests of `vinyl-ogg-icecast`: the built binary against a real icecast2 started by
//! each test on 127.0.0.1 (`common::icecast`), listened to as a listener would, and decoded by the
//! reference decoders (`flac -d`, ffmpeg). The input is the counter signal in which every frame
//! carries its own number, so a decoded run shows any gap, repeat or misalignment.

mod common;

use common::icecast::Icecast;
use common::proc::Proc;
use std::io::Write;
use std::path::Path;
use std::process::{ChildStdin, Command};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use vinyl::ogg::{Page, parse_page};
use vinyl::pcm::PcmSpec;
use vinyl_ring::spec::{unique_frame_number, unique_frames};

const BIN: &str = env!("CARGO_BIN_EXE_vinyl-ogg-icecast");
const RATE: u32 = 48_000;
const SECOND: Duration = Duration::from_secs(1);

fn spawn(args: &[&str]) -> Proc {
    let mut cmd = Command::new(BIN);
    cmd.args(args).env_remove("VINYL_ICECAST_PASSWORD").env_remove("NOTIFY_SOCKET");
    Proc::spawn(cmd, false)
}

fn pw_arg(ice: &Icecast) -> String {
    format!("--password-file={}", ice.password_file().display())
}

/// Feeds the counter signal from frame 0: one second at once, then in real time, until stopped.
/// Returns the frames written.
struct Feeder {
    stop: Arc<AtomicBool>,
    handle: JoinHandle<(ChildStdin, u64)>,
}

impl Feeder {
    fn start(mut stdin: ChildStdin, spec: PcmSpec) -> Feeder {
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        let handle = std::thread::spawn(move || {
            let t0 = Instant::now();
            let mut at = 0u64;
            let step = spec.rate as u64 / 10;
            while !s.load(Ordering::SeqCst) {
                let due = spec.rate as u64 + (t0.elapsed().as_secs_f64() * spec.rate as f64) as u64;
                if at < due {
                    let n = (due - at).min(step * 4);
                    if stdin.write_all(&unique_frames(&spec, at, n)).is_err() {
                        break;
                    }
                    at += n;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            (stdin, at)
        });
        Feeder { stop, handle }
    }

    fn stop(self) -> (ChildStdin, u64) {
        self.stop.store(true, Ordering::SeqCst);
        self.handle.join().expect("feeder")
    }
}

/// The whole pages at the start of `b` (a listener's cut ends mid-page).
fn pages(mut b: &[u8]) -> (Vec<Page>, usize) {
    let (mut out, mut used) = (Vec::new(), 0);
    while let Some((p, n)) = parse_page(b) {
        out.push(p);
        b = &b[n..];
        used += n;
    }
    (out, used)
}

/// Decodes whole Ogg pages with `flac -d` to raw s16le.
fn flac_decode(ogg: &[u8], dir: &Path) -> Vec<u8> {
    let src = dir.join("in.oga");
    std::fs::write(&src, ogg).unwrap();
    let mut cmd = Command::new("flac");
    cmd.args(["-d", "-s", "-c", "--ogg", "--force-raw-format", "--endian=little", "--sign=signed"]).arg(&src);
    common::run_ok(&mut cmd, common::DEADLINE).stdout
}

/// The frame numbers of decoded counter PCM, checked contiguous; returns (first, count).
fn contiguous(pcm: &[u8], spec: &PcmSpec) -> (u64, u64) {
    let fb = spec.frame_bytes();
    assert_eq!(pcm.len() % fb, 0, "decoded PCM of whole frames");
    let nums: Vec<u64> = pcm.chunks_exact(fb).map(unique_frame_number).collect();
    assert!(!nums.is_empty(), "nothing decoded");
    for (i, w) in nums.windows(2).enumerate() {
        assert_eq!(w[1], w[0] + 1, "decoded frame {} follows {} (at decoded frame {i})", w[1], w[0]);
    }
    (nums[0], nums.len() as u64)
}

#[test]
fn ogg_flac_listener_decodes_bit_exact_to_the_counter() {
    if !common::tier(&["icecast2", "flac"]) {
        return;
    }
    let ice = Icecast::start();
    let spec = PcmSpec::default();
    let mut tool = spawn(&["--codec", "flac", "--url", &ice.url("/vinyl.flac.ogg"), &pw_arg(&ice)]);
    let feeder = Feeder::start(tool.take_stdin(), spec);
    let status = ice.wait_for_mount("/vinyl.flac.ogg", 20 * SECOND);
    assert_eq!(status["server_type"], "audio/ogg", "{status}");
    tool.wait_line_within("Ogg stream", 20 * SECOND);
    let got = ice.listen("/vinyl.flac.ogg", usize::MAX, 3 * SECOND);
    let (stdin, written) = feeder.stop();
    drop(stdin);
    let (st, report) = tool.exit_report(common::DEADLINE);
    assert!(st.success(), "{report}");

    let (ps, used) = pages(&got);
    assert!(ps.len() > 10, "pages from the listener: {}", ps.len());
    assert_eq!(ps[0].flags & 2, 2, "the listener starts at a BOS page");
    assert_eq!(&ps[0].body[..5], b"\x7fFLAC");
    assert_eq!(ps[0].sequence, 0);
    let dir = tempfile::tempdir().unwrap();
    let (first, count) = contiguous(&flac_decode(&got[..used], dir.path()), &spec);
    assert!(count >= RATE as u64, "at least a second decoded: {count} frames from {first}");
    assert!(first + count <= written, "decoded {first}+{count} of {written} written");
}

/// The input frames at which the tool's log says each Ogg stream begins.
fn begins(log: &str) -> Vec<u64> {
    log.lines()
        .filter_map(|l| l.split_once("begins at input frame ")?.1.split(' ').next()?.parse().ok())
        .collect()
}

/// The Vorbis comments of the FLAC stream that `ps[bos]` begins (its second header packet).
fn flac_comments(ps: &[Page], bos: usize) -> String {
    let body = &ps[bos + 1].body;
    assert_eq!(body[0] & 0x7f, 4, "VORBIS_COMMENT after the first header page");
    String::from_utf8_lossy(&body[4..]).into_owned()
}

#[test]
fn a_title_chains_a_new_stream_that_carries_it_and_decodes_on_contiguously() {
    if !common::tier(&["icecast2", "ffmpeg"]) {
        return;
    }
    let ice = Icecast::start();
    let spec = PcmSpec::default();
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("title");
    let mount = "/vinyl.flac.ogg";
    let fifo_arg = format!("--metadata-fifo={}", fifo.display());
    let mut tool = spawn(&["--url", &ice.url(mount), &pw_arg(&ice), &fifo_arg]);
    let feeder = Feeder::start(tool.take_stdin(), spec);
    ice.wait_for_mount(mount, 20 * SECOND);
    let got = std::thread::scope(|sc| {
        let listener = sc.spawn(|| ice.listen(mount, usize::MAX, 4 * SECOND));
        std::thread::sleep(SECOND);
        let mut f = std::fs::OpenOptions::new().write(true).open(&fifo).unwrap();
        f.write_all(b"Artist - Song\n").unwrap();
        tool.wait_line_within("chaining", 10 * SECOND);
        listener.join().unwrap()
    });
    let (stdin, _) = feeder.stop();
    drop(stdin);
    let (st, report) = tool.exit_report(common::DEADLINE);
    assert!(st.success(), "{report}");
    let (ps, used) = pages(&got);
    let bos: Vec<usize> = ps.iter().enumerate().filter(|(_, p)| p.flags & 2 != 0).map(|(i, _)| i).collect();
    assert_eq!(
        bos.len(),
        2,
        "two chained streams: {:?}",
        ps.iter().map(|p| (p.flags, p.serial)).collect::<Vec<_>>()
    );
    assert_eq!(ps[bos[1] - 1].flags & 4, 4, "the first stream ends with EOS before the second begins");
    assert_ne!(ps[bos[0]].serial, ps[bos[1]].serial);
    assert!(!flac_comments(&ps, bos[0]).contains("TITLE="));
    assert!(flac_comments(&ps, bos[1]).contains("TITLE=Artist - Song"), "{}", flac_comments(&ps, bos[1]));
    // `flac -d` stops at the end of the first stream; ffmpeg (and so browsers) plays on.
    let src = dir.path().join("in.oga");
    std::fs::write(&src, &got[..used]).unwrap();
    let mut cmd = Command::new("ffmpeg");
    cmd.args(["-v", "error", "-i"]).arg(&src).args(["-f", "s16le", "-"]);
    let (first, count) = contiguous(&common::run_ok(&mut cmd, common::DEADLINE).stdout, &spec);
    let chained = *begins(&report).last().unwrap();
    assert!(
        first < chained && first + count > chained + RATE as u64,
        "{first}+{count} spans {chained}\n{report}"
    );
}
