//! The Dockerfile's structure: parser directives (`# escape=`, `# syntax=`), comments,
//! line continuations, then one `Instruction` per logical line with the line it starts on.
//! Arguments stay text here: substitution needs the build's variables at that step, which
//! only the executor knows. Pure.

use std::fmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Keyword {
    From,
    Run,
    Cmd,
    Entrypoint,
    Shell,
    Copy,
    Add,
    Env,
    Arg,
    Label,
    Expose,
    Volume,
    Workdir,
    User,
    Stopsignal,
    Healthcheck,
    Onbuild,
    Maintainer,
}

const KEYWORDS: &[(&str, Keyword)] = &[
    ("FROM", Keyword::From),
    ("RUN", Keyword::Run),
    ("CMD", Keyword::Cmd),
    ("ENTRYPOINT", Keyword::Entrypoint),
    ("SHELL", Keyword::Shell),
    ("COPY", Keyword::Copy),
    ("ADD", Keyword::Add),
    ("ENV", Keyword::Env),
    ("ARG", Keyword::Arg),
    ("LABEL", Keyword::Label),
    ("EXPOSE", Keyword::Expose),
    ("VOLUME", Keyword::Volume),
    ("WORKDIR", Keyword::Workdir),
    ("USER", Keyword::User),
    ("STOPSIGNAL", Keyword::Stopsignal),
    ("HEALTHCHECK", Keyword::Healthcheck),
    ("ONBUILD", Keyword::Onbuild),
    ("MAINTAINER", Keyword::Maintainer),
];

impl Keyword {
    pub fn name(self) -> &'static str {
        KEYWORDS
            .iter()
            .find(|(_, k)| *k == self)
            .map(|(n, _)| *n)
            .expect("every keyword is in the table")
    }
}

/// `["a", "b"]` (exec form) or plain text (shell form).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Args {
    Json(Vec<String>),
    Text(String),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Instruction {
    /// 1-based line the instruction starts on.
    pub line: usize,
    pub keyword: Keyword,
    /// Leading `--name=value` flags (COPY --from, FROM --platform, HEALTHCHECK --interval…).
    pub flags: Vec<(String, String)>,
    pub args: Args,
    /// The instruction as written (continuations joined), for messages and history.
    pub original: String,
}

