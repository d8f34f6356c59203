//! The flags of `vinyl-web`, the single source of `--help`, the man page and the completions.

use crate::pcm::PcmArgs;
use crate::rec::cli::ControllerArgs;
use clap::Parser;
use std::net::SocketAddr;
use std::path::PathBuf;

const LONG_ABOUT: &str = "\
Serves a small web page and an HTTP API for the turntable: a live level meter, the turntable's \
state (idle, side N, track K, run-out), the recording's state with a Record/Stop button, the last \
recordings with download links, the collection (each album's recordings with a player that fetches \
nothing until Play and seeks with HTTP Range, and a download link), and a Listen button that plays \
the live capture at low latency in the browser, or an Icecast mount, and joins the stream again by \
itself when it ends or stalls (vinyl-web restarted, the network dropped, the mount's source left; \
10 s in which nothing came). The page is one self-contained file (no CDN, no \
build step, works offline) and fits a phone.

It taps the ring in-process: each listening browser costs one live reader of the ring (a thread), \
and a client that stalls is dropped after its write blocks for 2 s; neither costs the ring, the \
stream or a recording a frame. The levels and the turntable's state come from the JSON lines that \
vinyl-listen writes to the events file, which vinyl-web follows (appends, rotation, truncation). \
Recordings are started and stopped through vinyl-rec's own code, so the files, names, tags and \
state are those of vinyl-rec start/stop.

ENDPOINTS:
  GET  /                 the page
  GET  /listen           live PCM: frames with their timeline numbers (see FORMAT below)
  POST /listen/report    the page's playback position, for the latency measure (JSON)
  GET  /status           JSON: components, ring, recording, levels, turntable, latency
  GET  /events           Server-Sent Events: the listener's events and recording changes
  POST /rec/start        start a recording: JSON {\"name\": \"...\", \"tags\": [\"KEY=VALUE\"]} (token)
  POST /rec/stop         stop it (token)
  GET  /recordings       JSON list of recordings: duration, size, tracks, loudness
  GET  /recordings/PATH  download or play one, with HTTP Range (one range; 206, or 416 past the end)
  GET  /library          JSON: the collection's albums, sides, tracks, cover and recording links
  GET  /plays            JSON: the listening history, newest first (50)
  GET  /cover/ID         an album's front cover (PNG or JPEG)
  GET  /plot/KIND?file=PATH  a recording's health plot, SVG: KIND level, noise or wow (404 without data)
  GET  /plot/health?album=ID  an album's health over time, SVG (from vinyl-qa's stored reports)
  POST /library/name     name a recording as vinyl-library name does: ?file=PATH&artist=A&album=T
                         [&year=Y][&side=S][&title=T1&title=T2...], the cover (PNG or JPEG, at
                         most 10 MB) as the body (token)

FORMAT:
/listen is a streamed response (application/octet-stream; X-Vinyl-Format, X-Vinyl-Rate and \
X-Vinyl-Channels give the ring's format) of messages, one per write of the ring's writer: the 4 \
bytes VNL1, the payload's length in bytes (u32, little-endian), the timeline number of its first \
frame (u64, little-endian), then whole frames of raw PCM. The numbers jump ahead when the client \
was skipped to live. While no frame comes (the capture stopped), an empty message (length 0, the \
next frame's number) goes every 2 s, so a client tells that from a stall and a client that left \
is found out. The page plays them through an AudioWorklet with a jitter buffer of about 40 \
ms (at least 20 ms kept, 150 ms at most), dropping the oldest frames rather than falling behind, \
and reports every 500 ms, to POST /listen/report, the frame it handed to the audio output and how \
long ago: vinyl-web measures the latency from the frame's publication in the ring to that moment \
and keeps its percentiles in /status (latency.p50_ms, latency.p95_ms). /events is text/event-stream; \
each message's data: line is one JSON object, the listener's lines as written (level, \
side_start, track_start, side_end, side_report, state, and any other), plus hello (the state on \
connection) and recording (the recording started or ended), under its event: name with an id: a \
client reconnecting with Last-Event-ID gets again what it missed of the last 256 events but \
levels.

