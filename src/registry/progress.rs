//! Progress of pulls and pushes, as Docker shows it: one live bar per layer on a terminal,
//! one line per finished layer in a pipe, nothing with `-q`.

use crate::units::human_size;
use std::io::{IsTerminal, Write};
use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Terminal,
    Lines,
    Quiet,
}

struct Line {
    id: String,
    status: String,
    current: u64,
    total: u64,
    started: Instant,
}

struct State {
    lines: Vec<Line>,
    drawn: usize,
    last_draw: Instant,
}

pub struct Progress {
    mode: Mode,
    state: Mutex<State>,
}

const REDRAW: Duration = Duration::from_millis(100);

impl Progress {
    pub fn new(quiet: bool) -> Progress {
        let mode = if quiet {
            Mode::Quiet
        } else if std::io::stdout().is_terminal() {
            Mode::Terminal
        } else {
            Mode::Lines
        };
        Progress {
            mode,
            state: Mutex::new(State {
                lines: vec![],
                drawn: 0,
                last_draw: Instant::now() - REDRAW,
            }),
        }
    }

    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// A plain line of output (not shown with `-q`).
    pub fn message(&self, text: &str) {
        if self.mode != Mode::Quiet {
            let _ = writeln!(std::io::stdout().lock(), "{text}");
        }
    }

    /// Starts a line for a layer; returns its handle.
    pub fn add(&self, id: &str, status: &str, total: u64) -> usize {
        let mut st = self.state.lock().unwrap();
        st.lines.push(Line {
            id: id.to_string(),
            status: status.to_string(),
            current: 0,
            total,
            started: Instant::now(),
        });
        let idx = st.lines.len() - 1;
        self.redraw(&mut st, true);
        idx
    }

    pub fn advance(&self, idx: usize, bytes: u64) {
        let mut st = self.state.lock().unwrap();
        st.lines[idx].current += bytes;
        self.redraw(&mut st, false);
    }

    /// Sets a layer's status; a final one (`done`) is printed as a line in pipe mode.
    pub fn status(&self, idx: usize, status: &str, done: bool) {
        let mut st = self.state.lock().unwrap();
        st.lines[idx].status = status.to_string();
        if done && self.mode == Mode::Lines {
            let _ = writeln!(std::io::stdout().lock(), "{}: {status}", st.lines[idx].id);
        }
        self.redraw(&mut st, true);
    }

    fn redraw(&self, st: &mut State, force: bool) {
        if self.mode != Mode::Terminal || (!force && st.last_draw.elapsed() < REDRAW) {
            return;
        }
        let mut out = String::new();
        if st.drawn > 0 {
            out.push_str(&format!("\x1b[{}A", st.drawn));
        }
        for l in &st.lines {
            out.push_str("\x1b[2K");
            out.push_str(&format!("{}: {}", l.id, l.status));
            if l.total > 0 && l.current > 0 && l.current < l.total {
                let width = 40;
                let filled = (l.current * width / l.total.max(1)) as usize;
                let rate = l.current as f64 / l.started.elapsed().as_secs_f64().max(0.001);
                out.push_str(&format!(
                    " [{}>{}] {}/{} {}/s",
                    "=".repeat(filled),
                    " ".repeat(width as usize - filled.min(width as usize)),
                    human_size(l.current),
                    human_size(l.total),
                    human_size(rate as u64)
                ));
            }
            out.push('\n');
        }
        st.drawn = st.lines.len();
        st.last_draw = Instant::now();
        let mut stdout = std::io::stdout().lock();
        let _ = stdout.write_all(out.as_bytes());
        let _ = stdout.flush();
    }
}
