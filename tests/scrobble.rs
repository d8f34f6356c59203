//! The scrobbling recipe (`scripts/hooks/vinyl-listenbrainz`, a `VINYL_ON_EVENT` hook): given the
//! events as auto gives them, one JSON line on stdin a run, it posts ListenBrainz listens to a real
//! HTTP server on 127.0.0.1 with the token from its file, prints nothing, and keeps what it could
//! not send (no server, a 503) for the next run, in order; one the server calls malformed (400)
//! is dropped and said.

mod common;

use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};

/// A request the server took: its head and its body.
type Taken = Arc<Mutex<Vec<(String, String)>>>;

/// An HTTP server that answers each POST with `status` (shared, changeable) and keeps it.
fn server(status: Arc<Mutex<u16>>) -> (u16, Taken) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let taken: Taken = Arc::default();
    let keep = taken.clone();
    std::thread::spawn(move || {
        for s in l.incoming().flatten() {
            let mut r = BufReader::new(s);
            let (mut head, mut line) = (String::new(), String::new());
            while r.read_line(&mut line).unwrap_or(0) > 2 {
                head.push_str(&line);
                line.clear();
            }
            let len = head
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().to_string())
                })
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            let mut body = vec![0; len];
            let _ = r.read_exact(&mut body);
            let code = *status.lock().unwrap();
            keep.lock().unwrap().push((head, String::from_utf8_lossy(&body).into_owned()));
            let _ =
                write!(r.get_mut(), "HTTP/1.1 {code} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        }
    });
    (port, taken)
}

/// Runs the hook on `event` with the server at `port` (None: a port nothing listens on).
fn hook(dir: &Path, port: u16, event: &Value) -> Output {
    let mut cmd = Command::new(common::repo_root().join("scripts/hooks/vinyl-listenbrainz"));
    cmd.env("VINYL_SCROBBLE_URL", format!("http://127.0.0.1:{port}/1/submit-listens"))
        .env("VINYL_SCROBBLE_TOKEN_FILE", dir.join("token"))
        .env("VINYL_SCROBBLE_STATE", dir.join("state"))
        .stdin(common::stdin_file(dir, format!("{event}\n").as_bytes()));
    let out = common::run(&mut cmd, common::DEADLINE);
    assert!(out.stdout.is_empty(), "a hook's printed line would become the title: {out:?}");
    out
}

fn queued(dir: &Path) -> Vec<Value> {
    let q = std::fs::read_to_string(dir.join("state/queue")).unwrap_or_default();
    q.lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

#[test]
fn recognised_tracks_reach_the_server_with_the_token_and_wait_offline_in_order() {
    if !common::tier(&["jq", "curl"]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("token"), "s3cret-token\n").unwrap();
    let status = Arc::new(Mutex::new(200));
    let (port, taken) = server(status.clone());
    let recognized = json!({"event":"recognized","frame":100,"at":1,"artist":"Björk","album":"Début",
        "side":"A","track":1,"title":"Human Behaviour","confidence":0.9,"speed_ratio":1.0});
    let track = |n: u32, title: &str| json!({"event":"track_start","frame":200,"at":2,"side":1,"track":n,"title":title});

    common::assert_success("hook on recognized", &hook(d, port, &recognized));
    common::assert_success("hook on track 1", &hook(d, port, &track(1, "Human \"Behaviour\"")));
    let got = taken.lock().unwrap().clone();
    assert_eq!(got.len(), 1, "{got:?}");
    let (head, body) = &got[0];
    assert!(head.starts_with("POST /1/submit-listens "), "{head}");
    assert!(head.contains("Authorization: Token s3cret-token\r\n"), "{head}");
    let listen: Value = serde_json::from_str(body).unwrap();
    assert_eq!(listen["listen_type"], "single");
    let meta = &listen["payload"][0]["track_metadata"];
    assert_eq!((meta["artist_name"].as_str(), meta["release_name"].as_str()), (Some("Björk"), Some("Début")));
    assert_eq!(meta["track_name"], "Human \"Behaviour\"");
    assert!(listen["payload"][0]["listened_at"].as_u64().is_some_and(|t| t > 1_700_000_000), "{listen}");
    assert!(queued(d).is_empty());

    // The server fails (503), then is gone: both listens wait, in order, said on stderr.
    *status.lock().unwrap() = 503;
    let out = hook(d, port, &track(2, "Crying"));
    assert!(common::stderr(&out).contains("answered 503"), "{out:?}");
    let gone = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let out = hook(d, gone, &track(3, "Venus as a Boy"));
    assert!(common::stderr(&out).contains("answered 000"), "{out:?}");
    let names: Vec<Value> =
        queued(d).iter().map(|l| l["payload"][0]["track_metadata"]["track_name"].clone()).collect();
    assert_eq!(names, [json!("Crying"), json!("Venus as a Boy")]);

    // Back: the next event (the side's end) sends the queue, oldest first, and forgets the side.
    *status.lock().unwrap() = 200;
    common::assert_success(
        "hook on side_end",
        &hook(d, port, &json!({"event":"side_end","frame":300,"at":3,"side":1})),
    );
    let got = taken.lock().unwrap().clone();
    let sent: Vec<String> = got[got.len() - 2..]
        .iter()
        .map(|(_, b)| {
            serde_json::from_str::<Value>(b).unwrap()["payload"][0]["track_metadata"]["track_name"]
                .to_string()
        })
        .collect();
    assert_eq!(sent, ["\"Crying\"", "\"Venus as a Boy\""], "{got:?}");
    assert!(queued(d).is_empty());
    // After the side: a titled track of an unknown side is not a listen.
    let before = taken.lock().unwrap().len();
    common::assert_success("hook on a track after the side", &hook(d, port, &track(1, "Someone else's")));
    assert_eq!(taken.lock().unwrap().len(), before);
    assert!(queued(d).is_empty());
    // A listen the server calls malformed (400) is dropped and said, not kept to block the queue.
    common::assert_success("hook on recognized again", &hook(d, port, &recognized));
    *status.lock().unwrap() = 400;
    let out = hook(d, port, &track(4, "Big Time Sensuality"));
    assert!(common::stderr(&out).contains("refused a listen (400): dropped"), "{out:?}");
    assert!(queued(d).is_empty(), "{:?}", queued(d));
    // The state folder is the user's alone.
    use std::os::unix::fs::PermissionsExt as _;
    assert_eq!(std::fs::metadata(d.join("state")).unwrap().permissions().mode() & 0o777, 0o700);
}
