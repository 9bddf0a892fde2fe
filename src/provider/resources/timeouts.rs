//! The `timeouts` block the long-running resources share: its model, its schema block, its
//! check at validate, and Go durations (`90s`, `45m`, `1h30m`) as Terraform users write them.

use std::time::Duration;

use crate::framework::*;

crate::model! {
    /// How long each operation may take, as Go durations (`60m`, `1h30m`).
    pub struct Timeouts {
        pub create: Maybe<String> = "create",
        pub update: Maybe<String> = "update",
        pub delete: Maybe<String> = "delete",
    }
}

/// The operations a `timeouts` block names.
const OPERATIONS: [&str; 3] = ["create", "update", "delete"];

/// The limit the block gives for `which` (`create`, `update`, `delete`), if it gives one
/// that reads as a duration.
pub fn given(t: Option<&Timeouts>, which: &str) -> Option<Duration> {
    let t = t?;
    let text = match which {
        "create" => t.create.known(),
        "update" => t.update.known(),
        _ => t.delete.known(),
    }?;
    parse_duration(text).ok()
}

/// The `timeouts` block, saying each operation's default (`["60m", "30m", "20m"]`).
pub fn block(summary: &str, defaults: [&str; 3]) -> Block {
    OPERATIONS
        .iter()
        .zip(defaults)
        .fold(Block::new(summary), |b, (op, d)| {
            b.attribute(
                Attribute::string(op)
                    .optional()
                    .description(&format!("Default {d}.")),
            )
        })
}

/// Refuses a `timeouts` entry that is not a duration, at its path.
pub fn validate(config: &Value, diags: &mut Diagnostics) {
    for which in OPERATIONS {
        if let Some(t) = config.attr("timeouts").attr(which).as_str() {
            if let Err(e) = parse_duration(t) {
                diags.error_at(
                    AttributePath::root("timeouts").attr(which),
                    "Invalid Duration",
                    e,
                );
            }
        }
    }
}

/// Parses a Go duration as Terraform's `timeouts` blocks take them: `90s`, `45m`, `1h30m`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let bad = || format!("'{s}' is not a duration like 30s, 45m or 1h30m");
    let mut total = 0f64;
    let mut num = String::new();
    let mut any = false;
    let mut chars = s.trim().chars().peekable();
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() || c == '.' {
            num.push(c);
            continue;
        }
        let mut unit = c.to_string();
        if c == 'm' && chars.peek() == Some(&'s') {
            unit.push('s');
            chars.next();
        }
        let n: f64 = num.parse().map_err(|_| bad())?;
        num.clear();
        total += n * match unit.as_str() {
            "h" => 3600.0,
            "m" => 60.0,
            "s" => 1.0,
            "ms" => 0.001,
            _ => return Err(bad()),
        };
        any = true;
    }
    if !num.is_empty() || !any {
        return Err(bad());
    }
    // More than Duration holds is a mistyped number, not a wait.
    Duration::try_from_secs_f64(total).map_err(|_| bad())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_terraform_timeouts_write_them() {
        let cases = [
            ("90s", Some(90)),
            ("45m", Some(2700)),
            ("1h30m", Some(5400)),
            ("2h", Some(7200)),
            ("", None),
            ("10", None),
            ("5 minutes", None),
            ("99999999999999999999999999h", None),
        ];
        for (text, want) in cases {
            assert_eq!(
                parse_duration(text).ok().map(|d| d.as_secs()),
                want,
                "{text:?}"
            );
        }
    }
}