SECURITY:
It binds 127.0.0.1 unless --listen says otherwise; bound to a loopback address it answers only \
requests whose Host is localhost or a loopback address (421 else), so a site that rebinds its \
name to 127.0.0.1 cannot read it; bound to another address, only IP literals, localhost, this \
machine's host name and NAME.local, and the --allow-host names. The control endpoints (POST /rec/*) need the \
token from --token-file, sent as `Authorization: Bearer TOKEN` (or `X-Vinyl-Token: TOKEN`); a \
page of another origin cannot send such a header without a CORS pre-flight, which vinyl-web never \
grants. The page learns the token once from the address http://HOST:PORT/#token=TOKEN (the part \
after # never leaves the browser), keeps it in the browser's localStorage and removes it from the \
address bar; without it the page is read-only and asks for the token when a control is used. The \
token file must be owned by this user (or root) and readable by no one else (chmod 600); vinyl-up \
creates it (32 random bytes, hex, mode 0600) at its first start. The token is never logged. \
Requests are bounded (8 KiB of headers, 16 KiB of body: 413 beyond) and parsed strictly (400 for \
a bare LF, a doubtful Content-Length, a missing Host). Requests being read and streams have \
separate budgets (--max-clients, --max-streams, --max-streams-per-address: 503 beyond; a full \
request budget first closes the request that has been sending longest, past 1 s), and a client \
that has not sent its whole request within --request-timeout is closed. Downloads never leave \
the recordings folder (404). /status names no absolute path and no process.";

const AFTER_HELP: &str = "\
EXIT STATUS:
  0  stopped by SIGTERM/SIGINT/SIGHUP
  1  runtime failure: the address cannot be bound, an unsafe token file
  2  usage error

EXAMPLES:
  vinyl-web --token-file /etc/vinyl/web-token
  vinyl-web --listen 0.0.0.0:8080 --token-file ~/.config/vinyl/web-token
  curl -H \"Authorization: Bearer $(cat ~/.config/vinyl/web-token)\" -X POST \\
       -d '{\"name\":\"side-a\"}' http://127.0.0.1:8080/rec/start";

/// Options of `vinyl-web`.
#[derive(Parser, Debug, Clone)]
#[command(
    name = "vinyl-web",
    version,
    about = "Serve the turntable's web page: meter, state, record, recordings, live listening",
    long_about = LONG_ABOUT,
    after_help = AFTER_HELP,
    args_override_self = true
)]
pub struct Opts {
    /// The address and port to serve on; 0.0.0.0:8080 to serve the local network
    #[arg(long, value_name = "ADDR:PORT", env = "VINYL_WEB_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// The file holding the control token (one line). Without it, control endpoints answer 401
    /// [default: $VINYL_WEB_TOKEN_FILE, else /etc/vinyl/web-token for root, else
    /// ~/.config/vinyl/web-token]
    #[arg(long, value_name = "PATH")]
    pub token_file: Option<PathBuf>,
    /// Create the token file (--token-file or its default) when it is missing or empty: 32
    /// random bytes as hex, mode 0600, its folder made 0700; print its path on stdout and exit.
    /// The one maker of the token, for vinyl-up and the unit; the token itself is never printed
    #[arg(long)]
    pub make_token: bool,
    /// The shared --events, --ring and --recordings flags.
    #[command(flatten)]
    pub controller: ControllerArgs,
    /// Requests being read at once; when all are taken, the slowest one past 1 s makes room, else
    /// the newcomer is answered 503 and closed
    #[arg(long, value_name = "N", default_value = "32", value_parser = clap::value_parser!(u32).range(2..=1024))]
    pub max_clients: u32,
    /// Streams (/events and /listen) at once, apart from the requests; more are answered 503
    #[arg(long, value_name = "N", default_value = "32", value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub max_streams: u32,
    /// Streams from one address other than loopback (a reverse proxy on this machine is exempt)
    #[arg(long, value_name = "N", default_value = "8", value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub max_streams_per_address: u32,
    /// A name (besides IP literals, this machine's host name and NAME.local) that requests may
    /// give as their Host when bound to a non-loopback address (repeatable; also
    /// VINYL_WEB_ALLOW_HOSTS, blank-separated)
    #[arg(long, value_name = "NAME")]
    pub allow_host: Vec<String>,
    /// Seconds a client has to send its whole request (headers and body); slower ones are closed
    #[arg(long, value_name = "SECONDS", default_value = "5", value_parser = clap::value_parser!(u64).range(1..=120))]
    pub request_timeout: u64,
    /// The MP3 stream's Icecast URL, offered in the page's Listen menu (listeners open the
    /// source URL; empty: not offered). The page fetches it, so the server must send
    /// Access-Control-Allow-Origin, as Debian's icecast.xml does; else it plays seconds later
    #[arg(long, value_name = "URL", env = "VINYL_ICECAST_URL")]
    pub mp3_url: Option<String>,
    /// The Ogg FLAC mount's URL, offered in the Listen menu (empty: not offered)
    #[arg(long, value_name = "URL", env = "VINYL_OGG_FLAC_URL")]
    pub ogg_flac_url: Option<String>,
    /// The Ogg Opus mount's URL, offered in the Listen menu (empty: not offered)
    #[arg(long, value_name = "URL", env = "VINYL_OPUS_URL")]
    pub opus_url: Option<String>,
    /// The format, rate and channels of the ring.
    #[command(flatten)]
    pub pcm: PcmArgs,
}
