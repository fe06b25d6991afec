//! `--change` / `-c`: Dockerfile instructions applied to an image config
//! (`CMD`, `ENTRYPOINT`, `ENV`, `WORKDIR`, `USER`, `EXPOSE`, `VOLUME`, `LABEL`).

use serde_json::{json, Map, Value};

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ChangeError {
    #[error("invalid --change {0:?}: {1}")]
    Invalid(String, &'static str),
}

/// `["a","b"]` (exec form) or `a b` (shell form, run by /bin/sh -c).
fn command_form(rest: &str) -> Value {
    match serde_json::from_str::<Vec<String>>(rest) {
        Ok(v) => json!(v),
        Err(_) => json!(["/bin/sh", "-c", rest]),
    }
}

fn key_values(rest: &str) -> Vec<(String, String)> {
    if !rest.contains('=') {
        // Legacy `ENV KEY value with spaces`.
        return match rest.split_once(char::is_whitespace) {
            Some((k, v)) => vec![(k.to_string(), v.trim().to_string())],
            None => vec![(rest.to_string(), String::new())],
        };
    }
    rest.split_whitespace()
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.trim_matches('"').to_string()))
        .collect()
}

/// Applies `changes` to the `config` object of an image config.
pub fn apply(config: &mut Map<String, Value>, changes: &[String]) -> Result<(), ChangeError> {
    for change in changes {
        let (instr, rest) =
            change
                .trim()
                .split_once(char::is_whitespace)
                .ok_or(ChangeError::Invalid(
                    change.clone(),
                    "expected INSTRUCTION ARGUMENTS",
                ))?;
        let rest = rest.trim();
        match instr.to_ascii_uppercase().as_str() {
            "CMD" => {
                config.insert("Cmd".into(), command_form(rest));
            }
            "ENTRYPOINT" => {
                config.insert("Entrypoint".into(), command_form(rest));
            }
            "WORKDIR" => {
                config.insert("WorkingDir".into(), json!(rest));
            }
            "USER" => {
                config.insert("User".into(), json!(rest));
            }
            "ENV" => {
                let env = config.entry("Env").or_insert_with(|| json!([])).as_array_mut().ok_or(ChangeError::Invalid(change.clone(), "image Env is not a list"))?;
                for (k, v) in key_values(rest) {
                    env.retain(|e| e.as_str().and_then(|s| s.split_once('=')).map(|(ek, _)| ek) != Some(k.as_str()));
                    env.push(json!(format!("{k}={v}")));
                }
            }
            "LABEL" => {
                let labels = config.entry("Labels").or_insert_with(|| json!({})).as_object_mut().ok_or(ChangeError::Invalid(change.clone(), "image Labels is not a map"))?;
                for (k, v) in key_values(rest) {
                    labels.insert(k, json!(v));
                }
            }
            "EXPOSE" => {
                let ports = config.entry("ExposedPorts").or_insert_with(|| json!({})).as_object_mut().ok_or(ChangeError::Invalid(change.clone(), "ExposedPorts is not a map"))?;
                for p in rest.split_whitespace() {
                    let p = if p.contains('/') { p.to_string() } else { format!("{p}/tcp") };
                    ports.insert(p, json!({}));
                }
            }
            "VOLUME" => {
                let vols = config.entry("Volumes").or_insert_with(|| json!({})).as_object_mut().ok_or(ChangeError::Invalid(change.clone(), "Volumes is not a map"))?;
                let list: Vec<String> = serde_json::from_str(rest).unwrap_or_else(|_| rest.split_whitespace().map(String::from).collect());
                for v in list {
                    vols.insert(v, json!({}));
                }
            }
            _ => return Err(ChangeError::Invalid(change.clone(), "supported instructions are CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, USER, VOLUME, WORKDIR")),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn applies_dockerfile_instructions() {
        let mut c = Map::new();
        apply(
            &mut c,
            &[
                r#"CMD ["sh","-c","echo hi"]"#.into(),
                "ENTRYPOINT run me".into(),
                "ENV A=1 B=2".into(),
                "ENV A=3".into(),
                "WORKDIR /srv".into(),
                "EXPOSE 80".into(),
                "LABEL k=v".into(),
                "VOLUME /data".into(),
            ],
        )
        .unwrap();
        assert_eq!(c["Cmd"], json!(["sh", "-c", "echo hi"]));
        assert_eq!(c["Entrypoint"], json!(["/bin/sh", "-c", "run me"]));
        assert_eq!(c["Env"], json!(["B=2", "A=3"]));
        assert_eq!(c["ExposedPorts"], json!({"80/tcp": {}}));
        assert_eq!(c["Volumes"], json!({"/data": {}}));
        assert!(apply(&mut c, &["FROM x".into()]).is_err());
        assert!(apply(&mut c, &["CMD".into()]).is_err());
    }
}
