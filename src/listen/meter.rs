//! `--meter`: a level meter with peak hold on the terminal, and gain advice at each side's end.
//!
//! Owns the drawing (two lines redrawn in place on stderr, −60..0 dBFS) and the advice's wording.
//! It reads only the numbers the level events carry, so what it shows is what the events say.
//! A terminal that cannot be written is ignored: the meter is never worth stopping the listener.

use std::io::Write as _;
use std::time::{Duration, Instant};

/// Columns of a bar, for −60..0 dBFS.
const WIDTH: usize = 48;
/// How long a peak is held.
const HOLD: Duration = Duration::from_secs(2);

/// Peak hold per channel, and whether lines are already drawn.
#[derive(Default)]
pub struct Meter {
    hold: Vec<(f64, Instant)>,
    drawn: usize,
    clipped: Vec<bool>,
}

impl Meter {
    /// Redraws the bars for one level window.
    pub fn draw(&mut self, rms: &[Option<f64>], peak: &[Option<f64>], clipped: u64) {
        let now = Instant::now();
        self.hold.resize(rms.len(), (f64::MIN, now));
        self.clipped.resize(rms.len(), false);
        let mut text = String::new();
        if self.drawn > 0 {
            text += &format!("\x1b[{}A", self.drawn);
        }
        for (c, (&r, &p)) in rms.iter().zip(peak).enumerate() {
            let p = p.unwrap_or(f64::MIN);
            if p >= self.hold[c].0 || now.duration_since(self.hold[c].1) > HOLD {
                self.hold[c] = (p, now);
            }
            self.clipped[c] |= clipped > 0 && p > -0.01;
            text += &line(c, r, self.hold[c].0, self.clipped[c]);
        }
        self.drawn = rms.len();
        let _ = std::io::stderr().lock().write_all(text.as_bytes());
    }

    /// Says the advice below the meter and starts the meter afresh under it.
    pub fn say(&mut self, advice: &str) {
        let _ = writeln!(std::io::stderr().lock(), "{advice}");
        self.drawn = 0;
        self.clipped.iter_mut().for_each(|c| *c = false);
    }
}

fn line(channel: usize, rms: Option<f64>, hold: f64, clip: bool) -> String {
    let col = |db: f64| (((db + 60.0) / 60.0 * WIDTH as f64).round().clamp(0.0, WIDTH as f64)) as usize;
    let fill = rms.map_or(0, col);
    let mut bar: Vec<char> = (0..WIDTH).map(|i| if i < fill { '#' } else { '-' }).collect();
    if hold > -60.0 {
        bar[col(hold).min(WIDTH - 1)] = '|';
    }
    let name = match channel {
        0 => "L".to_string(),
        1 => "R".to_string(),
        c => (c + 1).to_string(),
    };
    let shown = |v: Option<f64>| v.map_or("  -inf".to_string(), |x| format!("{x:6.1}"));
    let hold = (hold > -200.0).then_some(hold);
    format!(
        "\x1b[2K{name} [{}] rms {} peak {} dBFS{}\n",
        bar.into_iter().collect::<String>(),
        shown(rms),
        shown(hold),
        if clip { "  CLIP" } else { "" }
    )
}

/// Advice on the preamp's gain from a side's sample peak and clipped samples: peaks should
/// reach about −6 dBFS, leaving room for a louder record without clipping.
pub fn advice(peak_dbfs: Option<f64>, clipped: u64) -> String {
    match peak_dbfs {
        _ if clipped > 0 => format!("{clipped} samples clipped: lower the gain by about 6 dB"),
        None => "the side was digital silence: is the turntable connected?".to_string(),
        Some(p) if p > -3.0 => {
            format!("peaks reached {p:.1} dBFS, close to clipping: lower the gain by about {:.0} dB", p + 6.0)
        }
        Some(p) if p < -9.0 => {
            format!("peaks reached {p:.1} dBFS: about {:.0} dB of headroom unused", -6.0 - p)
        }
        Some(p) => format!("peaks reached {p:.1} dBFS: the gain is right"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advice_names_the_peak_and_the_headroom() {
        assert_eq!(advice(Some(-19.0), 0), "peaks reached -19.0 dBFS: about 13 dB of headroom unused");
        assert!(advice(Some(-1.0), 0).contains("lower the gain by about 5 dB"));
        assert!(advice(Some(-0.0), 12).starts_with("12 samples clipped"));
        assert!(advice(Some(-7.0), 0).ends_with("the gain is right"));
    }

    #[test]
    fn a_bar_shows_level_and_held_peak() {
        let l = line(0, Some(-30.0), -12.0, false);
        assert!(l.contains("L [########################"), "{l}");
        assert!(l.contains('|') && l.contains("rms  -30.0 peak  -12.0"), "{l}");
    }
}
