//! Dockerfile words: quotes, the escape character and `$VAR` / `${VAR:-default}`
//! substitution, as Docker's shell lexer does them for ADD, COPY, ENV, EXPOSE, FROM,
//! LABEL, STOPSIGNAL, USER, VOLUME and WORKDIR. RUN, CMD and ENTRYPOINT are left to the
//! shell in the container. Pure.

/// Looks a variable up (build args and ENV, ENV winning).
pub type Lookup<'a> = &'a dyn Fn(&str) -> Option<String>;

/// Splits `input` into words (unquoted whitespace separates them; quotes group and are
/// removed; an unquoted expansion is split too, as the shell does).
pub fn split(input: &str, escape: char, env: Lookup) -> Result<Vec<String>, String> {
    Lexer::new(input, escape, env, true).run()
}

/// One word: quotes removed and variables expanded, whitespace kept (WORKDIR, USER…).
pub fn single(input: &str, escape: char, env: Lookup) -> Result<String, String> {
    Ok(Lexer::new(input.trim(), escape, env, false).run()?.concat())
}

struct Lexer<'a> {
    chars: Vec<char>,
    pos: usize,
    escape: char,
    env: Lookup<'a>,
    split_words: bool,
    words: Vec<String>,
    word: String,
    /// A word has begun even if empty (`""` is one empty word).
    started: bool,
}

impl<'a> Lexer<'a> {
    fn new(input: &str, escape: char, env: Lookup<'a>, split_words: bool) -> Self {
        Lexer {
            chars: input.chars().collect(),
            pos: 0,
            escape,
            env,
            split_words,
            words: vec![],
            word: String::new(),
            started: false,
        }
    }

    fn end_word(&mut self) {
        if self.started {
            self.words.push(std::mem::take(&mut self.word));
            self.started = false;
        }
    }

    fn push(&mut self, c: char) {
        self.word.push(c);
        self.started = true;
    }

    fn run(mut self) -> Result<Vec<String>, String> {
        while let Some(&c) = self.chars.get(self.pos) {
            self.pos += 1;
            match c {
                c if c.is_whitespace() && self.split_words => self.end_word(),
                '\'' => {
                    self.started = true;
                    self.single_quoted()?
                }
                '"' => {
                    self.started = true;
                    self.double_quoted()?
                }
                '$' => {
                    let value = self.variable()?;
                    self.push_expansion(&value, false);
                }
                c if c == self.escape => match self.chars.get(self.pos) {
                    Some(&next) => {
                        self.pos += 1;
                        self.push(next);
                    }
                    None => self.push(c),
                },
                c => self.push(c),
            }
        }
        self.end_word();
        Ok(self.words)
    }

    /// An unquoted expansion splits at whitespace; a quoted one stays whole.
    fn push_expansion(&mut self, value: &str, quoted: bool) {
        if quoted || !self.split_words {
            self.word.push_str(value);
            self.started = true;
            return;
        }
        for (i, part) in value.split(char::is_whitespace).enumerate() {
            if i > 0 {
                self.end_word();
            }
            if !part.is_empty() {
                self.word.push_str(part);
                self.started = true;
            }
        }
    }

    fn single_quoted(&mut self) -> Result<(), String> {
        while let Some(&c) = self.chars.get(self.pos) {
            self.pos += 1;
            if c == '\'' {
                return Ok(());
            }
            self.word.push(c);
        }
        Err("unexpected end of statement while looking for matching single-quote".into())
    }

    fn double_quoted(&mut self) -> Result<(), String> {
        while let Some(&c) = self.chars.get(self.pos) {
            self.pos += 1;
            match c {
                '"' => return Ok(()),
                '$' => {
                    let value = self.variable()?;
                    self.push_expansion(&value, true);
                }
                c if c == self.escape => match self.chars.get(self.pos) {
                    Some(&next) if next == '"' || next == '$' || next == self.escape => {
                        self.pos += 1;
                        self.word.push(next);
                    }
                    _ => self.word.push(c),
                },
                c => self.word.push(c),
            }
        }
        Err("unexpected end of statement while looking for matching double-quote".into())
    }