impl fmt::Display for Instruction {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(&self.original)
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dockerfile {
    pub escape: char,
    pub instructions: Vec<Instruction>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("Dockerfile line {line}: {message}")]
pub struct ParseError {
    pub line: usize,
    pub message: String,
}

fn err(line: usize, message: impl Into<String>) -> ParseError {
    ParseError {
        line,
        message: message.into(),
    }
}

pub fn parse(text: &str) -> Result<Dockerfile, ParseError> {
    let lines: Vec<&str> = text.lines().collect();
    let (escape, first) = directives(&lines)?;
    let mut instructions = vec![];
    let mut i = first;
    while i < lines.len() {
        let start = i;
        let trimmed = lines[i].trim();
        i += 1;
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        // A line ending in the escape character continues on the next; comment lines and
        // empty lines inside a continuation are skipped, as Docker does.
        let mut logical = String::new();
        let mut current = lines[start].trim_start().to_string();
        loop {
            let t = current.trim_end();
            match t.strip_suffix(escape) {
                Some(body) if !body.ends_with(escape) || escape == '`' => {
                    logical.push_str(body);
                    loop {
                        if i >= lines.len() {
                            current = String::new();
                            break;
                        }
                        let next = lines[i];
                        i += 1;
                        let nt = next.trim();
                        if nt.starts_with('#') || nt.is_empty() {
                            continue;
                        }
                        current = next.to_string();
                        break;
                    }
                    if current.is_empty() {
                        break;
                    }
                }
                _ => {
                    logical.push_str(t);
                    break;
                }
            }
        }
        instructions.push(instruction(start + 1, logical.trim())?);
    }
    if instructions.is_empty() {
        return Err(err(1, "the Dockerfile has no instructions"));
    }
    if instructions[0].keyword != Keyword::From
        && !instructions
            .iter()
            .take_while(|i| i.keyword != Keyword::From)
            .all(|i| i.keyword == Keyword::Arg)
    {
        let bad = instructions
            .iter()
            .find(|i| i.keyword != Keyword::Arg)
            .expect("non-empty");
        return Err(err(
            bad.line,
            format!(
                "{} before the first FROM: only ARG may come before FROM",
                bad.keyword.name()
            ),
        ));
    }
    if !instructions.iter().any(|i| i.keyword == Keyword::From) {
        return Err(err(
            1,
            "no FROM instruction: every build stage starts with FROM IMAGE (or FROM scratch)",
        ));
    }
    Ok(Dockerfile {
        escape,
        instructions,
    })
}

/// Parser directives: `# key=value` lines at the very top, before any other line.
fn directives(lines: &[&str]) -> Result<(char, usize), ParseError> {
    let mut escape = '\\';
    for (n, line) in lines.iter().enumerate() {
        let Some(body) = line.trim().strip_prefix('#') else {
            return Ok((escape, n));
        };
        let Some((key, value)) = body.split_once('=') else {
            return Ok((escape, n));
        };
        match key.trim().to_ascii_lowercase().as_str() {
            "escape" => {
                escape = match value.trim() {
                    "\\" => '\\',
                    "`" => '`',
                    other => {
                        return Err(err(
                            n + 1,
                            format!("invalid escape {other:?}: must be ` or \\"),
                        ))
                    }
                }
            }
            "syntax" | "check" => {}
            _ => return Ok((escape, n)),
        }
    }
    Ok((escape, lines.len()))
}

fn instruction(line: usize, text: &str) -> Result<Instruction, ParseError> {
    let (word, rest) = text.split_once(char::is_whitespace).unwrap_or((text, ""));
    let upper = word.to_ascii_uppercase();
    let keyword = KEYWORDS
        .iter()
        .find(|(n, _)| *n == upper)
        .map(|(_, k)| *k)
        .ok_or_else(|| err(line, format!("unknown instruction: {word}")))?;
    let mut rest = rest.trim_start();
    let mut flags = vec![];
    // Flags only where Docker has them; `RUN --x` would otherwise swallow the command.
    if matches!(
        keyword,
        Keyword::From | Keyword::Copy | Keyword::Add | Keyword::Healthcheck | Keyword::Run
    ) {
        while let Some(after) = rest.strip_prefix("--") {
            let (flag, tail) = after.split_once(char::is_whitespace).unwrap_or((after, ""));
            let (name, value) = flag.split_once('=').unwrap_or((flag, ""));
            flags.push((name.to_string(), value.to_string()));
            rest = tail.trim_start();
        }
    }
    if rest.is_empty() && !matches!(keyword, Keyword::Healthcheck) {
        return Err(err(
            line,
            format!("{} requires at least one argument", keyword.name()),
        ));
    }
    let args = match json_array(rest) {
        Some(items)
            if matches!(
                keyword,
                Keyword::Run
                    | Keyword::Cmd
                    | Keyword::Entrypoint
                    | Keyword::Shell
                    | Keyword::Copy
                    | Keyword::Add
                    | Keyword::Volume
            ) =>
        {
            Args::Json(items)
        }
        _ => Args::Text(rest.to_string()),
    };
    if keyword == Keyword::Shell && !matches!(args, Args::Json(_)) {
        return Err(err(
            line,
            "SHELL requires the arguments to be in JSON form, e.g. SHELL [\"/bin/bash\", \"-c\"]",
        ));
    }
    Ok(Instruction {
        line,
        keyword,
        flags,
        args,
        original: text.to_string(),
    })
}

/// `["a", "b"]` as strings; anything else (including `[` that is not a JSON string array,
/// like `RUN [ -f x ]`) is shell form.
fn json_array(text: &str) -> Option<Vec<String>> {
    if !text.starts_with('[') {
        return None;
    }
    serde_json::from_str::<Vec<String>>(text).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn continuations_comments_and_forms() {
        let df = parse(
            "# syntax=docker/dockerfile:1\n\
             FROM busybox AS base\n\
             # a comment\n\
             RUN echo a \\\n\
             # inside\n\
               && echo b\n\
             CMD [\"sh\", \"-c\", \"x\"]\n\
             RUN [ -f /x ] || true\n\
             COPY --from=base --chown=1:1 a b /dst/\n",
        )
        .unwrap();
        let i = &df.instructions;
        assert_eq!(i.len(), 5);
        assert_eq!(i[1].line, 4);
        assert_eq!(i[1].args, Args::Text("echo a && echo b".into()));
        assert_eq!(
            i[2].args,
            Args::Json(vec!["sh".into(), "-c".into(), "x".into()])
        );
        assert_eq!(i[3].args, Args::Text("[ -f /x ] || true".into()));
        assert_eq!(
            i[4].flags,
            [
                ("from".to_string(), "base".to_string()),
                ("chown".into(), "1:1".into())
            ]
        );
    }

    #[test]
    fn escape_directive() {
        let df = parse("# escape=`\nFROM x\nRUN dir c:\\ `\n  /s\n").unwrap();
        assert_eq!(df.escape, '`');
        assert_eq!(df.instructions[1].args, Args::Text("dir c:\\   /s".into()));
    }

    #[test]
    fn errors_name_the_line() {
        assert_eq!(parse("FROM x\nFROBNICATE y\n").unwrap_err().line, 2);
        assert_eq!(parse("FROM x\n\nRUN\n").unwrap_err().line, 3);
        assert!(parse("RUN x\n")
            .unwrap_err()
            .message
            .contains("before the first FROM"));
        assert!(parse("ARG V=1\nFROM x:$V\n").is_ok());
        assert!(parse("FROM x\nSHELL sh -c\n").is_err());
        assert!(parse("# just a comment\n").is_err());
    }
}
