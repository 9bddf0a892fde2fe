//! Reading step records back: from Terraform's log (`TF_LOG_PROVIDER=info` with
//! `TF_LOG_PATH`), from the plugin's own hclog JSON lines, and from the lab's trace.

use std::path::Path;

use serde_json::Value as Json;

use crate::provider::resources::steps::{field, MESSAGE};

/// One step record.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// The resource type, or `lab` for the lab's trace.
    pub resource: String,
    /// The step.
    pub step: String,
    /// The host, or empty.
    pub host: String,
    /// Start, milliseconds (since the Unix epoch, or since the lab started).
    pub start_ms: f64,
    /// End, in the same clock.
    pub end_ms: f64,
    /// Whether it succeeded.
    pub ok: bool,
}

/// A record that cannot be read, at a line.
#[derive(Debug, Clone, PartialEq)]
pub struct ParseError {
    /// 1-based line number.
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

impl ParseError {
    /// The error as the CLI prints it, naming the file.
    pub fn in_file(&self, path: &Path) -> String {
        format!("{}:{}: {}", path.display(), self.line, self.message)
    }
}

/// Every step record in a log. Lines that are not step records are skipped; a step record
/// that is cut short or misses a field is an error naming its line.
pub fn parse_log(text: &str) -> Result<Vec<Record>, ParseError> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line_no = i + 1;
        let err = |message: String| ParseError {
            line: line_no,
            message,
        };
        let trimmed = line.trim();
        let fields = if trimmed.starts_with('{') {
            match serde_json::from_str::<Json>(trimmed) {
                Ok(Json::Object(m))
                    if m.get("@message").and_then(Json::as_str) == Some(MESSAGE) =>
                {
                    m.into_iter()
                        .map(|(k, v)| {
                            let v = match v {
                                Json::String(s) => s,
                                other => other.to_string(),
                            };
                            (k, v)
                        })
                        .collect()
                }
                Ok(_) => continue,
                Err(e) if trimmed.contains("\"@message\":\"step\"") => {
                    return Err(err(format!("a step record that is cut short ({e})")))
                }
                Err(_) => continue,
            }
        } else if let Some(rest) = text_record(trimmed) {
            key_values(rest).map_err(err)?
        } else {
            continue;
        };
        out.push(record_from(&fields).map_err(err)?);
    }
    Ok(out)
}

/// The `key=value` part of a Terraform log line whose message is a step record:
/// `<time> [INFO]  provider.terraform-provider-freetier: step: key=value …`.
fn text_record(line: &str) -> Option<&str> {
    let at = line.find(": step: ")?;
    let head = &line[..at];
    head.contains("provider")
        .then(|| &line[at + ": step: ".len()..])
}

/// `key=value` pairs, a value bare or a Go-quoted string (as hclog writes them).
fn key_values(mut s: &str) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    loop {
        s = s.trim_start();
        if s.is_empty() {
            return Ok(out);
        }
        let eq = s
            .find('=')
            .ok_or_else(|| format!("expected key=value at {:?}", cut(s)))?;
        let key = s[..eq].to_string();
        s = &s[eq + 1..];
        if let Some(quoted) = s.strip_prefix('"') {
            let mut value = String::new();
            let mut chars = quoted.char_indices();
            let mut end = None;
            while let Some((i, c)) = chars.next() {
                match c {
                    '"' => {
                        end = Some(i + 1);
                        break;
                    }
                    '\\' => match chars.next() {
                        Some((_, 'n')) => value.push('\n'),
                        Some((_, 't')) => value.push('\t'),
                        Some((_, c)) => value.push(c),
                        None => break,
                    },
                    c => value.push(c),
                }
            }
            let end = end.ok_or_else(|| format!("the value of {key} is cut short"))?;
            out.push((key, value));
            s = &quoted[end..];
        } else {
            let end = s.find(char::is_whitespace).unwrap_or(s.len());
            out.push((key, s[..end].to_string()));
            s = &s[end..];
        }
    }
}

fn cut(s: &str) -> String {
    s.chars().take(40).collect()
}

