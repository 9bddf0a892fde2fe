//! What the `freetier` subcommands share: the walk over their arguments (`--flag value` and
//! `--flag=value` alike, positional arguments as they come, one message for a flag missing its
//! value) and the runtime their network work runs on.
//!
//! Imports nothing from the rest of the crate.

/// The runtime a subcommand's network work runs on: two workers, the size of the machines the
/// project is built for.
pub fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
}

/// A subcommand's arguments, read one at a time.
pub struct Flags<'a> {
    args: &'a [String],
    next: usize,
    /// The value written after `=` in the argument just read.
    inline: Option<&'a str>,
}

impl<'a> Flags<'a> {
    /// Starts at the first of `args`.
    pub fn new(args: &'a [String]) -> Self {
        Flags {
            args,
            next: 0,
            inline: None,
        }
    }

    /// The next argument: a flag's name (what comes before `=` in `--flag=value`), or any
    /// other argument whole. `None` after the last.
    pub fn next_arg(&mut self) -> Option<&'a str> {
        let arg = self.args.get(self.next)?;
        self.next += 1;
        match arg.split_once('=') {
            Some((flag, value)) if flag.starts_with("--") => {
                self.inline = Some(value);
                Some(flag)
            }
            _ => {
                self.inline = None;
                Some(arg)
            }
        }
    }

    /// The value of `flag`, the argument just read: what follows its `=`, else the next
    /// argument.
    pub fn value(&mut self, flag: &str) -> Result<String, String> {
        if let Some(v) = self.inline.take() {
            return Ok(v.to_string());
        }
        let v = self
            .args
            .get(self.next)
            .ok_or_else(|| format!("{flag} needs a value"))?;
        self.next += 1;
        Ok(v.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &[&str]) -> Vec<String> {
        s.iter().map(|a| a.to_string()).collect()
    }

    #[test]
    fn flags_take_their_value_after_a_space_or_an_equals_sign() {
        let a = args(&["--dir", "x", "--tier=always_free", "plain", "--var", "k=v"]);
        let mut f = Flags::new(&a);
        assert_eq!(f.next_arg(), Some("--dir"));
        assert_eq!(f.value("--dir").as_deref(), Ok("x"));
        assert_eq!(f.next_arg(), Some("--tier"));
        assert_eq!(f.value("--tier").as_deref(), Ok("always_free"));
        assert_eq!(f.next_arg(), Some("plain"));
        assert_eq!(f.next_arg(), Some("--var"));
        assert_eq!(f.value("--var").as_deref(), Ok("k=v"));
        assert_eq!(f.next_arg(), None);
    }

    #[test]
    fn a_flag_at_the_end_says_it_needs_a_value() {
        let a = args(&["--url"]);
        let mut f = Flags::new(&a);
        let flag = f.next_arg().unwrap();
        assert_eq!(f.value(flag), Err("--url needs a value".to_string()));
    }
}