    /// After a `$`: `NAME`, `{NAME}`, `{NAME:-word}`, `{NAME-word}`, `{NAME:+word}`,
    /// `{NAME+word}`, `{NAME:?message}`; a `$` before anything else stays a `$`.
    fn variable(&mut self) -> Result<String, String> {
        match self.chars.get(self.pos) {
            Some('{') => {
                self.pos += 1;
                let name = self.name();
                if name.is_empty() {
                    return Err("bad substitution: ${ without a variable name".into());
                }
                let value = (self.env)(&name);
                let rest = self.braced_rest()?;
                expand_modifier(&name, value, &rest, self.escape, self.env)
            }
            Some(c) if c.is_ascii_alphabetic() || *c == '_' => {
                let name = self.name();
                Ok((self.env)(&name).unwrap_or_default())
            }
            _ => Ok("$".into()),
        }
    }

    fn name(&mut self) -> String {
        let mut name = String::new();
        while let Some(&c) = self.chars.get(self.pos) {
            if c.is_ascii_alphanumeric() || c == '_' {
                name.push(c);
                self.pos += 1;
            } else {
                break;
            }
        }
        name
    }

    /// The text up to the matching `}` (nested braces counted).
    fn braced_rest(&mut self) -> Result<String, String> {
        let mut depth = 0;
        let mut rest = String::new();
        while let Some(&c) = self.chars.get(self.pos) {
            self.pos += 1;
            match c {
                '{' => depth += 1,
                '}' if depth == 0 => return Ok(rest),
                '}' => depth -= 1,
                _ => {}
            }
            rest.push(c);
        }
        Err("missing '}' in a ${…} substitution".into())
    }
}

fn expand_modifier(
    name: &str,
    value: Option<String>,
    rest: &str,
    escape: char,
    env: Lookup,
) -> Result<String, String> {
    use crate::substitute::{apply, SubstError};
    apply(name, value.as_deref(), rest, &|w| single(w, escape, env)).map_err(|e| match e {
        Ok(SubstError::Required { name, message }) if message.is_empty() => {
            format!("{name}: is not allowed to be unset")
        }
        Ok(SubstError::Required { name, message }) => format!("{name}: {message}"),
        Ok(SubstError::BadModifier(r)) => {
            format!("unsupported modifier ({r}) in substitution of {name}")
        }
        Err(e) => e,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(k: &str) -> Option<String> {
        match k {
            "A" => Some("a".into()),
            "SP" => Some("x y".into()),
            "E" => Some(String::new()),
            _ => None,
        }
    }

    fn words(s: &str) -> Vec<String> {
        split(s, '\\', &env).unwrap()
    }

    #[test]
    fn quotes_escapes_and_splitting() {
        assert_eq!(words(r#"a "b c" 'd $A' e\ f"#), ["a", "b c", "d $A", "e f"]);
        assert_eq!(words(r#"K="v 1" L=$A"#), ["K=v 1", "L=a"]);
        assert_eq!(words(r#""""#), [""]);
        assert_eq!(words("$SP z"), ["x", "y", "z"]);
        assert_eq!(words("\"$SP\""), ["x y"]);
        assert_eq!(words(r#""\$A" \$A"#), ["$A", "$A"]);
        assert_eq!(words("cost$ 5"), ["cost$", "5"]);
        assert!(split("'open", '\\', &env).is_err());
        assert_eq!(split("a`$A", '`', &env).unwrap(), ["a$A"]);
    }

    #[test]
    fn substitution_modifiers() {
        let one = |s: &str| single(s, '\\', &env).unwrap();
        assert_eq!(one("${A}b"), "ab");
        assert_eq!(one("${NO:-dflt}"), "dflt");
        assert_eq!(one("${E:-dflt}"), "dflt");
        assert_eq!(one("${E-dflt}"), "");
        assert_eq!(one("${A:+alt}"), "alt");
        assert_eq!(one("${NO:+alt}"), "");
        assert_eq!(one("${NO:-${A}x}"), "ax");
        assert_eq!(one("/my dir"), "/my dir");
        assert!(single("${NO:?must be set}", '\\', &env)
            .unwrap_err()
            .contains("must be set"));
        assert!(single("${A", '\\', &env).is_err());
    }
}
