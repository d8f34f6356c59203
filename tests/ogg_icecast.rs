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

/// What a listener reads of `mount` for 4 s while the title "Artist - Song" goes into the tool's
/// metadata FIFO: written once icecast counts the listener (so its stream began before the
/// title), then the tool's "chaining" line is awaited.
fn listen_across_a_title(ice: &Icecast, mount: &str, tool: &mut Proc, fifo: &std::path::Path) -> Vec<u8> {
    std::thread::scope(|sc| {
        let listener = sc.spawn(|| ice.listen(mount, usize::MAX, 4 * SECOND));
        ice.wait_for_mount_where(mount, "a listener", 10 * SECOND, |m| m["listeners"].as_u64() >= Some(1));
        let mut f = std::fs::OpenOptions::new().write(true).open(fifo).unwrap();
        f.write_all(b"Artist - Song\n").unwrap();
        tool.wait_line_within("chaining", 10 * SECOND);
        listener.join().unwrap()
    })
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
    fn start(stdin: ChildStdin, spec: PcmSpec) -> Feeder {
        Feeder::with(stdin, spec, move |at, n| unique_frames(&spec, at, n))
    }

    /// Feeds what `signal(first, count)` makes instead of the counter.
    fn with(
        mut stdin: ChildStdin,
        spec: PcmSpec,
        signal: impl Fn(u64, u64) -> Vec<u8> + Send + 'static,
    ) -> Feeder {
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
                    if stdin.write_all(&signal(at, n)).is_err() {
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
    let got = listen_across_a_title(&ice, mount, &mut tool, &fifo);
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

/// A 1 kHz sine at -6 dBFS, stereo s16le at `rate`, from frame `first`.
fn sine(rate: u32, first: u64, count: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(count as usize * 4);
    for i in first..first + count {
        let v = ((i as f64 * 1000.0 / rate as f64 * std::f64::consts::TAU).sin() * 16384.0) as i16;
        out.extend_from_slice(&v.to_le_bytes());
        out.extend_from_slice(&v.to_le_bytes());
    }
    out
}

#[test]
fn ogg_opus_from_44k1_plays_at_48k_and_a_title_chains_into_opus_tags() {
    if !common::tier(&["icecast2", "ffmpeg"]) {
        return;
    }
    let ice = Icecast::start();
    let spec = PcmSpec { rate: 44_100, ..PcmSpec::default() };
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("title");
    let mount = "/vinyl.opus";
    let fifo_arg = format!("--metadata-fifo={}", fifo.display());
    let args = [
        "--codec",
        "opus",
        "--rate",
        "44100",
        "--bitrate",
        "96",
        "--url",
        &ice.url(mount),
        &pw_arg(&ice),
        &fifo_arg,
    ];
    let mut tool = spawn(&args);
    let feeder = Feeder::with(tool.take_stdin(), spec, |at, n| sine(44_100, at, n));
    let status = ice.wait_for_mount(mount, 20 * SECOND);
    assert_eq!(status["server_type"], "audio/ogg", "{status}");
    let got = listen_across_a_title(&ice, mount, &mut tool, &fifo);
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
        ps.iter().take(12).map(|p| (p.flags, p.serial, p.sequence, p.granule)).collect::<Vec<_>>()
    );
    for &b in &bos {
        assert_eq!(&ps[b].body[..8], b"OpusHead");
        assert_eq!(ps[b].body[9], 2, "two channels");
        assert_eq!(u32::from_le_bytes(ps[b].body[12..16].try_into().unwrap()), 44_100, "the input rate");
        assert_eq!(&ps[b + 1].body[..8], b"OpusTags");
    }
    let tags = String::from_utf8_lossy(&ps[bos[1] + 1].body).into_owned();
    assert!(tags.contains("TITLE=Artist - Song"), "{tags}");
    // 20 ms packets: granules (48 kHz) of consecutive audio pages differ by multiples of 960
    // (but for the EOS page's, which trims the end).
    let audio: Vec<u64> =
        ps[bos[0] + 2..bos[1] - 1].iter().map(|p| p.granule).filter(|&g| g != u64::MAX).collect();
    assert!(audio.windows(2).all(|w| w[1] > w[0] && (w[1] - w[0]) % 960 == 0), "{audio:?}");
    let src = dir.path().join("in.opus");
    std::fs::write(&src, &got[..used]).unwrap();
    let mut cmd = Command::new("ffmpeg");
    cmd.args(["-v", "error", "-i"]).arg(&src).args(["-f", "s16le", "-ac", "1", "-"]);
    let pcm: Vec<i16> = common::run_ok(&mut cmd, common::DEADLINE)
        .stdout
        .chunks_exact(2)
        .map(|b| i16::from_le_bytes([b[0], b[1]]))
        .collect();
    assert!(pcm.len() > 3 * 48_000, "over 3 s decoded at 48 kHz across the chain: {}", pcm.len());
    // A 1 kHz tone at 48 kHz crosses zero 2000 times a second (the second after the first).
    let second = &pcm[48_000..96_000];
    let crossings = second.windows(2).filter(|w| (w[0] < 0) != (w[1] < 0)).count();
    assert!((1990..=2010).contains(&crossings), "{crossings} zero crossings in a second");
}

#[test]
fn after_a_server_restart_listeners_get_a_new_stream_from_its_headers_and_the_gap_is_logged() {
    if !common::tier(&["icecast2", "flac"]) {
        return;
    }
    let mut ice = Icecast::start();
    let spec = PcmSpec::default();
    let mount = "/vinyl.flac.ogg";
    let mut tool = spawn(&["--url", &ice.url(mount), &pw_arg(&ice), "--retry-max=1s"]);
    let feeder = Feeder::start(tool.take_stdin(), spec);
    tool.wait_line_within("streaming (PUT)", 20 * SECOND);
    ice.restart();
    tool.wait_lines("streaming (PUT)", 2);
    let got = ice.listen(mount, usize::MAX, 2 * SECOND);
    let (stdin, _) = feeder.stop();
    drop(stdin);
    let (st, report) = tool.exit_report(common::DEADLINE);
    assert!(st.success(), "{report}");
    assert!(
        report.contains("discarded while disconnected;")
            || report.contains("of audio discarded while disconnected"),
        "{report}"
    );
    let (ps, used) = pages(&got);
    assert_eq!(
        (ps[0].flags & 2, ps[0].sequence),
        (2, 0),
        "the new connection's stream starts with BOS, sequence 0"
    );
    let last = *begins(&report).last().unwrap();
    let serial = format!("Ogg stream {:08x} begins at input frame {last} ", ps[0].serial);
    assert!(report.contains(&serial), "the listener's stream is the last one begun ({serial})\n{report}");
    let dir = tempfile::tempdir().unwrap();
    let (first, count) = contiguous(&flac_decode(&got[..used], dir.path()), &spec);
    assert!(first >= last && count > RATE as u64 / 2, "{first}+{count} after {last}\n{report}");
}

/// The first timeline frame of the recording in progress (vinyl-rec's RUN/rec/start_frame).
fn rec_start_frame(up: &common::up::Up) -> u64 {
    let p = up.run.join("rec/start_frame");
    let text = common::up::read_lossy(&p);
    text.trim().parse().unwrap_or_else(|_| panic!("{}: {text:?} is not a number", p.display()))
}

/// Isolation: under vinyl-up, one Ogg mount whose server is down and one the server refuses
/// (another source holds it: 403) cost the capture, a recording and the MP3 stream nothing: the
/// ring journals no gap, the recording is one contiguous timeline, the MP3 tap never skips and
/// the MP3 encoder drops nothing, while both Ogg encoders keep retrying.
#[test]
fn refused_ogg_mounts_cost_the_ring_a_recording_and_the_mp3_stream_nothing() {
    if !common::tier(&["icecast2"]) {
        return;
    }
    let up = common::up::Up::start("ogg-isolation", 60);
    let spec = PcmSpec::default();
    let mut squatter = spawn(&["--codec", "opus", "--url", &up.ice.url("/vinyl.opus"), &pw_arg(&up.ice)]);
    let squat =
        Feeder::with(squatter.take_stdin(), spec, move |_, n| vec![0; n as usize * spec.frame_bytes()]);
    up.ice.wait_for_mount("/vinyl.opus", 20 * SECOND);
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut conf = std::fs::read_to_string(&up.conf).unwrap();
    conf += &format!(
        "VINYL_OGG_FLAC_URL=http://127.0.0.1:{dead}/vinyl.flac.ogg\nVINYL_OPUS_URL={}\n",
        up.ice.url("/vinyl.opus")
    );
    std::fs::write(&up.conf, conf).unwrap();
    up.sh_ok(&["vinyl-up"]);
    common::wait_until("both Ogg encoders refused", common::DEADLINE, || {
        up.log("ogg-flac").contains("connection refused") && up.log("opus").contains("403")
    });
    let out = up.sh(&["vinyl-rec", "start", "--preroll", "1s", "--name", "isolated"]);
    common::assert_success("vinyl-rec start", &out);
    let path = std::path::PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    let first = rec_start_frame(&up);
    common::up::wait_head_moves(&up, 4 * RATE as u64);
    up.sh_ok(&["vinyl-rec", "stop"]);
    let journal = common::up::journal(&up);
    let down = up.sh(&["vinyl-down"]);
    common::assert_success("vinyl-down", &down);
    let (stdin, _) = squat.stop();
    drop(stdin);
    squatter.exit_report(common::DEADLINE);

    assert!(journal.is_empty(), "the ring journaled gaps: {journal:?}");
    let gaps = common::assert_one_timeline(&path, first);
    assert!(gaps.is_empty(), "the recording has gaps: {gaps:?}");
    let mp3 = up.log("mp3-icecast");
    assert!(mp3.contains("dropped 0 frames while the server stalled"), "{mp3}");
    let tap = up.log("stream-tap");
    assert!(!tap.contains("skipped forward"), "the MP3 stream's tap skipped:\n{tap}");
    assert!(up.log("ogg-flac").contains("connection refused") && up.log("opus").contains("another source"));
}

/// The page's Listen menu in chromium: it offers exactly the mounts whose keys are set (Ogg FLAC
/// and Opus; no MP3 key, no MP3 entry), and an <audio> element plays each Ogg mount from a real
/// icecast2: its currentTime advances past 2 s with no media error, across a title chain too.
#[test]
fn the_page_plays_each_ogg_mount_in_chromium() {
    if !common::tier(&["icecast2", "chromium"]) {
        return;
    }
    let ice = Icecast::start();
    let spec = PcmSpec::default();
    let dir = tempfile::tempdir().unwrap();
    let mut tools = Vec::new();
    for (codec, mount) in [("flac", "/vinyl.flac.ogg"), ("opus", "/vinyl.opus")] {
        let fifo = format!("--metadata-fifo={}", dir.path().join(codec).display());
        let mut t = spawn(&["--codec", codec, "--url", &ice.url(mount), &pw_arg(&ice), &fifo]);
        let feeder = Feeder::with(t.take_stdin(), spec, |at, n| sine(48_000, at, n));
        ice.wait_for_mount(mount, 20 * SECOND);
        tools.push((t, feeder));
    }
    let (flac_url, opus_url) = (ice.url("/vinyl.flac.ogg"), ice.url("/vinyl.opus"));
    let env = [("VINYL_OGG_FLAC_URL", flac_url.as_str()), ("VINYL_OPUS_URL", opus_url.as_str())];
    let rig = common::web::Rig::start_with("ogg-web", &[], &env);
    let mut b = common::cdp::Browser::start(&dir.path().join("chromium")).expect("headless chromium");
    b.open(&format!("http://127.0.0.1:{}/", rig.port)).unwrap();
    let t = common::web::T;
    b.wait_for("document.getElementById('mountSel').options.length === 3", t).unwrap();
    let names =
        b.eval("Array.from(document.getElementById('mountSel').options).map(o => o.textContent).join('|')");
    assert_eq!(names.unwrap(), "This page: live, low latency|Ogg FLAC (Icecast)|Opus (Icecast)");
    for (i, url) in [&flac_url, &opus_url].into_iter().enumerate() {
        b.eval(&format!("document.getElementById('mountSel').value = '{url}'; true")).unwrap();
        b.click("listenBtn").unwrap();
        if i == 0 {
            // A title while it plays: the stream chains, the browser plays on.
            std::fs::OpenOptions::new()
                .write(true)
                .open(dir.path().join("flac"))
                .unwrap()
                .write_all(b"A - B\n")
                .unwrap();
        }
        let playing = "(() => { const a = document.getElementById('mountAudio'); return a.currentTime > 2.5 && !a.error; })()";
        let state = "JSON.stringify({t: document.getElementById('mountAudio').currentTime, e: window.vinylStats.errors, \
                     p: window.vinylStats.mountPlayer, sub: document.getElementById('listenSub').textContent})";
        b.wait_for(playing, t).unwrap_or_else(|e| panic!("{url}: {e}: {:?}", b.eval(state)));
        if i == 1 {
            // The Opus encoder stops and comes back: chromium ends the <audio> src (its `ended`
            // event, not the stall watchdog), the page says so and joins the mount again by itself.
            let (tool, feeder) = tools.pop().unwrap();
            drop(feeder.stop());
            let (st, report) = tool.exit_report(common::DEADLINE);
            assert!(st.success(), "{report}");
            let sub = "document.getElementById('listenSub').textContent";
            b.wait_for(
                &format!(
                    "window.vinylStats.mountPlayer.ends >= 1 && {sub}.includes('the stream ended') && \
                     {sub}.includes('joining it again')"
                ),
                t,
            )
            .unwrap_or_else(|e| panic!("{url}: the end is not said: {e}: {:?}", b.eval(state)));
            // A try while the mount has no source fails (a 404), is said, and another follows.
            let second = format!("window.vinylStats.mountPlayer.ends >= 2 && {sub}.includes('media error')");
            b.wait_for(&second, t).unwrap_or_else(|e| {
                panic!("{url}: no second try while the mount is gone: {e}: {:?}", b.eval(state))
            });
            let fifo = format!("--metadata-fifo={}", dir.path().join("opus").display());
            let mut tool = spawn(&["--codec", "opus", "--url", url, &pw_arg(&ice), &fifo]);
            let feeder = Feeder::with(tool.take_stdin(), spec, |at, n| sine(48_000, at, n));
            b.wait_for(&format!("window.vinylStats.mountPlayer.rejoins === 1 && {playing}"), t)
                .unwrap_or_else(|e| panic!("{url}: it did not join again: {e}: {:?}", b.eval(state)));
            let said = b.eval(sub).unwrap();
            assert!(
                said.as_str().is_some_and(|s| s.contains("joined again after the stream ended")),
                "{said:?}"
            );
            // The server freezes with the connection open (SIGSTOP): the src's clock stands once
            // what it had is played, and 10 s later the page says so and tries again; it plays
            // on once the server runs again.
            ice.freeze(true);
            let stalled = b.wait_for(
                &format!("window.vinylStats.mountPlayer.ends >= 3 && {sub}.includes('nothing came')"),
                t,
            );
            ice.freeze(false);
            stalled.unwrap_or_else(|e| {
                panic!("{url}: a frozen server is not noticed: {e}: {:?}", b.eval(state))
            });
            b.wait_for(&format!("window.vinylStats.mountPlayer.rejoins === 2 && {playing}"), t)
                .unwrap_or_else(|e| {
                    panic!("{url}: it did not join again after the freeze: {e}: {:?}", b.eval(state))
                });
            tools.push((tool, feeder));
        }
        b.click("listenBtn").unwrap();
        b.wait_for("document.getElementById('mountAudio').paused", t).unwrap();
    }
    let errors = b.eval("JSON.stringify(window.vinylStats.errors)").unwrap();
    assert_eq!(errors, "[]", "the page logged errors");
    for (tool, feeder) in tools {
        let (stdin, _) = feeder.stop();
        drop(stdin);
        let (st, report) = tool.exit_report(common::DEADLINE);
        assert!(st.success(), "{report}");
    }
}
