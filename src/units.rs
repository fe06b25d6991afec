//! Sizes as people write and read them: `256m` in, `1.5MB` out. A leaf: depends on
//! nothing of ours, so the CLI's value parsers and every printer share it.

/// Docker's sizes: 1000-based units, three significant digits.
pub fn human_size(bytes: u64) -> String {
    let units = ["B", "kB", "MB", "GB", "TB"];
    let mut v = bytes as f64;
    let mut i = 0;
    while v >= 1000.0 && i + 1 < units.len() {
        v /= 1000.0;
        i += 1;
    }
    let digits = if v >= 100.0 {
        0
    } else if v >= 10.0 {
        1
    } else {
        2
    };
    format!("{:.*}{}", if i == 0 { 0 } else { digits }, v, units[i])
}

/// `256m`, `1g`, `1024k`, `512` (bytes).
pub fn parse_bytes(s: &str) -> Result<i64, String> {
    let t = s.trim().to_ascii_lowercase();
    let t = t.strip_suffix('b').unwrap_or(&t);
    let (num, mult) = match t.chars().last() {
        Some('k') => (&t[..t.len() - 1], 1i64 << 10),
        Some('m') => (&t[..t.len() - 1], 1 << 20),
        Some('g') => (&t[..t.len() - 1], 1 << 30),
        Some('t') => (&t[..t.len() - 1], 1 << 40),
        _ => (t, 1),
    };
    let n: f64 = num.parse().map_err(|_| {
        format!(
            "invalid size {s:?}: expected a number with an optional unit (b, k, m, g), e.g. 256m"
        )
    })?;
    if n < 0.0 {
        return Err(format!("invalid size {s:?}: must not be negative"));
    }
    let bytes = n * mult as f64;
    // `as` would saturate: a size past i64 must not quietly become "unlimited".
    if !bytes.is_finite() || bytes >= i64::MAX as f64 {
        return Err(format!("invalid size {s:?}: too large (at most 8 EiB)"));
    }
    Ok(bytes as i64)
}

/// A Go-style duration (`30s`, `1m30s`, `500ms`, `1h`), as Docker and Compose write them
/// for healthchecks; a bare number is seconds.
pub fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    let s = s.trim();
    if let Ok(secs) = s.parse::<f64>() {
        return Ok(std::time::Duration::from_secs_f64(secs.max(0.0)));
    }
    let mut total = 0f64;
    let mut rest = s;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(|| format!("{s:?}: a number needs a unit (ns, us, ms, s, m, h)"))?;
        let (num, tail) = rest.split_at(digits);
        let value: f64 = num
            .parse()
            .map_err(|_| format!("{s:?}: not a duration (e.g. 30s, 1m30s, 500ms)"))?;
        let unit_len = tail
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(tail.len());
        let (unit, next) = tail.split_at(unit_len);
        let scale = match unit {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            other => {
                return Err(format!(
                    "{s:?}: unknown unit {other:?} (ns, us, ms, s, m, h)"
                ))
            }
        };
        total += value * scale;
        rest = next;
    }
    Ok(std::time::Duration::from_secs_f64(total))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_bytes("256m").unwrap(), 256 << 20);
        assert_eq!(parse_bytes("1g").unwrap(), 1 << 30);
        assert_eq!(parse_bytes("1.5k").unwrap(), 1536);
        assert!(parse_bytes("lots").is_err());
        assert_eq!(human_size(1_500_000), "1.50MB");
    }
}
