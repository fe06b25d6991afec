//! The `${NAME<modifier>WORD}` rules Dockerfiles and compose files share (POSIX shell's):
//! `:-` default when unset or empty, `-` when unset, `:+`/`+` alternative when set (and
//! not empty), `:?`/`?` an error when unset (or empty). A leaf: the callers expand WORD.

pub enum SubstError {
    /// `${NAME:?message}` with NAME unset (or empty).
    Required { name: String, message: String },
    /// A modifier that is none of the above.
    BadModifier(String),
}

/// `value` after the modifier in `rest` (what follows the name inside `${…}`); `word`
/// expands the modifier's word, only when it is used.
pub fn apply(
    name: &str,
    value: Option<&str>,
    rest: &str,
    word: &dyn Fn(&str) -> Result<String, String>,
) -> Result<String, Result<SubstError, String>> {
    let (colon, op) = match rest.strip_prefix(':') {
        Some(r) => (true, r),
        None => (false, rest),
    };
    let present = if colon {
        value.is_some_and(|v| !v.is_empty())
    } else {
        value.is_some()
    };
    let v = value.unwrap_or_default().to_string();
    let expand = |w: &str| word(w).map_err(Err);
    match op.chars().next() {
        None if !colon => Ok(v),
        Some('-') if present => Ok(v),
        Some('-') => expand(&op[1..]),
        Some('+') if present => expand(&op[1..]),
        Some('+') => Ok(String::new()),
        Some('?') if present => Ok(v),
        Some('?') => Err(Ok(SubstError::Required {
            name: name.to_string(),
            message: expand(&op[1..])?,
        })),
        _ => Err(Ok(SubstError::BadModifier(rest.to_string()))),
    }
}
