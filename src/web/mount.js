// The player of an Icecast mount: the page's Listen menu, and examples/web_probe for
// scripts/bench 82-mount-latency (which runs this very file).
//
// An Ogg mount plays as the <audio> element's src. An MP3 mount does not: Icecast 2.4 cuts a
// source's MP3 into 1400-byte blocks and starts a new listener at a block's start, which is where
// an MP3 frame starts only once in 24 joins at 320 kbit/s (960-byte frames), and chromium's FFmpeg,
// seeing no frame at the start, reads 256 KiB before it takes the stream for MP3 (6.5 s at
// 320 kbit/s, 8.2 s at 128) and then plays from the first byte: that far behind, however small the
// burst. So the MP3 is fetched and fed to Media Source Extensions from its first whole frame, and
// playback starts MOUNT_CUSHION behind the newest audio received; when a stall has left it more than
// MOUNT_SLACK further behind it jumps forward (a skip, counted). Without MediaSource for audio/mpeg,
// or when the server refuses the fetch (no Access-Control-Allow-Origin), the MP3 plays as src too.
"use strict";

const MOUNT_CUSHION = 1.0; // seconds between the newest audio received and what plays
const MOUNT_SLACK = 1.0; // seconds further behind than the cushion that make it jump forward
const MOUNT_SETTLE = 1.0; // seconds after the first byte in which the burst may still arrive
const MOUNT_KEEP = 10; // seconds of played audio kept in the SourceBuffer

// The offset of the first MPEG audio Layer III frame in `b` that another frame header follows,
// or -1 (then more bytes are needed).
function mp3FrameStart(b) {
  const kbps = [
    [0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160],
    [0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320],
  ];
  const hz = [[11025, 12000, 8000], null, [22050, 24000, 16000], [44100, 48000, 32000]];
  const frameLen = (i) => {
    if (i + 4 > b.length || b[i] !== 0xff || (b[i + 1] & 0xe0) !== 0xe0) return 0;
    const ver = (b[i + 1] >> 3) & 3, layer = (b[i + 1] >> 1) & 3, bi = b[i + 2] >> 4, si = (b[i + 2] >> 2) & 3;
    if (ver === 1 || layer !== 1 || bi === 0 || bi === 15 || si === 3) return 0;
    const mpeg1 = ver === 3;
    return Math.floor(((mpeg1 ? 144 : 72) * kbps[mpeg1 ? 1 : 0][bi] * 1000) / hz[ver][si]) + ((b[i + 2] >> 1) & 1);
  };
  for (let i = 0; i + 4 <= b.length; i++) {
    const n = frameLen(i);
    if (n && frameLen(i + n)) return i;
  }
  return -1;
}

// Plays `url` (of content `type`, e.g. audio/mpeg) in `audio`. `fail(message)` hears of errors.
// Returns { stop(), how, jumps, skipped, ends, rejoins, waiting, unplayed, onJump, onState }: `how`
// is "mse" or "src" (with the reason when an MP3 could not use MSE), `jumps` counts the jumps
// forward and `skipped` adds up the seconds they passed over, `unplayed` is the seconds of audio
// received but not played when an MSE stream last ended (0 unless stopped or paused); `onJump(h)`, when the caller sets it, hears of
// each, so the listener is told.
//
// A live stream ends when its source leaves the server (an encoder restarted, the capture
// stopped), and a server restarts: the player joins the mount again by itself, after REJOIN_FIRST
// seconds and then twice as long each time up to REJOIN_MOST, until it plays again or stop() is
// called. `waiting` says why while it waits (null while it plays), `ends` counts the ends and
// `rejoins` the times it played again; `onState(h)` hears of each change. Only what another try
// cannot mend (a stream that is not MP3 at all) goes to `fail` and ends the player.
const REJOIN_FIRST = 1; // seconds before the first try to join again
const REJOIN_MOST = 8; // seconds between tries at most
// Seconds without a byte (MSE, the page's /listen) or with the clock standing while it should
// play (a src) after which a stream counts as ended: a server or a network that stalls (a
// frozen process, a phone that changed networks) keeps the connection open and sends nothing.
const STALL_S = 10;

// The waits between tries to join a stream again (the page's /listen player uses them too):
// REJOIN_FIRST seconds, then twice as long each time up to REJOIN_MOST; `reset()` once it plays.
function rejoinWaits() {
  let wait = REJOIN_FIRST;
  return {
    next() { const w = wait; wait = Math.min(2 * wait, REJOIN_MOST); return w; },
    reset() { wait = REJOIN_FIRST; },
  };
}

