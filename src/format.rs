//! Docker's `--format`: Go templates (through the `gtmpl` crate) over the same JSON that
//! `inspect` prints, with Docker's helper functions (`json`, `upper`, `lower`, `join`,
//! `title`, `split`, `truncate`, `pad`) and its `table` prefix, which adds a header row
//! and aligns the columns.

use gtmpl::{Func, FuncError, Value};
use std::collections::HashMap;

#[derive(Debug, thiserror::Error)]
pub enum FormatError {
    #[error("template parsing error: {0} (Go template syntax, e.g. '{{{{.Name}}}}' or '{{{{json .Config}}}}')")]
    Parse(String),
    #[error("template: executing {template:?}: {message}")]
    Execute { template: String, message: String },
}

pub struct Format {
    template: gtmpl::Template,
    source: String,
    /// `table …`: header names for the columns, in order.
    table_header: Option<Vec<String>>,
}

/// JSON → the template engine's values. Null renders as nothing, as Docker's empty fields.
pub fn to_value(v: &serde_json::Value) -> Value {
    match v {
        serde_json::Value::Null => Value::String(String::new()),
        serde_json::Value::Bool(b) => Value::Bool(*b),
        serde_json::Value::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i), _, _) => Value::from(i),
            (_, Some(u), _) => Value::from(u),
            (_, _, Some(f)) => Value::from(f),
            _ => Value::Nil,
        },
        serde_json::Value::String(s) => Value::String(s.clone()),
        serde_json::Value::Array(a) => Value::Array(a.iter().map(to_value).collect()),
        serde_json::Value::Object(o) => {
            Value::Object(o.iter().map(|(k, v)| (k.clone(), to_value(v))).collect())
        }
    }
}

fn to_json(v: &Value) -> serde_json::Value {
    match v {
        Value::NoValue | Value::Nil | Value::Function(_) => serde_json::Value::Null,
        Value::Bool(b) => (*b).into(),
        Value::String(s) => s.clone().into(),
        Value::Number(n) => n
            .as_i64()
            .map(serde_json::Value::from)
            .or_else(|| n.as_u64().map(serde_json::Value::from))
            .or_else(|| n.as_f64().map(serde_json::Value::from))
            .unwrap_or(serde_json::Value::Null),
        Value::Array(a) => a.iter().map(to_json).collect(),
        Value::Object(o) | Value::Map(o) => {
            let sorted: std::collections::BTreeMap<_, _> =
                o.iter().map(|(k, v)| (k.clone(), to_json(v))).collect();
            serde_json::to_value(sorted).unwrap_or_default()
        }
    }
}

fn arg<'a>(args: &'a [Value], n: usize, name: &str) -> Result<&'a Value, FuncError> {
    args.get(n)
        .ok_or_else(|| FuncError::AtLeastXArgs(name.to_string(), n + 1))
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn json(args: &[Value]) -> Result<Value, FuncError> {
    Ok(Value::String(to_json(arg(args, 0, "json")?).to_string()))
}

fn upper(args: &[Value]) -> Result<Value, FuncError> {
    Ok(Value::String(text(arg(args, 0, "upper")?).to_uppercase()))
}

fn lower(args: &[Value]) -> Result<Value, FuncError> {
    Ok(Value::String(text(arg(args, 0, "lower")?).to_lowercase()))
}

fn title(args: &[Value]) -> Result<Value, FuncError> {
    let s = text(arg(args, 0, "title")?);
    let mut out = String::new();
    let mut start = true;
    for c in s.chars() {
        out.extend(if start {
            c.to_uppercase().collect::<Vec<_>>()
        } else {
            vec![c]
        });
        start = c.is_whitespace();
    }
    Ok(Value::String(out))
}

fn join(args: &[Value]) -> Result<Value, FuncError> {
    let sep = text(arg(args, 1, "join")?);
    match arg(args, 0, "join")? {
        Value::Array(items) => Ok(Value::String(
            items.iter().map(text).collect::<Vec<_>>().join(&sep),
        )),
        other => Ok(Value::String(text(other))),
    }
}

fn split(args: &[Value]) -> Result<Value, FuncError> {
    let s = text(arg(args, 0, "split")?);
    let sep = text(arg(args, 1, "split")?);
    Ok(Value::Array(
        s.split(sep.as_str())
            .map(|p| Value::String(p.into()))
            .collect(),
    ))
}

fn number(v: &Value) -> usize {
    match v {
        Value::Number(n) => n.as_u64().unwrap_or(0) as usize,
        other => text(other).parse().unwrap_or(0),
    }
}

fn truncate(args: &[Value]) -> Result<Value, FuncError> {
    let s = text(arg(args, 0, "truncate")?);
    let n = number(arg(args, 1, "truncate")?);
    Ok(Value::String(s.chars().take(n).collect()))
}

fn pad(args: &[Value]) -> Result<Value, FuncError> {
    let s = text(arg(args, 0, "pad")?);
    let before = number(arg(args, 1, "pad")?);
    let after = number(arg(args, 2, "pad")?);
    Ok(Value::String(format!(
        "{}{s}{}",
        " ".repeat(before),
        " ".repeat(after)
    )))
}

const FUNCS: &[(&str, Func)] = &[
    ("json", json),
    ("upper", upper),
    ("lower", lower),
    ("title", title),
    ("join", join),
    ("split", split),
    ("truncate", truncate),
    ("pad", pad),
];

