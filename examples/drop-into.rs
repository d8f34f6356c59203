//! A synthetic side (examples/synth-side's raw s16le 48 kHz stereo and its truth) with the needle
//! dropped into its music instead of onto the lead-in groove, as a listener starting a side at
//! its second song does: the idle before the drop, then the side from SECONDS into its music on,
//! and the truth moved to match (track 1 begins at the drop; the tracks, gaps and quiet passages
//! before the landing are gone).
//!
//!   drop-into SIDE.raw SIDE.json SECONDS OUT.raw OUT.json
//!
//! Used by tests/listen.rs and scripts/bench.d/85-listen. Fails (exit 1, one line) on a file it
//! cannot read or write, or a truth without the fields synth-side writes.

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [raw, truth, secs, out_raw, out_truth] = &args[..] else {
        eprintln!("drop-into: give SIDE.raw SIDE.json SECONDS OUT.raw OUT.json");
        return ExitCode::from(2);
    };
    match run(raw, truth, secs, out_raw, out_truth) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("drop-into: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(raw: &str, truth: &str, secs: &str, out_raw: &str, out_truth: &str) -> Result<()> {
    let pcm = std::fs::read(raw).with_context(|| format!("{raw}: read"))?;
    let text = std::fs::read(truth).with_context(|| format!("{truth}: read"))?;
    let truth: Value = serde_json::from_slice(&text).with_context(|| format!("{truth}: parse"))?;
    let secs: f64 = secs.parse().with_context(|| format!("{secs:?}: not a number of seconds"))?;
    let (pcm, moved) = drop_into(&pcm, &truth, secs)?;
    std::fs::write(out_raw, pcm).with_context(|| format!("{out_raw}: write"))?;
    std::fs::write(out_truth, moved.to_string()).with_context(|| format!("{out_truth}: write"))?;
    Ok(())
}

/// The side with the needle landing `secs` into its music, and its truth moved.
fn drop_into(pcm: &[u8], truth: &Value, secs: f64) -> Result<(Vec<u8>, Value)> {
    let frame = |k: &str| truth[k].as_u64().with_context(|| format!("the truth has no frame {k:?}"));
    let (drop, rate) = (frame("needle_drop")?, frame("rate")? as f64);
    let cut = frame("music_start")? + (secs * rate) as u64;
    if cut >= frame("music_end")? || (cut as usize) * 4 > pcm.len() {
        bail!("{secs} s into the music is past its end");
    }
    let mut out = pcm[..drop as usize * 4].to_vec();
    out.extend_from_slice(&pcm[cut as usize * 4..]);
    let moved = |f: u64| f.max(cut) - cut + drop;
    let mut t = truth.clone();
    for k in ["music_end", "lock", "lock_click", "lift"] {
        if let Some(f) = truth[k].as_u64() {
            t[k] = moved(f).into();
        }
    }
    t["music_start"] = drop.into();
    t["frames"] = ((out.len() / 4) as u64).into();
    let spans = |k: &str| -> Vec<(u64, u64)> {
        let list = truth[k].as_array().map(Vec::as_slice).unwrap_or_default();
        let pair = |v: &Value| match v {
            Value::Array(p) => Some((p.first()?.as_u64()?, p.get(1)?.as_u64()?)),
            _ => Some((v["start"].as_u64()?, v["end"].as_u64()?)),
        };
        list.iter().filter_map(pair).filter(|&(_, e)| e > cut).map(|(a, e)| (moved(a), moved(e))).collect()
    };
    t["tracks"] = spans("tracks").into_iter().map(|(a, e)| json!({"start": a, "end": e})).collect();
    // A gap the needle landed in is no gap between tracks any more.
    t["gaps"] = spans("gaps").into_iter().filter(|&(a, _)| a > drop).map(|(a, e)| json!([a, e])).collect();
    t["quiet"] = spans("quiet").into_iter().map(|(a, e)| json!([a, e])).collect();
    t["dropped_into_s"] = secs.into();
    Ok((out, t))
}
