//! The EBU loudness test cases through vinyl-listen's loudness measurement
//! (`vinyl::listen::loudness`, the code behind `side_report`): EBU Tech 3341 cases 1–5
//! (integrated loudness, ±0.1 LU) and Tech 3342 cases 1–4 (loudness range, ±1 LU), generated
//! as their documents define them (stereo 1 kHz sines at the given levels, 24-bit, 48 kHz), printed
//! as rows of the bench's table. Exit 1 when a case is outside its tolerance. Used by
//! scripts/bench.d/85-listen.

use vinyl::listen::loudness::{Loudness, Report};

/// A test signal: (dBFS, seconds) of a 1 kHz sine, one after another.
type Signal = &'static [(f64, f64)];

fn measure(parts: &[(f64, f64)]) -> Report {
    let (rate, fs) = (48_000u32, 1i32 << 23);
    let mut l = Loudness::new(2, rate, fs);
    l.start(0).expect("a stereo meter");
    let mut n = 0u64;
    for &(dbfs, secs) in parts {
        let amp = 10f64.powf(dbfs / 20.0) * fs as f64;
        for _ in 0..(secs * rate as f64) as u64 {
            let v = (amp * (std::f64::consts::TAU * 1000.0 * n as f64 / rate as f64).sin()).round();
            let x = (v / fs as f64) as f32;
            l.push(&[x, x]);
            n += 1;
        }
    }
    l.finish(n).expect("a report")
}

fn main() -> std::process::ExitCode {
    let i_cases: [(&str, Signal); 5] = [
        ("3341 case 1: −23 dBFS, 20 s", &[(-23.0, 20.0)]),
        ("3341 case 2: −33 dBFS, 20 s", &[(-33.0, 20.0)]),
        ("3341 case 3: −36/−23/−36 dBFS, 10/60/10 s", &[(-36.0, 10.0), (-23.0, 60.0), (-36.0, 10.0)]),
        (
            "3341 case 4: −72/−36/−23/−36/−72 dBFS, 10/10/60/10/10 s",
            &[(-72.0, 10.0), (-36.0, 10.0), (-23.0, 60.0), (-36.0, 10.0), (-72.0, 10.0)],
        ),
        ("3341 case 5: −26/−20/−26 dBFS, 20/20.1/20 s", &[(-26.0, 20.0), (-20.0, 20.1), (-26.0, 20.0)]),
    ];
    let wants = [-23.0, -33.0, -23.0, -23.0, -23.0];
    let lra_cases: [(&str, Signal, f64); 4] = [
        ("3342 case 1: −20/−30 dBFS, 20 s each", &[(-20.0, 20.0), (-30.0, 20.0)], 10.0),
        ("3342 case 2: −20/−15 dBFS, 20 s each", &[(-20.0, 20.0), (-15.0, 20.0)], 5.0),
        ("3342 case 3: −40/−20 dBFS, 20 s each", &[(-40.0, 20.0), (-20.0, 20.0)], 20.0),
        (
            "3342 case 4: −50/−35/−20/−35/−50 dBFS, 20 s each",
            &[(-50.0, 20.0), (-35.0, 20.0), (-20.0, 20.0), (-35.0, 20.0), (-50.0, 20.0)],
            15.0,
        ),
    ];
    let mut ok = true;
    for ((name, parts), want) in i_cases.iter().zip(wants) {
        let got = measure(parts).integrated_lufs.unwrap_or(f64::NAN);
        ok &= (got - want).abs() <= 0.1;
        println!(
            "| vinyl-listen loudness | EBU Tech {name}: integrated | {got:.2} LUFS | {want:.1} LUFS | ±0.1 LU |"
        );
    }
    for (name, parts, want) in lra_cases {
        let got = measure(parts).loudness_range_lu.unwrap_or(f64::NAN);
        ok &= (got - want).abs() <= 1.0;
        println!(
            "| vinyl-listen loudness | EBU Tech {name}: loudness range | {got:.2} LU | {want:.0} LU | ±1 LU |"
        );
    }
    std::process::ExitCode::from(if ok { 0 } else { 1 })
}