impl Format {
    /// `headers` names the columns of a `table` format: field → header (`ID` → `CONTAINER
    /// ID`); fields it does not know become their upper-cased names.
    pub fn parse(source: &str, headers: &[(&str, &str)]) -> Result<Format, FormatError> {
        let (body, table) = match source.strip_prefix("table") {
            Some(rest) if rest.is_empty() || rest.starts_with(char::is_whitespace) => {
                (rest.trim_start().to_string(), true)
            }
            _ => (source.to_string(), false),
        };
        // Docker's formats are written in shells: `\t` and `\n` arrive as two characters.
        let body = body.replace("\\t", "\t").replace("\\n", "\n");
        let table_header = table.then(|| header_for(&body, headers));
        let mut template = gtmpl::Template::default();
        template.add_funcs(FUNCS);
        template
            .parse(body.as_str())
            .map_err(|e| FormatError::Parse(e.to_string()))?;
        Ok(Format {
            template,
            source: source.to_string(),
            table_header,
        })
    }

    pub fn render(&self, object: &serde_json::Value) -> Result<String, FormatError> {
        self.template
            .render(&gtmpl::Context::from(to_value(object)))
            .map_err(|e| FormatError::Execute {
                template: self.source.clone(),
                message: e.to_string(),
            })
    }

    /// Renders every object, one line each; a table gets its header and aligned columns.
    pub fn render_all(&self, objects: &[serde_json::Value]) -> Result<String, FormatError> {
        let mut lines = vec![];
        if let Some(h) = &self.table_header {
            lines.push(h.join("\t"));
        }
        for o in objects {
            lines.push(self.render(o)?);
        }
        if self.table_header.is_some() {
            return Ok(align(&lines));
        }
        Ok(lines.iter().map(|l| format!("{l}\n")).collect())
    }
}

/// The header of a `table` format: one name per `{{.Field}}`, in order.
fn header_for(body: &str, headers: &[(&str, &str)]) -> Vec<String> {
    body.split('\t')
        .map(|cell| {
            let field = cell
                .split("{{")
                .nth(1)
                .and_then(|a| a.split("}}").next())
                .map(|f| f.trim().rsplit('.').next().unwrap_or("").to_string())
                .unwrap_or_default();
            headers
                .iter()
                .find(|(k, _)| *k == field)
                .map(|(_, h)| h.to_string())
                .unwrap_or_else(|| field.to_uppercase())
        })
        .collect()
}

/// Tab-separated cells → columns three spaces apart (Docker's tabwriter).
fn align(lines: &[String]) -> String {
    let rows: Vec<Vec<&str>> = lines.iter().map(|l| l.split('\t').collect()).collect();
    let mut widths: HashMap<usize, usize> = HashMap::new();
    for r in &rows {
        for (i, c) in r.iter().enumerate() {
            let w = widths.entry(i).or_default();
            *w = (*w).max(c.chars().count());
        }
    }
    let mut out = String::new();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            if i + 1 == r.len() {
                out.push_str(c);
            } else {
                out.push_str(&format!("{c:<w$}   ", w = widths[&i]));
            }
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn render(fmt: &str, v: serde_json::Value) -> String {
        Format::parse(fmt, &[]).unwrap().render(&v).unwrap()
    }

    /// Examples from Docker's "Format command and log output" page.
    #[test]
    fn dockers_documented_examples() {
        let c = json!({
            "Name": "/web",
            "Config": {"Cmd": ["sh", "-c", "x"], "Env": ["A=1"]},
            "NetworkSettings": {"IPAddress": "10.88.0.2"},
            "State": {"Running": true, "Pid": 42}
        });
        assert_eq!(
            render("{{.NetworkSettings.IPAddress}}", c.clone()),
            "10.88.0.2"
        );
        assert_eq!(
            render("{{json .Config.Cmd}}", c.clone()),
            r#"["sh","-c","x"]"#
        );
        assert_eq!(render("{{join .Config.Cmd \" \"}}", c.clone()), "sh -c x");
        assert_eq!(render("{{upper .Name}}", c.clone()), "/WEB");
        assert_eq!(render("{{lower \"ABC\"}}", c.clone()), "abc");
        assert_eq!(
            render("{{title \"hello world\"}}", c.clone()),
            "Hello World"
        );
        assert_eq!(render("{{index (split \"a:b\" \":\") 1}}", c.clone()), "b");
        assert_eq!(render("{{truncate .Name 3}}", c.clone()), "/we");
        assert_eq!(
            render("{{if .State.Running}}up{{else}}down{{end}}", c.clone()),
            "up"
        );
        assert_eq!(
            render("{{range .Config.Env}}{{.}};{{end}}", c.clone()),
            "A=1;"
        );
        assert_eq!(render("{{.State.Pid}}", c), "42");
    }

    #[test]
    fn tables_get_headers_and_aligned_columns() {
        let f = Format::parse(
            "table {{.ID}}\\t{{.Names}}",
            &[("ID", "CONTAINER ID"), ("Names", "NAMES")],
        )
        .unwrap();
        let out = f
            .render_all(&[
                json!({"ID": "abc", "Names": "web"}),
                json!({"ID": "0123456789ab", "Names": "db"}),
            ])
            .unwrap();
        assert_eq!(
            out,
            "CONTAINER ID   NAMES\nabc            web\n0123456789ab   db\n"
        );
    }

    #[test]
    fn bad_templates_are_named() {
        assert!(matches!(
            Format::parse("{{.Name", &[]),
            Err(FormatError::Parse(_))
        ));
        let f = Format::parse("{{nosuchfunc .Name}}", &[]);
        assert!(f.is_err() || f.unwrap().render(&json!({})).is_err());
    }
}