// Calls `stalled()` (each second, until stopped or moved) once `moved()` has not been called for
// STALL_S seconds while `idle()` is false: a stream that is paused or between tries stands still by
// right. The page's /listen player uses it too.
function stallWatch(stalled, idle = () => false) {
  let last = performance.now();
  const tick = setInterval(() => {
    if (idle()) last = performance.now();
    else if (performance.now() - last > STALL_S * 1000) stalled();
  }, 1000);
  return { moved() { last = performance.now(); }, stop() { clearInterval(tick); } };
}

function playMount(audio, url, type, fail) {
  const h = { how: "src", jumps: 0, skipped: 0, unplayed: null, ends: 0, rejoins: 0, waiting: null, onJump: null, onState: null, stop: null };
  const life = new AbortController();
  let attempt = null, timer = null, reached = false;
  const waits = rejoinWaits();
  // The stream moves when a byte comes (MSE) or the clock goes on (src); a join restarts it.
  const watch = stallWatch(() => ended(url + ": nothing came for " + STALL_S + " s (the server or the network stalled)"),
    () => timer !== null || (h.how !== "mse" && audio.paused));
  audio.addEventListener("timeupdate", () => { if (h.how !== "mse") watch.moved(); }, { signal: life.signal });
  const said = () => { if (h.onState) h.onState(h); };
  const clear = () => {
    if (attempt) attempt.abort();
    attempt = null;
    audio.pause();
    if (audio.src.startsWith("blob:")) URL.revokeObjectURL(audio.src);
    audio.removeAttribute("src");
    audio.load();
  };
  // One end: the next try comes after the next of the waits.
  const ended = (why) => {
    if (life.signal.aborted || timer) return;
    clear();
    h.ends++;
    const wait = waits.next();
    h.waiting = why + "; joining it again in " + wait + " s";
    said();
    timer = setTimeout(() => { timer = null; join(); }, wait * 1000);
  };
  audio.addEventListener("playing", () => {
    if (h.waiting === null) return;
    h.waiting = null;
    h.rejoins++;
    waits.reset();
    said();
  }, { signal: life.signal });
  // An <audio> src reports its end and its errors (a 404 while the source is away) by events.
  const srcEnd = () => { if (h.how !== "mse") ended(url + ": the stream ended (its source left the server)"); };
  audio.addEventListener("ended", srcEnd, { signal: life.signal });
  audio.addEventListener("error", () => {
    if (h.how === "mse" || !audio.getAttribute("src")) return;
    const e = audio.error;
    ended(url + ": " + (e ? "media error " + e.code + (e.message ? " " + e.message : "") : "media error"));
  }, { signal: life.signal });
  // What keeps a src from playing comes as an error event (a try while the mount has no source
  // is a 404: NotSupportedError here), but for a browser that blocks sound.
  const playSrc = () => {
    watch.moved();
    audio.src = url;
    audio.play().catch((e) => { if (e.name === "NotAllowedError") fail(String(e)); });
  };
  const asSrc = (why) => {
    h.how = why ? "src (" + why + ")" : "src";
    playSrc();
  };
  const join = () => {
    if (h.how !== "mse") {
      playSrc();
      return;
    }
    attempt = new AbortController();
    const signal = attempt.signal;
    watch.moved();
    const ms = new MediaSource();
    audio.src = URL.createObjectURL(ms);
    ms.addEventListener("sourceopen", () => {
      feedMp3(audio, ms, url, signal, h, () => { reached = true; }, watch.moved).catch((e) => {
        if (signal.aborted) return;
        if (e.refused && !reached) {
          // No response at all before one ever came: the server does not let this page read it.
          URL.revokeObjectURL(audio.src);
          asSrc("fetch refused: " + e.message);
        } else if (e.fatal) {
          fail("mount: " + e);
        } else ended(e.refused ? url + ": the server cannot be reached (" + e.message + ")" : String(e.message || e));
      });
    }, { once: true });
    // The fallback's new src interrupts this play() (an AbortError): that is no error, its own
    // play() reports what goes wrong from there.
    audio.play().catch((e) => { if (!signal.aborted && h.how === "mse" && e.name !== "AbortError") fail(String(e)); });
  };
  h.stop = () => {
    life.abort();
    watch.stop();
    clearTimeout(timer);
    timer = null;
    clear();
  };
  if (type !== "audio/mpeg" || !window.MediaSource || !MediaSource.isTypeSupported("audio/mpeg")) {
    asSrc(type === "audio/mpeg" ? "no MediaSource for audio/mpeg" : "");
    return h;
  }
  h.how = "mse";
  join();
  return h;
}

