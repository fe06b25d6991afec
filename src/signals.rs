//! Signal names as users write them (`TERM`, `SIGTERM`, `15`), for `kill -s`, `stop` and
//! `--stop-signal`. A leaf.

use nix::sys::signal::Signal;

#[derive(Debug, thiserror::Error)]
#[error(
    "invalid signal {0:?}: use a name (TERM, SIGKILL, HUP, …) or a number (kill -l lists them)"
)]
pub struct BadSignal(pub String);

pub fn parse(s: &str) -> Result<Signal, BadSignal> {
    let bad = || BadSignal(s.to_string());
    if let Ok(n) = s.parse::<i32>() {
        return Signal::try_from(n).map_err(|_| bad());
    }
    let upper = s.to_ascii_uppercase();
    let name = if upper.starts_with("SIG") {
        upper
    } else {
        format!("SIG{upper}")
    };
    name.parse::<Signal>().map_err(|_| bad())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_numbers() {
        assert_eq!(parse("TERM").unwrap(), Signal::SIGTERM);
        assert_eq!(parse("sigkill").unwrap(), Signal::SIGKILL);
        assert_eq!(parse("1").unwrap(), Signal::SIGHUP);
        assert!(parse("NOPE").is_err());
        assert!(parse("99").is_err());
    }
}
