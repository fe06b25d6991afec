//! Compose's variable interpolation in every string value of the file: `$VAR`, `${VAR}`,
//! `${VAR:-default}`, `${VAR-default}`, `${VAR:?error}`, `${VAR?error}`, `${VAR:+alt}`,
//! `${VAR+alt}`, and `$$` for a literal `$`. Values come from the environment, then `.env`.
//! Pure.

use std::collections::BTreeMap;

pub type Env = BTreeMap<String, String>;

pub fn interpolate(s: &str, env: &Env) -> Result<String, String> {
    let mut out = String::new();
    let chars: Vec<char> = s.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        if chars[i] != '$' {
            out.push(chars[i]);
            i += 1;
            continue;
        }
        match chars.get(i + 1) {
            Some('$') => {
                out.push('$');
                i += 2;
            }
            Some('{') => {
                let mut depth = 0;
                let mut j = i + 2;
                while j < chars.len() {
                    match chars[j] {
                        '{' => depth += 1,
                        '}' if depth == 0 => break,
                        '}' => depth -= 1,
                        _ => {}
                    }
                    j += 1;
                }
                if j >= chars.len() {
                    return Err(format!("{s:?}: missing '}}' in a ${{…}} substitution"));
                }
                let body: String = chars[i + 2..j].iter().collect();
                out.push_str(&braced(&body, env)?);
                i = j + 1;
            }
            Some(c) if c.is_ascii_alphabetic() || *c == '_' => {
                let mut j = i + 1;
                while j < chars.len() && (chars[j].is_ascii_alphanumeric() || chars[j] == '_') {
                    j += 1;
                }
                let name: String = chars[i + 1..j].iter().collect();
                out.push_str(env.get(&name).map_or("", String::as_str));
                i = j;
            }
            _ => {
                out.push('$');
                i += 1;
            }
        }
    }
    Ok(out)
}

fn braced(body: &str, env: &Env) -> Result<String, String> {
    let end = body
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(body.len());
    let (name, rest) = body.split_at(end);
    if name.is_empty() {
        return Err(format!("invalid interpolation format for ${{{body}}}"));
    }
    use crate::substitute::{apply, SubstError};
    apply(name, env.get(name).map(String::as_str), rest, &|w| {
        interpolate(w, env)
    })
    .map_err(|e| match e {
        Ok(SubstError::Required { name, message }) => {
            format!("required variable {name} is missing a value: {message}")
        }
        Ok(SubstError::BadModifier(r)) => {
            format!("invalid interpolation format for ${{{name}{r}}}")
        }
        Err(e) => e,
    })
}

/// A `.env` / `env_file` file: `KEY=VALUE` lines, `#` comments, optional `export `, and
/// values in single or double quotes.
pub fn parse_env_file(text: &str) -> Result<Vec<(String, String)>, String> {
    let mut out = vec![];
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").unwrap_or(line);
        let (k, v) = line.split_once('=').unwrap_or((line, ""));
        let k = k.trim();
        if k.is_empty() || k.contains(char::is_whitespace) {
            return Err(format!("line {}: {line:?} is not KEY=VALUE", n + 1));
        }
        let v = v.trim();
        let v = if v.len() >= 2
            && ((v.starts_with('"') && v.ends_with('"'))
                || (v.starts_with('\'') && v.ends_with('\'')))
        {
            v[1..v.len() - 1].to_string()
        } else {
            // An unquoted value ends at an inline comment.
            v.split(" #").next().unwrap_or("").trim_end().to_string()
        };
        out.push((k.to_string(), v));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compose_interpolation() {
        let env: Env = [
            ("A".to_string(), "a".to_string()),
            ("E".into(), String::new()),
        ]
        .into_iter()
        .collect();
        let i = |s: &str| interpolate(s, &env).unwrap();
        assert_eq!(i("$A-${A}"), "a-a");
        assert_eq!(i("${NO:-8080}:80"), "8080:80");
        assert_eq!(i("${E:-d}|${E-d}|${NO-d}"), "d||d");
        assert_eq!(i("${A:+x}${NO:+y}"), "x");
        assert_eq!(i("$$A cost $5"), "$A cost $5");
        assert_eq!(i("${NO:-${A}}"), "a");
        assert!(interpolate("${NO:?set it}", &env)
            .unwrap_err()
            .contains("set it"));
        assert!(interpolate("${A", &env).is_err());
    }

    #[test]
    fn env_files() {
        let kv =
            parse_env_file("# c\nA=1\nexport B=\"two words\"\nC='x'\nD=v # note\nE=\n").unwrap();
        assert_eq!(
            kv,
            [
                ("A", "1"),
                ("B", "two words"),
                ("C", "x"),
                ("D", "v"),
                ("E", "")
            ]
            .map(|(k, v)| (k.to_string(), v.to_string()))
        );
        assert!(parse_env_file("bad key=1").is_err());
    }
}