fn record_from(fields: &[(String, String)]) -> Result<Record, String> {
    let get = |name: &str| {
        fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let need = |name: &str| {
        get(name).ok_or_else(|| format!("a step record without its {name} field (cut short?)"))
    };
    let ms = |name: &str| -> Result<f64, String> {
        let v = need(name)?;
        v.parse::<f64>()
            .map_err(|_| format!("{name} is {v:?}, not a number of milliseconds"))
    };
    let (start_ms, end_ms) = (ms(field::START_MS)?, ms(field::END_MS)?);
    if end_ms < start_ms {
        return Err(format!(
            "the step ends ({end_ms}) before it starts ({start_ms})"
        ));
    }
    Ok(Record {
        resource: get(field::RESOURCE).unwrap_or_default().to_string(),
        step: need(field::STEP)?.to_string(),
        host: get(field::HOST).unwrap_or_default().to_string(),
        start_ms,
        end_ms,
        ok: get(field::OK) != Some("false"),
    })
}

/// The lab's trace (`GET /trace`): `[{"host", "op", "start_ms", "end_ms", "ok"}, …]`.
pub fn parse_lab_trace(text: &str) -> Result<Vec<Record>, ParseError> {
    let v: Json = serde_json::from_str(text).map_err(|e| ParseError {
        line: e.line(),
        message: format!("not the lab's trace (a JSON list of operations): {e}"),
    })?;
    let items = v.as_array().ok_or_else(|| ParseError {
        line: 1,
        message: "not the lab's trace: expected a JSON list of operations".into(),
    })?;
    items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let num = |k: &str| item.get(k).and_then(Json::as_f64);
            match (
                item.get("op").and_then(Json::as_str),
                num("start_ms"),
                num("end_ms"),
            ) {
                (Some(op), Some(start_ms), Some(end_ms)) => Ok(Record {
                    resource: "lab".into(),
                    step: op.to_string(),
                    host: item
                        .get("host")
                        .and_then(Json::as_str)
                        .unwrap_or_default()
                        .to_string(),
                    start_ms,
                    end_ms,
                    ok: item.get("ok").and_then(Json::as_bool).unwrap_or(true),
                }),
                _ => Err(ParseError {
                    line: 1,
                    message: format!("operation {} lacks op, start_ms or end_ms", i + 1),
                }),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const TERRAFORM_LINE: &str = r#"2026-12-05T01:07:21.076Z [INFO]  provider.terraform-provider-freetier: step: end_ms=1764896841500 host=ampere-2 ok=true resource=freetier_proxmox_cluster start_ms=1764896841076 step="join ampere-2" @module=provider.freetier timestamp=2026-12-05T01:07:21.500Z"#;

    #[test]
    fn terraforms_log_lines_and_the_plugins_json_lines_read_the_same() {
        let json = r#"{"@level":"info","@message":"step","@module":"freetier","end_ms":1764896841500,"host":"ampere-2","ok":true,"resource":"freetier_proxmox_cluster","start_ms":1764896841076,"step":"join ampere-2"}"#;
        let text = format!("noise before\n{TERRAFORM_LINE}\n{json}\n[INFO] other: message\n");
        let records = parse_log(&text).expect("parses");
        assert_eq!(records.len(), 2);
        assert_eq!(records[0], records[1]);
        assert_eq!(records[0].step, "join ampere-2");
        assert_eq!(records[0].host, "ampere-2");
        assert_eq!(records[0].end_ms - records[0].start_ms, 424.0);
    }

    #[test]
    fn a_record_cut_short_is_refused_naming_its_line() {
        let cut = &TERRAFORM_LINE[..TERRAFORM_LINE.find("start_ms").unwrap()];
        let err = parse_log(&format!("first\n{cut}\n")).unwrap_err();
        assert_eq!(err.line, 2);
        assert!(err.message.contains("start_ms"), "{}", err.message);
        let json = r#"{"@message":"step","step":"vm cp-1","start_ms":1"#;
        let err = parse_log(&format!("a\nb\n{json}")).unwrap_err();
        assert_eq!(err.line, 3);
        assert!(err.message.contains("cut short"), "{}", err.message);
        assert_eq!(
            err.in_file(Path::new("run.log")),
            format!("run.log:3: {}", err.message)
        );
    }

    #[test]
    fn the_labs_trace_reads_as_lab_operations() {
        let trace = r#"[{"host":"ampere-1","op":"ssh:pvecm create","start_ms":10.5,"end_ms":210.5,"ok":true}]"#;
        let r = parse_lab_trace(trace).unwrap();
        assert_eq!(
            (r[0].resource.as_str(), r[0].step.as_str()),
            ("lab", "ssh:pvecm create")
        );
        assert!(parse_lab_trace("{}").is_err());
    }
}
