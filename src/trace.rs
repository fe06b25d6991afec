//! `--trace`: one line per kernel-level step, emitted by the code that makes the call.
//!
//! Off by default and then costs one relaxed atomic load per step. The clock starts when
//! the process starts tracing; cloned children inherit it, so parent and container lines
//! share one timeline on stderr.

use std::io::Write;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::OnceLock;
use std::time::Instant;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Off = 0,
    Text = 1,
    Json = 2,
}

static MODE: AtomicU8 = AtomicU8::new(0);
static START: OnceLock<Instant> = OnceLock::new();

pub fn enable(mode: Mode) {
    START.get_or_init(Instant::now);
    MODE.store(mode as u8, Ordering::Relaxed);
}

fn mode() -> Mode {
    match MODE.load(Ordering::Relaxed) {
        1 => Mode::Text,
        2 => Mode::Json,
        _ => Mode::Off,
    }
}

#[inline]
pub fn enabled() -> bool {
    MODE.load(Ordering::Relaxed) != 0
}

/// Runs `f` and, when tracing, reports `call(args)` in `phase` with its duration and result.
/// `args` is only evaluated when tracing is on.
#[inline]
pub fn step<T, E: std::fmt::Display>(
    phase: &str,
    call: &str,
    args: impl FnOnce() -> String,
    f: impl FnOnce() -> Result<T, E>,
) -> Result<T, E> {
    if !enabled() {
        return f();
    }
    let began = Instant::now();
    let result = f();
    let outcome = match &result {
        Ok(_) => "ok".to_string(),
        Err(e) => format!("error: {e}"),
    };
    emit(
        phase,
        call,
        &args(),
        began.elapsed().as_secs_f64() * 1000.0,
        &outcome,
    );
    result
}

/// Reports a fact that is not a call (for example the capability sets after dropping).
pub fn note(phase: &str, what: &str, detail: impl FnOnce() -> String) {
    if enabled() {
        emit(phase, what, &detail(), 0.0, "ok");
    }
}

fn emit(phase: &str, call: &str, args: &str, took_ms: f64, outcome: &str) {
    let at_ms = START
        .get()
        .map_or(0.0, |s| s.elapsed().as_secs_f64() * 1000.0);
    let pid = std::process::id();
    let line = match mode() {
        Mode::Json => serde_json::json!({
            "at_ms": (at_ms * 1000.0).round() / 1000.0,
            "pid": pid,
            "phase": phase,
            "call": call,
            "args": args,
            "took_ms": (took_ms * 1000.0).round() / 1000.0,
            "result": outcome,
        })
        .to_string(),
        _ => {
            let mark = if outcome == "ok" {
                String::new()
            } else {
                format!("  -> {outcome}")
            };
            format!("[{at_ms:9.3} ms] {phase:<9} {call}({args}) {took_ms:.3} ms{mark}")
        }
    };
    // One write per line so lines from the parent and the container never interleave.
    let _ = std::io::stderr()
        .lock()
        .write_all(format!("{line}\n").as_bytes());
}