// Reads the MP3 stream into a SourceBuffer from its first whole frame, keeping playback
// MOUNT_CUSHION behind the newest audio (see the top of this file). A fetch that fails before any
// response is thrown with `refused` set, a stream that is not MP3 with `fatal` set; `reached()` is
// called when a response came, `came()` when bytes did.
async function feedMp3(audio, ms, url, signal, h, reached, came) {
  const sb = ms.addSourceBuffer("audio/mpeg");
  const updated = () => new Promise((ok) => sb.addEventListener("updateend", ok, { once: true }));
  let res;
  try {
    res = await fetch(url, { cache: "no-store", signal });
  } catch (e) {
    e.refused = true;
    throw e;
  }
  reached();
  if (!res.ok) throw new Error(url + ": HTTP " + res.status + (res.status === 404 ? " (no source on the mount)" : ""));
  const reader = res.body.getReader();
  let head = new Uint8Array(0), firstByte = 0;
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    came();
    let data = value;
    if (head) {
      data = new Uint8Array(head.length + value.length);
      data.set(head);
      data.set(value, head.length);
      const at = mp3FrameStart(data);
      if (at < 0) {
        // Not MP3 after all (a wrong URL or type): say so rather than hold the stream forever.
        if (data.length > 1 << 20) {
          const e = new Error(url + ": no two MP3 frames in a row in the first MiB");
          e.fatal = true;
          throw e;
        }
        head = data;
        continue;
      }
      data = data.subarray(at);
      head = null;
      firstByte = performance.now();
    }
    sb.appendBuffer(data);
    await updated();
    keepLive(audio, sb, h, performance.now() - firstByte < MOUNT_SETTLE * 1000);
    const b = sb.buffered;
    if (b.length && audio.currentTime - b.start(0) > 2 * MOUNT_KEEP) {
      sb.remove(0, audio.currentTime - MOUNT_KEEP);
      await updated();
    }
  }
  if (ms.readyState === "open") ms.endOfStream();
  // Icecast ends a listener's stream when its source goes (a restarted encoder, a stopped capture).
  // What it sent last is the source's last audio: it plays out (MOUNT_CUSHION, a second) before
  // the end is said and the player clears the element to join again.
  await playedOut(audio, signal);
  const b = audio.buffered;
  h.unplayed = b.length ? Math.max(0, b.end(b.length - 1) - audio.currentTime) : 0;
  throw new Error(url + ": the stream ended (its source left the server)");
}

// Resolves once `audio` has played what it buffered (its ended event), is stopped, or has had the
// time that should take and a second more (a paused element would hold the end for ever).
function playedOut(audio, signal) {
  return new Promise((done) => {
    const b = audio.buffered;
    const left = b.length ? b.end(b.length - 1) - audio.currentTime : 0;
    if (left <= 0 || audio.paused || signal.aborted) {
      done();
      return;
    }
    const finish = () => {
      clearTimeout(timer);
      audio.removeEventListener("ended", finish);
      signal.removeEventListener("abort", finish);
      done();
    };
    const timer = setTimeout(finish, (left + 1) * 1000);
    audio.addEventListener("ended", finish);
    signal.addEventListener("abort", finish);
  });
}

// Jumps to MOUNT_CUSHION behind the newest audio when playback is further behind than the slack
// (while the burst still arrives, than a tenth of a second: it may come in several reads).
function keepLive(audio, sb, h, settling) {
  const b = sb.buffered;
  if (!b.length) return;
  const end = b.end(b.length - 1), behind = end - audio.currentTime;
  if (behind > MOUNT_CUSHION + (settling ? 0.1 : MOUNT_SLACK)) {
    const to = Math.max(b.start(b.length - 1), end - MOUNT_CUSHION);
    const skipped = to - audio.currentTime;
    audio.currentTime = to;
    if (!settling) {
      h.jumps++;
      h.skipped += skipped;
      if (h.onJump) h.onJump(h);
    }
  }
}
