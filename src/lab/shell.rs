//! The shell behind SSH `exec` (and a bare interactive shell): a small POSIX-ish command line
//! (quotes, `&&`, `||`, `;`, `|`, `2>&1`, `>/dev/null`) running emulated commands with the real
//! output formats and exit codes. The Proxmox commands live in `pvecm.rs` and `pveceph.rs`.
//!
//! Unknown commands answer as bash does: `bash: line 1: X: command not found` with exit 127
//! for `bash -c` (what sshd runs for an exec request; bash >= 5.1 adds the line number), and
//! `-bash: X: command not found` in an interactive login shell.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender};
use tokio_util::sync::CancellationToken;

use super::host::{apply_fault, HostRef, Outcome};
use super::LabInner;

/// A piece of output for the SSH channel.
#[derive(Debug)]
pub(crate) enum Chunk {
    Out(Vec<u8>),
    Err(Vec<u8>),
}

/// Standard input of a command.
pub(crate) enum Stdin {
    /// Data arriving on the SSH channel, until EOF.
    Channel {
        rx: UnboundedReceiver<Vec<u8>>,
        buf: Vec<u8>,
        eof: bool,
    },
    /// The output of the previous command in a pipeline.
    Buffer { data: Vec<u8>, pos: usize },
}

impl Stdin {
    async fn fill(&mut self) -> bool {
        match self {
            Stdin::Channel { rx, buf, eof } => {
                if *eof {
                    return false;
                }
                match rx.recv().await {
                    Some(d) => {
                        buf.extend_from_slice(&d);
                        true
                    }
                    None => {
                        *eof = true;
                        false
                    }
                }
            }
            _ => false,
        }
    }

    /// One line without its newline; `None` at end of input.
    pub(crate) async fn read_line(&mut self) -> Option<String> {
        loop {
            match self {
                Stdin::Buffer { data, pos } => {
                    if *pos >= data.len() {
                        return None;
                    }
                    let rest = &data[*pos..];
                    let (line, used) = match rest.iter().position(|b| *b == b'\n') {
                        Some(i) => (&rest[..i], i + 1),
                        None => (rest, rest.len()),
                    };
                    let s = String::from_utf8_lossy(line)
                        .trim_end_matches('\r')
                        .to_string();
                    *pos += used;
                    return Some(s);
                }
                Stdin::Channel { buf, eof, .. } => {
                    if let Some(i) = buf.iter().position(|b| *b == b'\n') {
                        let line: Vec<u8> = buf.drain(..=i).collect();
                        let s = String::from_utf8_lossy(&line[..line.len() - 1]);
                        return Some(s.trim_end_matches('\r').to_string());
                    }
                    if *eof {
                        if buf.is_empty() {
                            return None;
                        }
                        let line: Vec<u8> = std::mem::take(buf);
                        return Some(String::from_utf8_lossy(&line).to_string());
                    }
                }
            }
            if !self.fill().await {
                if let Stdin::Channel { buf, .. } = self {
                    if buf.is_empty() {
                        return None;
                    }
                }
            }
        }
    }

    /// Everything up to end of input.
    pub(crate) async fn read_all(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        loop {
            match self {
                Stdin::Buffer { data, pos } => {
                    out.extend_from_slice(&data[(*pos).min(data.len())..]);
                    *pos = data.len();
                    return out;
                }
                Stdin::Channel { buf, .. } => out.append(buf),
            }
            if !self.fill().await {
                if let Stdin::Channel { buf, .. } = self {
                    out.append(buf);
                }
                return out;
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Dest {
    Out,
    Err,
    Discard,
    Capture,
}

/// A running command's standard streams.
pub(crate) struct Proc {
    pub(crate) stdin: Stdin,
    tx: UnboundedSender<Chunk>,
    out_to: Dest,
    err_to: Dest,
    captured: Vec<u8>,
    /// Stdout is a terminal (the client asked for a PTY).
    pub(crate) tty: bool,
    /// `bash -c` (exec) or an interactive login shell.
    pub(crate) interactive: bool,
    /// `$?`.
    last_status: i32,
    /// `$$`: this shell's (emulated) process id.
    pub(crate) shell_pid: u32,
}

impl Proc {
    pub(crate) fn new(
        stdin: Stdin,
        tx: UnboundedSender<Chunk>,
        tty: bool,
        interactive: bool,
    ) -> Proc {
        Proc {
            stdin,
            tx,
            out_to: Dest::Out,
            err_to: Dest::Err,
            captured: Vec::new(),
            tty,
            interactive,
            last_status: 0,
            // A plausible sshd-spawned shell pid; the lab runs no real processes.
            shell_pid: 2000 + (super::keys::random_u64() % 30_000) as u32,
        }
    }

    fn emit(&mut self, dest: Dest, data: &[u8]) {
        match dest {
            Dest::Out => {
                let _ = self.tx.send(Chunk::Out(data.to_vec()));
            }
            Dest::Err => {
                let _ = self.tx.send(Chunk::Err(data.to_vec()));
            }
            Dest::Discard => {}
            Dest::Capture => self.captured.extend_from_slice(data),
        }
    }

    /// Writes to stdout.
    pub(crate) fn out(&mut self, s: &str) {
        let d = self.out_to;
        self.emit(d, s.as_bytes());
    }

    /// Writes to stderr.
    pub(crate) fn err(&mut self, s: &str) {
        let d = self.err_to;
        self.emit(d, s.as_bytes());
    }
}

/// Where and for whom a command runs.
#[derive(Clone)]
pub(crate) struct Ctx {
    pub(crate) lab: Arc<LabInner>,
    pub(crate) host: HostRef,
    /// Cancelling this drops the SSH connection.
    pub(crate) conn: CancellationToken,
}

impl Ctx {
    pub(crate) fn host_name(&self) -> String {
        self.host.name(&self.lab)
    }

    /// Runs a fault check and the latency for a step inside a command, recording it.
    pub(crate) async fn step(
        &self,
        on: HostRef,
        step: &str,
        latency: &str,
        factor: f64,
    ) -> Outcome {
        let start = Instant::now();
        let outcome = apply_fault(&self.lab, on, &format!("step:{step}"), &self.conn).await;
        if outcome == Outcome::Proceed {
            self.lab.pause(latency, factor).await;
        }
        self.lab.record(
            &on.name(&self.lab),
            &format!("step:{step}"),
            start,
            outcome == Outcome::Proceed,
        );
        outcome
    }

    /// [`Ctx::step`] on this host for a CLI command whose step and latency are both `name`:
    /// `None` to go on, else the exit status — 255 if the connection dropped, or what `fail`
    /// makes of an injected failure's message.
    pub(crate) async fn cli_step(
        &self,
        name: &str,
        p: &mut Proc,
        fail: fn(&mut Proc, &str) -> i32,
    ) -> Option<i32> {
        match self.step(self.host, name, name, 1.0).await {
            Outcome::Proceed => None,
            Outcome::Fail(m, _) => Some(fail(p, &m)),
            Outcome::Dropped => Some(255),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Word(String, bool),
    And,
    Or,
    Semi,
    Pipe,
}

/// Marks `$?` in a word; replaced with the last status when the command runs.
const LAST_STATUS: char = '\u{1}';
/// Marks `$$` in a word; replaced with the shell's process id when the command runs.
const SHELL_PID: char = '\u{2}';

/// The login environment of root on the hosts; unknown variables expand to nothing, as in bash.
fn env_var(name: &str) -> &'static str {
    match name {
        "HOME" => "/root",
        "USER" | "LOGNAME" => "root",
        "SHELL" => "/bin/bash",
        "PATH" => "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "LANG" => "C.UTF-8",
        _ => "",
    }
}

/// Expands `$?`, `$NAME` and `${NAME}` after a `$`; `Err` for `$(…)`, which the lab does not run.
fn expand(
    chars: &mut std::iter::Peekable<std::str::Chars<'_>>,
    cur: &mut String,
) -> Result<(), String> {
    match chars.peek().copied() {
        Some('?') => {
            chars.next();
            cur.push(LAST_STATUS);
        }
        Some('{') => {
            chars.next();
            let mut name = String::new();
            loop {
                match chars.next() {
                    Some('}') => break,
                    Some(c) => name.push(c),
                    None => return Err("unexpected EOF while looking for matching `}'".into()),
                }
            }
            if name == "?" {
                cur.push(LAST_STATUS);
            } else {
                cur.push_str(env_var(&name));
            }
        }
        Some(c) if c.is_ascii_alphabetic() || c == '_' => {
            let mut name = String::new();
            while let Some(c) = chars.peek().copied() {
                if c.is_ascii_alphanumeric() || c == '_' {
                    name.push(c);
                    chars.next();
                } else {
                    break;
                }
            }
            cur.push_str(env_var(&name));
        }
        Some('$') => {
            chars.next();
            cur.push(SHELL_PID);
        }
        Some('(') => return Err("command substitution $(...) is not emulated by the lab".into()),
        _ => cur.push('$'),
    }
    Ok(())
}

fn tokenize(s: &str) -> Result<Vec<Tok>, String> {
    let mut toks = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut have = false;
    let mut chars = s.chars().peekable();
    let flush = |toks: &mut Vec<Tok>, cur: &mut String, have: &mut bool, quoted: &mut bool| {
        if *have {
            toks.push(Tok::Word(std::mem::take(cur), *quoted));
        }
        *have = false;
        *quoted = false;
    };
    while let Some(c) = chars.next() {
        match c {
            ' ' | '\t' => flush(&mut toks, &mut cur, &mut have, &mut quoted),
            '\n' | ';' => {
                flush(&mut toks, &mut cur, &mut have, &mut quoted);
                toks.push(Tok::Semi);
            }
            '#' if !have => {
                for c2 in chars.by_ref() {
                    if c2 == '\n' {
                        toks.push(Tok::Semi);
                        break;
                    }
                }
            }
            '&' if chars.peek() == Some(&'&') => {
                chars.next();
                flush(&mut toks, &mut cur, &mut have, &mut quoted);
                toks.push(Tok::And);
            }
            '|' if chars.peek() == Some(&'|') => {
                chars.next();
                flush(&mut toks, &mut cur, &mut have, &mut quoted);
                toks.push(Tok::Or);
            }
            '|' => {
                flush(&mut toks, &mut cur, &mut have, &mut quoted);
                toks.push(Tok::Pipe);
            }
            '\'' => {
                have = true;
                quoted = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c2) => cur.push(c2),
                        None => return Err("unexpected EOF while looking for matching `''".into()),
                    }
                }
            }
            '"' => {
                have = true;
                quoted = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('$') => expand(&mut chars, &mut cur)?,
                        Some('\\') => match chars.next() {
                            Some(e @ ('"' | '\\' | '$' | '`')) => cur.push(e),
                            Some('\n') => {}
                            Some(o) => {
                                cur.push('\\');
                                cur.push(o);
                            }
                            None => {
                                return Err("unexpected EOF while looking for matching `\"'".into())
                            }
                        },
                        Some(c2) => cur.push(c2),
                        None => return Err("unexpected EOF while looking for matching `\"'".into()),
                    }
                }
            }
            '\\' => {
                have = true;
                if let Some(c2) = chars.next() {
                    if c2 != '\n' {
                        cur.push(c2);
                    }
                }
            }
            '$' => {
                have = true;
                expand(&mut chars, &mut cur)?;
            }
            '`' => return Err("command substitution `...` is not emulated by the lab".into()),
            _ => {
                have = true;
                cur.push(c);
            }
        }
    }
    flush(&mut toks, &mut cur, &mut have, &mut quoted);
    Ok(toks)
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Conn {
    Seq,
    And,
    Or,
}

type Pipeline = Vec<Vec<(String, bool)>>;

fn parse(toks: Vec<Tok>) -> Result<Vec<(Conn, Pipeline)>, String> {
    let mut out: Vec<(Conn, Pipeline)> = Vec::new();
    let mut conn = Conn::Seq;
    let mut pipeline: Pipeline = Vec::new();
    let mut cmd: Vec<(String, bool)> = Vec::new();
    for t in toks {
        match t {
            Tok::Word(w, q) => cmd.push((w, q)),
            Tok::Pipe => {
                if cmd.is_empty() {
                    return Err("syntax error near unexpected token `|'".into());
                }
                pipeline.push(std::mem::take(&mut cmd));
            }
            Tok::And | Tok::Or | Tok::Semi => {
                if cmd.is_empty() {
                    if t == Tok::Semi && pipeline.is_empty() {
                        continue;
                    }
                    let tok = match t {
                        Tok::And => "&&",
                        Tok::Or => "||",
                        _ => ";",
                    };
                    return Err(format!("syntax error near unexpected token `{tok}'"));
                }
                pipeline.push(std::mem::take(&mut cmd));
                out.push((conn, std::mem::take(&mut pipeline)));
                conn = match t {
                    Tok::And => Conn::And,
                    Tok::Or => Conn::Or,
                    _ => Conn::Seq,
                };
            }
        }
    }
    if !cmd.is_empty() {
        pipeline.push(cmd);
    } else if !pipeline.is_empty() {
        return Err("syntax error: unexpected end of file".into());
    }
    if !pipeline.is_empty() {
        out.push((conn, pipeline));
    } else if conn != Conn::Seq {
        return Err("syntax error: unexpected end of file".into());
    }
    Ok(out)
}

/// Runs a command line; returns its exit status.
pub(crate) async fn run(ctx: &Ctx, line: &str, p: &mut Proc) -> i32 {
    let toks = match tokenize(line) {
        Ok(t) => t,
        Err(e) => {
            p.err(&format!("bash: -c: line 1: {e}\n"));
            return 2;
        }
    };
    let list = match parse(toks) {
        Ok(l) => l,
        Err(e) => {
            p.err(&format!("bash: -c: line 1: {e}\n"));
            return 2;
        }
    };
    let mut status = 0;
    for (conn, pipeline) in list {
        let go = match conn {
            Conn::Seq => true,
            Conn::And => status == 0,
            Conn::Or => status != 0,
        };
        if !go {
            continue;
        }
        status = run_pipeline(ctx, pipeline, p).await;
        p.last_status = status & 0xff;
        if ctx.conn.is_cancelled() {
            return 255;
        }
        if status & EXIT_FLAG != 0 {
            return status;
        }
    }
    status
}

/// The exit status a client sees for a command line's status.
pub(crate) fn exit_status(status: i32) -> u32 {
    (status & 0xff) as u32
}

async fn run_pipeline(ctx: &Ctx, pipeline: Pipeline, p: &mut Proc) -> i32 {
    let n = pipeline.len();
    if n == 1 {
        let mut it = pipeline.into_iter();
        return match it.next() {
            Some(cmd) => run_simple(ctx, cmd, p).await,
            None => 0,
        };
    }
    let mut input: Option<Vec<u8>> = None;
    let mut status = 0;
    for (i, cmd) in pipeline.into_iter().enumerate() {
        let last = i + 1 == n;
        let saved_stdin = match input.take() {
            Some(data) => Some(std::mem::replace(
                &mut p.stdin,
                Stdin::Buffer { data, pos: 0 },
            )),
            None => None,
        };
        let saved_out = p.out_to;
        if !last {
            p.out_to = Dest::Capture;
            p.captured.clear();
        }
        status = Box::pin(run_simple(ctx, cmd, p)).await;
        if !last {
            input = Some(std::mem::take(&mut p.captured));
            p.out_to = saved_out;
        }
        if let Some(s) = saved_stdin {
            p.stdin = s;
        }
    }
    status
}

async fn run_simple(ctx: &Ctx, words: Vec<(String, bool)>, p: &mut Proc) -> i32 {
    // Redirections the lab understands; everything else is a plain word.
    let (saved_out, saved_err) = (p.out_to, p.err_to);
    let last = p.last_status.to_string();
    let pid = p.shell_pid.to_string();
    let words: Vec<(String, bool)> = words
        .into_iter()
        .map(|(w, q)| (w.replace(LAST_STATUS, &last).replace(SHELL_PID, &pid), q))
        .flat_map(|(w, q)| {
            // Pathname expansion of an unquoted pattern, where the lab knows the directory;
            // bash keeps a pattern that matches nothing.
            let expanded = (!q && (w.contains('*') || w.contains('?')))
                .then(|| super::services::glob(ctx, &w))
                .flatten();
            match expanded {
                Some(names) => names.into_iter().map(|n| (n, true)).collect(),
                None => vec![(w, q)],
            }
        })
        .collect();
    let mut args: Vec<String> = Vec::new();
    let mut i = 0;
    while i < words.len() {
        let (w, quoted) = &words[i];
        if !*quoted {
            let target = |j: usize| words.get(j).map(|(t, _)| t.as_str());
            match w.as_str() {
                "2>&1" => {
                    p.err_to = p.out_to;
                    i += 1;
                    continue;
                }
                ">&2" | "1>&2" => {
                    p.out_to = p.err_to;
                    i += 1;
                    continue;
                }
                ">/dev/null" | "1>/dev/null" => {
                    p.out_to = Dest::Discard;
                    i += 1;
                    continue;
                }
                "2>/dev/null" => {
                    p.err_to = Dest::Discard;
                    i += 1;
                    continue;
                }
                "&>/dev/null" => {
                    p.out_to = Dest::Discard;
                    p.err_to = Dest::Discard;
                    i += 1;
                    continue;
                }
                ">" | "1>" | "2>" | "&>" if target(i + 1) == Some("/dev/null") => {
                    match w.as_str() {
                        "2>" => p.err_to = Dest::Discard,
                        "&>" => {
                            p.out_to = Dest::Discard;
                            p.err_to = Dest::Discard;
                        }
                        _ => p.out_to = Dest::Discard,
                    }
                    i += 2;
                    continue;
                }
                "<" if target(i + 1) == Some("/dev/null") => {
                    i += 2;
                    continue;
                }
                _ if w.starts_with('>') || w.starts_with("2>") || w.starts_with('<') => {
                    p.err("bash: line 1: redirection to files is not emulated by the lab\n");
                    p.out_to = saved_out;
                    p.err_to = saved_err;
                    return 1;
                }
                _ => {}
            }
        }
        args.push(w.clone());
        i += 1;
    }
    let status = if args.is_empty() {
        0
    } else {
        dispatch(ctx, args, p).await
    };
    p.out_to = saved_out;
    p.err_to = saved_err;
    status
}

/// The fault/trace name of a command: `ssh:<program>` plus the subcommand for the multi-command
/// Proxmox tools.
fn op_name(args: &[String]) -> String {
    let prog = args[0].rsplit('/').next().unwrap_or("");
    let with_sub = [
        "pvecm",
        "pveceph",
        "pveum",
        "ceph",
        "ceph-volume",
        "qm",
        "pvesm",
        "apt-get",
        "apt",
    ];
    if with_sub.contains(&prog) {
        let subs: Vec<&str> = args[1..]
            .iter()
            .take_while(|a| !a.starts_with('-'))
            .take(2)
            .map(String::as_str)
            .collect();
        match prog {
            // Two-word subcommands: `pvecm qdevice setup`, `pveceph mon create`, `pveum user token`.
            "pveceph" | "pveum" | "ceph-volume" if subs.len() == 2 => {
                format!("ssh:{prog} {} {}", subs[0], subs[1])
            }
            "pvecm" if subs.first() == Some(&"qdevice") && subs.len() == 2 => {
                format!("ssh:{prog} {} {}", subs[0], subs[1])
            }
            _ => match subs.first() {
                Some(s) => format!("ssh:{prog} {s}"),
                None => format!("ssh:{prog}"),
            },
        }
    } else {
        format!("ssh:{prog}")
    }
}

async fn dispatch(ctx: &Ctx, mut args: Vec<String>, p: &mut Proc) -> i32 {
    // `sudo CMD` and `env CMD`: the lab user is root anyway.
    while matches!(
        args.first().map(String::as_str),
        Some("sudo") | Some("command") | Some("exec")
    ) {
        args.remove(0);
        while args.first().map(|a| a.starts_with('-')).unwrap_or(false) {
            args.remove(0);
        }
        if args.is_empty() {
            return 0;
        }
    }
    let op = op_name(&args);
    let start = Instant::now();
    match apply_fault(&ctx.lab, ctx.host, &op, &ctx.conn).await {
        Outcome::Proceed => {}
        Outcome::Fail(msg, code) => {
            p.err(&format!("{}\n", msg.trim_end()));
            ctx.lab.record(&ctx.host_name(), &op, start, false);
            return code.map(i32::from).unwrap_or(1);
        }
        Outcome::Dropped => {
            ctx.lab.record(&ctx.host_name(), &op, start, false);
            return 255;
        }
    }
    ctx.lab.pause("ssh.exec", 1.0).await;
    let status = Box::pin(exec(ctx, args, p)).await;
    ctx.lab.record(&ctx.host_name(), &op, start, status == 0);
    status
}

/// How long the hosts' first-boot cloud-init still runs (latency table `host.first_boot`).
fn first_boot_left(lab: &LabInner) -> Duration {
    lab.latency
        .scaled("host.first_boot", lab.config.time_scale)
        .saturating_sub(lab.started.elapsed())
}

/// `cloud-init status [--wait]`: `status: running` during the first boot (`--wait` blocks
/// until it ends), then `status: done`, exit 0
/// (https://cloudinit.readthedocs.io/en/latest/reference/cli.html#status, exit codes:
/// https://cloudinit.readthedocs.io/en/latest/explanation/return_codes.html).
async fn cloud_init(ctx: &Ctx, rest: &[String], p: &mut Proc) -> i32 {
    if rest.first().map(String::as_str) != Some("status") {
        p.err("usage: cloud-init [-h] [--version] [--debug] [--force] {init,modules,single,query,features,analyze,devel,collect-logs,clean,status,schema} ...\n");
        return 2;
    }
    let left = first_boot_left(&ctx.lab);
    if !left.is_zero() {
        if !rest.iter().any(|a| a == "--wait") {
            p.out("status: running\n");
            return 0;
        }
        tokio::select! {
            _ = tokio::time::sleep(left) => {}
            _ = ctx.conn.cancelled() => return 255,
        }
    }
    p.out("status: done\n");
    0
}

fn not_found(p: &mut Proc, prog: &str) -> i32 {
    if p.interactive {
        p.err(&format!("-bash: {prog}: command not found\n"));
    } else {
        p.err(&format!("bash: line 1: {prog}: command not found\n"));
    }
    127
}

async fn exec(ctx: &Ctx, args: Vec<String>, p: &mut Proc) -> i32 {
    let prog = args[0].clone();
    let rest = &args[1..];
    let name = prog.rsplit('/').next().unwrap_or("").to_string();
    let on_node = match ctx.host {
        HostRef::Node(i) => Some(i),
        HostRef::Bastion => None,
    };
    match name.as_str() {
        "true" | ":" => 0,
        "false" => 1,
        "exit" => {
            rest.first()
                .and_then(|c| c.parse::<i32>().ok())
                .unwrap_or(0)
                & 0xff
                | EXIT_FLAG
        }
        // bash's builtin: `%s` and `%d` take the arguments in turn, `\n` `\t` `\\` escape.
        "printf" => {
            let Some(format) = rest.first() else {
                p.err("printf: usage: printf [-v var] format [arguments]\n");
                return 2;
            };
            let mut args = rest[1..].iter();
            let mut out = String::new();
            let mut chars = format.chars();
            while let Some(c) = chars.next() {
                match c {
                    '%' => match chars.next() {
                        Some('s') | Some('d') => {
                            out.push_str(args.next().map(String::as_str).unwrap_or(""))
                        }
                        Some('%') => out.push('%'),
                        Some(o) => {
                            out.push('%');
                            out.push(o);
                        }
                        None => out.push('%'),
                    },
                    '\\' => match chars.next() {
                        Some('n') => out.push('\n'),
                        Some('t') => out.push('\t'),
                        Some(o) => out.push(o),
                        None => out.push('\\'),
                    },
                    c => out.push(c),
                }
            }
            p.out(&out);
            0
        }
        // The lab's commands are not processes: a signal to a process group finds none
        // running once its channel is gone, as after a real command has ended.
        "kill" => 0,
        "echo" => {
            let (newline, words) = match rest.first().map(String::as_str) {
                Some("-n") => (false, &rest[1..]),
                _ => (true, rest),
            };
            p.out(&words.join(" "));
            if newline {
                p.out("\n");
            }
            0
        }
        "sh" | "bash" => {
            match rest.iter().position(|a| a == "-c") {
                Some(i) => match rest.get(i + 1) {
                    Some(script) => {
                        let script = script.clone();
                        Box::pin(run(ctx, &script, p)).await & !EXIT_FLAG
                    }
                    None => {
                        p.err(&format!("{name}: -c: option requires an argument\n"));
                        2
                    }
                },
                None => {
                    // `bash -s` / `sh` reading a script from stdin.
                    let script = String::from_utf8_lossy(&p.stdin.read_all().await).to_string();
                    Box::pin(run(ctx, &script, p)).await & !EXIT_FLAG
                }
            }
        }
        "hostname" => {
            let h = ctx.host_name();
            match rest.first().map(String::as_str) {
                None | Some("-s") => p.out(&format!("{h}\n")),
                Some("-f") | Some("--fqdn") => p.out(&format!("{h}.lab\n")),
                Some("-I") | Some("-i") => p.out(&format!("{} \n", host_ip(ctx))),
                Some(o) => {
                    p.err(&format!(
                        "hostname: you must be root to change the host name\n{o}\n"
                    ));
                    return 1;
                }
            }
            0
        }
        "uname" => {
            let s = match rest.first().map(String::as_str) {
                Some("-m") | Some("-p") => "aarch64".to_string(),
                Some("-r") => KERNEL.to_string(),
                Some("-n") => ctx.host_name(),
                Some("-a") => format!(
                    "Linux {} {KERNEL} #1 SMP PREEMPT_DYNAMIC PMX aarch64 GNU/Linux",
                    ctx.host_name()
                ),
                _ => "Linux".to_string(),
            };
            p.out(&format!("{s}\n"));
            0
        }
        "dpkg" if rest.first().map(String::as_str) == Some("--print-architecture") => {
            p.out("arm64\n");
            0
        }
        "test" | "[" => test_cmd(ctx, &name, rest, p),
        "cat" => cat(ctx, rest, p).await,
        "whoami" => {
            p.out("root\n");
            0
        }
        "id" => {
            p.out("uid=0(root) gid=0(root) groups=0(root)\n");
            0
        }
        "systemctl" => systemctl(ctx, rest, p).await,
        "pmxcfs" if on_node.is_some() => super::services::pmxcfs(ctx, rest, p).await,
        "killall" if on_node.is_some() => super::services::killall(ctx, rest, p),
        "rm" if on_node.is_some() => super::services::rm(ctx, rest, p),
        "apt-get" | "apt" => apt(ctx, &name, rest, p),
        "cloud-init" => cloud_init(ctx, rest, p).await,
        // Until the first boot's cloud-init has installed Proxmox VE, it is not there.
        "pveversion" if on_node.is_some() && !first_boot_left(&ctx.lab).is_zero() => {
            not_found(p, "pveversion")
        }
        "pveversion" if on_node.is_some() => {
            p.out(&format!(
                "pve-manager/{PVE_VERSION}/{PVE_REPOID} (running kernel: {KERNEL})\n"
            ));
            0
        }
        "pvecm" if on_node.is_some() => super::pvecm::pvecm(ctx, rest, p).await,
        "pveceph" if on_node.is_some() => super::pveceph::pveceph(ctx, rest, p).await,
        "ceph" if on_node.is_some() && ceph_installed(ctx) => {
            super::pveceph::ceph(ctx, rest, p).await
        }
        "ceph-volume" if on_node.is_some() && ceph_installed(ctx) => {
            super::pveceph::ceph_volume(ctx, rest, p).await
        }
        "pvcreate" | "vgcreate" | "lvcreate" | "lvs" | "vgs" if on_node.is_some() => {
            super::pveceph::lvm(ctx, &name, rest, p).await
        }
        "pveum" if on_node.is_some() => pveum(ctx, rest, p).await,
        "sfdisk" if on_node.is_some() => super::disks::sfdisk(ctx, rest, p).await,
        "partx" | "partprobe" if on_node.is_some() => {
            super::disks::reread(ctx, &name, rest, p).await
        }
        "chpasswd" => chpasswd(ctx, p).await,
        "pvesh" if on_node.is_some() => super::pve_cli::pvesh(ctx, rest, p).await,
        "qm" if on_node.is_some() => super::pve_cli::qm(ctx, rest, p).await,
        "corosync-qnetd-tool" if on_node.is_none() && ctx.lab.world().bastion.qnetd_installed => {
            let w = ctx.lab.world();
            let clusters: Vec<String> = w.bastion.qnetd_clusters.iter().cloned().collect();
            drop(w);
            for c in clusters {
                p.out(&format!("Cluster \"{c}\":\n    Algorithm:          Fifty-Fifty split\n    Tie-breaker:        Node with lowest node ID\n"));
            }
            0
        }
        _ => not_found(p, &prog),
    }
}

/// Set on the status of `exit` so the caller stops the command line.
const EXIT_FLAG: i32 = 0x1_0000;

/// Debian trixie as Proxmox VE 9 ships it (`/etc/os-release` is Debian's; PVE does not change it).
pub(crate) const OS_RELEASE_PVE: &str = "PRETTY_NAME=\"Debian GNU/Linux 13 (trixie)\"\nNAME=\"Debian GNU/Linux\"\nVERSION_ID=\"13\"\nVERSION=\"13 (trixie)\"\nVERSION_CODENAME=trixie\nDEBIAN_VERSION_FULL=13.1\nID=debian\nHOME_URL=\"https://www.debian.org/\"\nSUPPORT_URL=\"https://www.debian.org/support\"\nBUG_REPORT_URL=\"https://bugs.debian.org/\"\n";
/// The bastion: an Ubuntu LTS micro instance (an OCI platform image).
const OS_RELEASE_BASTION: &str = "PRETTY_NAME=\"Ubuntu 24.04.3 LTS\"\nNAME=\"Ubuntu\"\nVERSION_ID=\"24.04\"\nVERSION=\"24.04.3 LTS (Noble Numbat)\"\nVERSION_CODENAME=noble\nID=ubuntu\nID_LIKE=debian\nHOME_URL=\"https://www.ubuntu.com/\"\nSUPPORT_URL=\"https://help.ubuntu.com/\"\nBUG_REPORT_URL=\"https://bugs.launchpad.net/ubuntu/\"\nPRIVACY_POLICY_URL=\"https://www.ubuntu.com/legal/terms-and-policies/privacy-policy\"\nUBUNTU_CODENAME=noble\nLOGO=ubuntu-logo\n";
/// Version the lab reports for pve-manager (a lab choice: PVE 9 with official arm64, research §0.2-2).
pub(crate) const PVE_VERSION: &str = "9.1.2";
/// Release shown by `/version`.
pub(crate) const PVE_RELEASE: &str = "9.1";
/// Repository id shown by `/version` and `pveversion` (lab value).
pub(crate) const PVE_REPOID: &str = "9d436f37a0ac4172";
const KERNEL: &str = "6.17.2-1-pve";

/// `chpasswd` (shadow-utils): `USER:PASSWORD` lines on stdin; the lab keeps root's.
async fn chpasswd(ctx: &Ctx, p: &mut Proc) -> i32 {
    let input = String::from_utf8_lossy(&p.stdin.read_all().await).to_string();
    for (n, line) in input.lines().enumerate().filter(|(_, l)| !l.is_empty()) {
        let Some((user, password)) = line.split_once(':') else {
            p.err(&format!("chpasswd: line {}: missing new password\n", n + 1));
            return 1;
        };
        if user != "root" {
            p.err(&format!(
                "chpasswd: line {}: user '{user}' does not exist\n",
                n + 1
            ));
            return 1;
        }
        if let HostRef::Node(i) = ctx.host {
            if let Some(node) = ctx.lab.world().nodes.get_mut(i) {
                node.root_password = Some(password.to_string());
            }
        }
    }
    0
}

fn host_ip(ctx: &Ctx) -> String {
    match ctx.host {
        HostRef::Node(i) => ctx
            .lab
            .hosts
            .get(i)
            .map(|h| h.ip.to_string())
            .unwrap_or_default(),
        HostRef::Bastion => ctx
            .lab
            .bastion
            .as_ref()
            .map(|b| b.ip.to_string())
            .unwrap_or_default(),
    }
}

fn ceph_installed(ctx: &Ctx) -> bool {
    match ctx.host {
        HostRef::Node(i) => ctx
            .lab
            .world()
            .nodes
            .get(i)
            .map(|n| n.ceph_release.is_some())
            .unwrap_or(false),
        HostRef::Bastion => false,
    }
}

/// Paths the emulated filesystem knows: (exists, is_dir, is_block_dev).
fn path_info(ctx: &Ctx, path: &str) -> (bool, bool, bool) {
    let common = [
        "/etc/os-release",
        "/etc/hostname",
        "/etc/debian_version",
        "/root/.ssh/authorized_keys",
    ];
    if common.contains(&path) {
        return (true, false, false);
    }
    if ["/", "/etc", "/root", "/tmp", "/var", "/dev"].contains(&path) {
        return (true, true, false);
    }
    // No /dev/kvm: OCI A1 VMs have no nested virtualisation (research §0.2-1).
    if path == "/dev/kvm" {
        return (
            ctx.lab.config.kvm && matches!(ctx.host, HostRef::Node(_)),
            false,
            false,
        );
    }
    let HostRef::Node(i) = ctx.host else {
        return (false, false, false);
    };
    let w = ctx.lab.world();
    let Some(n) = w.nodes.get(i) else {
        return (false, false, false);
    };
    if n.disks.iter().any(|d| d.dev == path) {
        return (true, false, true);
    }
    if n.lvs
        .iter()
        .any(|l| path == format!("/dev/{}/{}", l.vg, l.name))
    {
        return (true, false, true);
    }
    // `/etc/pve` is pmxcfs's FUSE mount: empty while it is stopped (`/etc/ceph/ceph.conf` is
    // a symlink into it).
    let mounted = n.pmxcfs != super::world::Pmxcfs::Stopped;
    if !mounted && (path.starts_with("/etc/pve/") || path == "/etc/ceph/ceph.conf") {
        return (false, false, false);
    }
    let clustered = n.cluster.is_some();
    let ceph = n.ceph_release.is_some();
    let ceph_conf = super::pveceph::ceph_of(&w, i).is_some();
    if let Some(entry) = path.strip_prefix("/etc/corosync/") {
        let dir = super::world::ETC_COROSYNC_DIRS.contains(&entry);
        return (n.etc_corosync.contains(entry), dir, false);
    }
    if let Some(name) = path.strip_prefix("/etc/pve/nodes/") {
        let known = name == n.name || n.foreign_nodes.contains_key(name);
        return (known, known, false);
    }
    let exists = match path {
        "/etc/pve" | "/etc/pve/nodes" | "/etc/corosync" => return (true, true, false),
        "/etc/pve/corosync.conf" => clustered,
        "/usr/bin/ceph"
        | "/usr/bin/ceph-mon"
        | "/usr/bin/ceph-osd"
        | "/usr/bin/ceph-mgr"
        | "/usr/sbin/ceph-volume" => ceph,
        "/etc/pve/ceph.conf" | "/etc/ceph/ceph.conf" => ceph_conf,
        "/etc/pve/priv/ceph.client.admin.keyring" => super::pveceph::ceph_of(&w, i)
            .map(|c| !c.mons.is_empty())
            .unwrap_or(false),
        "/usr/bin/pvecm" | "/usr/bin/pveceph" | "/usr/sbin/pveum" | "/usr/bin/qm"
        | "/usr/sbin/qm" => true,
        _ => false,
    };
    (exists, false, false)
}

fn test_cmd(ctx: &Ctx, name: &str, rest: &[String], p: &mut Proc) -> i32 {
    let mut a: Vec<&str> = rest.iter().map(String::as_str).collect();
    if name == "[" {
        if a.last() != Some(&"]") {
            p.err("bash: line 1: [: missing `]'\n");
            return 2;
        }
        a.pop();
    }
    let (negate, a) = match a.first() {
        Some(&"!") => (true, &a[1..]),
        _ => (false, &a[..]),
    };
    let r = match a {
        [] => false,
        [s] => !s.is_empty(),
        [op, path] => {
            let (exists, dir, blk) = path_info(ctx, path);
            match *op {
                "-e" => exists,
                "-f" | "-r" | "-s" => exists && !dir && !blk,
                "-d" => exists && dir,
                "-b" => exists && blk,
                "-c" => exists && *path == "/dev/kvm",
                "-x" => exists && path.contains("bin/"),
                "-n" => !path.is_empty(),
                "-z" => path.is_empty(),
                _ => {
                    p.err(&format!(
                        "bash: line 1: {name}: {op}: unary operator expected\n"
                    ));
                    return 2;
                }
            }
        }
        [x, "=", y] | [x, "==", y] => x == y,
        [x, "!=", y] => x != y,
        _ => {
            p.err(&format!("bash: line 1: {name}: too many arguments\n"));
            return 2;
        }
    };
    i32::from(r == negate)
}

async fn cat(ctx: &Ctx, rest: &[String], p: &mut Proc) -> i32 {
    if rest.is_empty() || rest.iter().all(|a| a == "-") {
        let data = p.stdin.read_all().await;
        p.out(&String::from_utf8_lossy(&data));
        return 0;
    }
    let mut status = 0;
    for path in rest {
        match file_content(ctx, path) {
            Some(text) => p.out(&text),
            None => {
                let (exists, dir, _) = path_info(ctx, path);
                if exists && dir {
                    p.err(&format!("cat: {path}: Is a directory\n"));
                } else if exists {
                    p.err(&format!("cat: {path}: Permission denied\n"));
                } else {
                    p.err(&format!("cat: {path}: No such file or directory\n"));
                }
                status = 1;
            }
        }
    }
    status
}

/// pmxcfs serves `/etc/pve` on this node (the bastion has none).
fn pve_mounted(ctx: &Ctx) -> bool {
    match ctx.host {
        HostRef::Node(i) => ctx
            .lab
            .world()
            .nodes
            .get(i)
            .is_some_and(|n| n.pmxcfs != super::world::Pmxcfs::Stopped),
        HostRef::Bastion => false,
    }
}

fn file_content(ctx: &Ctx, path: &str) -> Option<String> {
    let bastion = ctx.host == HostRef::Bastion;
    if (path.starts_with("/etc/pve/") || path == "/etc/ceph/ceph.conf") && !pve_mounted(ctx) {
        return None;
    }
    match path {
        "/etc/os-release" | "/usr/lib/os-release" => Some(
            if bastion {
                OS_RELEASE_BASTION
            } else {
                OS_RELEASE_PVE
            }
            .to_string(),
        ),
        "/etc/hostname" => Some(format!("{}\n", ctx.host_name())),
        "/etc/debian_version" if !bastion => Some("13.1\n".into()),
        "/etc/debian_version" => Some("trixie/sid\n".into()),
        "/root/.ssh/authorized_keys" => Some(format!(
            "{}\n",
            super::keys::public_line(&ctx.lab.secrets.client_key)
        )),
        "/etc/pve/corosync.conf" | "/etc/corosync/corosync.conf" => {
            let HostRef::Node(i) = ctx.host else {
                return None;
            };
            if !path_info(ctx, path).0 {
                return None;
            }
            super::pvecm::corosync_conf(&ctx.lab, i)
        }
        // The node's API certificate (pve-cluster `Cluster/Setup.pm` `gen_pve_ssl_cert`),
        // replaced when the node joins a cluster.
        "/etc/pve/local/pve-ssl.pem" => {
            let HostRef::Node(i) = ctx.host else {
                return None;
            };
            ctx.lab.hosts.get(i)?.tls_identity().map(|t| t.cert_pem())
        }
        "/etc/pve/ceph.conf" | "/etc/ceph/ceph.conf" => {
            let HostRef::Node(i) = ctx.host else {
                return None;
            };
            super::pveceph::ceph_conf(&ctx.lab, i)
        }
        _ => None,
    }
}

/// Whether `unit` runs and whether it is enabled on this host. The units of cluster membership
/// and the Ceph daemons follow `services.rs`; the rest are what a Proxmox VE host runs.
fn unit_state(ctx: &Ctx, unit: &str) -> (bool, bool) {
    match ctx.host {
        HostRef::Bastion => {
            let on = unit == "corosync-qnetd" && ctx.lab.world().bastion.qnetd_installed
                || unit == "ssh"
                || unit == "sshd";
            (on, on)
        }
        HostRef::Node(i) => {
            let w = ctx.lab.world();
            let clustered = w.nodes.get(i).map(|n| n.cluster.is_some()).unwrap_or(false);
            let qdev = w
                .cluster_of(i)
                .map(|c| c.qdevice.is_some())
                .unwrap_or(false);
            let name = w.nodes.get(i).map(|n| n.name.clone()).unwrap_or_default();
            let ceph = super::pveceph::ceph_of(&w, i);
            let enabled = match unit {
                "pve-cluster" | "pveproxy" | "pvedaemon" | "pvestatd" | "ssh" | "sshd" => true,
                "corosync" => clustered,
                "corosync-qdevice" => qdev,
                u if u == format!("ceph-mon@{name}") => {
                    ceph.map(|c| c.mons.contains(&i)).unwrap_or(false)
                }
                u if u == format!("ceph-mgr@{name}") => {
                    ceph.map(|c| c.mgrs.contains(&i)).unwrap_or(false)
                }
                u if u.starts_with("ceph-osd@") => ceph
                    .map(|c| {
                        c.osds
                            .iter()
                            .any(|o| o.node == i && format!("ceph-osd@{}", o.id) == u)
                    })
                    .unwrap_or(false),
                _ => false,
            };
            let active = super::services::unit_active(&w, i, unit).unwrap_or(enabled);
            (active, enabled)
        }
    }
}

async fn systemctl(ctx: &Ctx, rest: &[String], p: &mut Proc) -> i32 {
    let verb = rest.first().map(String::as_str).unwrap_or("");
    let units: Vec<String> = rest
        .iter()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .map(|u| u.trim_end_matches(".service").to_string())
        .collect();
    match verb {
        "is-active" | "is-enabled" => {
            let mut all = true;
            let units = if units.is_empty() {
                vec![String::new()]
            } else {
                units
            };
            for unit in &units {
                let (active, enabled) = unit_state(ctx, unit);
                let on = if verb == "is-active" { active } else { enabled };
                p.out(match (verb, on) {
                    ("is-active", true) => "active\n",
                    ("is-active", false) => "inactive\n",
                    (_, true) => "enabled\n",
                    (_, false) => "disabled\n",
                });
                all &= on;
            }
            match (all, verb) {
                (true, _) => 0,
                (false, "is-active") => 3,
                (false, _) => 1,
            }
        }
        "start" | "stop" | "restart" | "reload-or-restart" => {
            super::services::change(ctx, verb, &units, p).await
        }
        "reload" | "enable" | "disable" | "daemon-reload" => 0,
        _ => {
            p.err(&format!("Unknown command verb '{verb}'.\n"));
            1
        }
    }
}

fn apt(ctx: &Ctx, prog: &str, rest: &[String], p: &mut Proc) -> i32 {
    let verb = rest
        .iter()
        .find(|a| !a.starts_with('-'))
        .map(String::as_str)
        .unwrap_or("");
    match verb {
        "update" => {
            p.out("Reading package lists...\n");
            0
        }
        "install" => {
            let pkgs: Vec<&str> = rest
                .iter()
                .filter(|a| !a.starts_with('-') && *a != "install")
                .map(String::as_str)
                .collect();
            if pkgs.is_empty() {
                p.out("0 upgraded, 0 newly installed, 0 to remove and 0 not upgraded.\n");
                return 0;
            }
            if ctx.host == HostRef::Bastion && pkgs.contains(&"corosync-qnetd") {
                ctx.lab.world().bastion.qnetd_installed = true;
            }
            p.out("Reading package lists...\nBuilding dependency tree...\nReading state information...\n");
            p.out(&format!(
                "Setting up {} ...\n",
                pkgs.join(" ...\nSetting up ")
            ));
            0
        }
        _ => {
            p.err(&format!("E: Invalid operation {verb}\n"));
            let _ = prog;
            100
        }
    }
}

/// Splits PVE-style CLI arguments: positionals, and `--opt value` / `-opt value` /
/// `--opt=value` options; boolean options may stand alone (they mean 1).
pub(crate) struct Args {
    pub(crate) pos: Vec<String>,
    pub(crate) opts: BTreeMap<String, String>,
}

impl Args {
    pub(crate) fn parse(args: &[String], bools: &[&str], values: &[&str]) -> Result<Args, String> {
        let mut pos = Vec::new();
        let mut opts = BTreeMap::new();
        let mut i = 0;
        while i < args.len() {
            let a = &args[i];
            if a.len() > 1 && a.starts_with('-') && a.parse::<f64>().is_err() {
                let raw = a.trim_start_matches('-');
                let (name, inline) = match raw.split_once('=') {
                    Some((n, v)) => (n.to_string(), Some(v.to_string())),
                    None => (raw.to_string(), None),
                };
                if bools.contains(&name.as_str()) {
                    let v = match inline {
                        Some(v) => v,
                        None => match args.get(i + 1).map(String::as_str) {
                            Some(
                                v @ ("0" | "1" | "yes" | "no" | "true" | "false" | "on" | "off"),
                            ) => {
                                i += 1;
                                v.to_string()
                            }
                            _ => "1".to_string(),
                        },
                    };
                    let b = matches!(v.as_str(), "1" | "yes" | "true" | "on");
                    if !matches!(
                        v.as_str(),
                        "0" | "1" | "yes" | "no" | "true" | "false" | "on" | "off"
                    ) {
                        return Err(format!("{name}: type check ('boolean') failed - got '{v}'"));
                    }
                    opts.insert(name, if b { "1".into() } else { "0".into() });
                } else if values.contains(&name.as_str()) {
                    let v = match inline {
                        Some(v) => v,
                        None => {
                            i += 1;
                            match args.get(i) {
                                Some(v) => v.clone(),
                                None => return Err(format!("Option {name} requires an argument")),
                            }
                        }
                    };
                    opts.insert(name, v);
                } else {
                    return Err(format!("Unknown option: {name}"));
                }
            } else {
                pos.push(a.clone());
            }
            i += 1;
        }
        Ok(Args { pos, opts })
    }

    pub(crate) fn get(&self, k: &str) -> Option<&str> {
        self.opts.get(k).map(String::as_str)
    }

    pub(crate) fn flag(&self, k: &str) -> bool {
        self.get(k) == Some("1")
    }
}

/// A PVE CLI usage error: the message, the usage line, and exit 255 (PVE::CLIHandler `exit(-1)`).
pub(crate) fn usage_error(p: &mut Proc, msg: &str, usage: &str) -> i32 {
    if msg.starts_with("Unknown option") || msg.starts_with("Option ") {
        p.err(&format!("{msg}\n400 unable to parse option\n{usage}\n"));
    } else if msg.contains(": ") && !msg.starts_with("400 ") {
        p.err(&format!(
            "400 Parameter verification failed.\n{msg}\n{usage}\n"
        ));
    } else {
        p.err(&format!("{msg}\n{usage}\n"));
    }
    255
}

/// A plain `die` in a PVE CLI: the message on stderr and exit 255 (perl's `die` status).
pub(crate) fn die(p: &mut Proc, msg: &str) -> i32 {
    p.err(&format!("{}\n", msg.trim_end_matches('\n')));
    255
}

/// A synchronous CLI worker's failure when the command has no `$upid_exit`: the error on
/// stderr and exit 0 (pve-common RESTEnvironment.pm `tee_worker`; pvecm.pm/pveceph.pm `$cmddef`).
pub(crate) fn task_error(p: &mut Proc, msg: &str) -> i32 {
    p.err(&format!("{}\n", msg.trim_end().replace('\n', " ")));
    0
}

/// `pveum user token add|remove|list` (pve-access-control `API2/User.pm`).
async fn pveum(ctx: &Ctx, rest: &[String], p: &mut Proc) -> i32 {
    let HostRef::Node(node) = ctx.host else {
        return not_found(p, "pveum");
    };
    let words: Vec<&str> = rest.iter().take(3).map(String::as_str).collect();
    let usage_add = "USAGE: pveum user token add <userid> <tokenid> [OPTIONS] [FORMAT_OPTIONS]";
    match words.as_slice() {
        ["user", "token", "add", ..]
        | ["user", "token", "list", ..]
        | ["user", "token", "remove", ..]
        | ["user", "token", "delete", ..] => {}
        _ => {
            p.err("ERROR: unknown command 'pveum");
            for w in &words {
                p.err(&format!(" {w}"));
            }
            p.err("'\nUSAGE: pveum <COMMAND> [ARGS] [OPTIONS]\n");
            return 255;
        }
    }
    let verb = words[2];
    let a = match Args::parse(
        &rest[3..],
        &["privsep"],
        &["comment", "expire", "output-format"],
    ) {
        Ok(a) => a,
        Err(e) => return usage_error(p, &e, usage_add),
    };
    let Some(user) = a.pos.first().cloned() else {
        return usage_error(p, "400 not enough arguments", usage_add);
    };
    if user != "root@pam" {
        return die(p, &format!("no such user ('{user}')"));
    }
    let format = a.get("output-format").unwrap_or("text").to_string();
    if !["text", "json", "json-pretty", "yaml"].contains(&format.as_str()) {
        return usage_error(
            p,
            &format!("output-format: value '{format}' does not have a value in the enumeration 'text, json, json-pretty, yaml'"),
            usage_add,
        );
    }
    if verb == "list" {
        let w = ctx.lab.world();
        let toks: Vec<(String, bool, String)> = w
            .access(node)
            .map(|a| {
                a.tokens
                    .iter()
                    .map(|(k, t)| (k.clone(), t.privsep, t.comment.clone()))
                    .collect()
            })
            .unwrap_or_default();
        drop(w);
        if format.starts_with("json") {
            let v: Vec<serde_json::Value> = toks
                .iter()
                .map(|(k, ps, c)| serde_json::json!({"tokenid": k, "privsep": u8::from(*ps), "expire": 0, "comment": c}))
                .collect();
            p.out(&format!("{}\n", serde_json::Value::Array(v)));
        } else {
            for (k, ps, _) in toks {
                p.out(&format!("{k} privsep={}\n", u8::from(ps)));
            }
        }
        return 0;
    }
    let Some(tokenid) = a.pos.get(1).cloned() else {
        return usage_error(p, "400 not enough arguments", usage_add);
    };
    // pve-access-control: token names match [A-Za-z][A-Za-z0-9\.\-_]+
    let valid = tokenid.len() >= 2
        && tokenid
            .chars()
            .next()
            .map(|c| c.is_ascii_alphabetic())
            .unwrap_or(false)
        && tokenid
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || ".-_".contains(c));
    if !valid {
        return usage_error(
            p,
            "tokenid: value does not match the regex pattern",
            usage_add,
        );
    }
    if ctx
        .lab
        .world()
        .nodes
        .get(node)
        .map(|n| n.cluster.is_some())
        .unwrap_or(false)
        && !ctx.lab.world().node_quorate(node)
    {
        return die(p, "cluster not ready - no quorum?");
    }
    if let Some(code) = ctx.cli_step("pveum.token", p, die).await {
        return code;
    }
    let mut w = ctx.lab.world();
    let Some(access) = w.access_mut(node) else {
        return die(p, "internal error");
    };
    if verb == "remove" || verb == "delete" {
        if access.tokens.remove(&tokenid).is_none() {
            drop(w);
            return die(p, &format!("no such token '{tokenid}' for user '{user}'"));
        }
        return 0;
    }
    if access.tokens.contains_key(&tokenid) {
        drop(w);
        return usage_error(p, "tokenid: Token already exists.", usage_add);
    }
    let privsep = a.get("privsep").map(|v| v == "1").unwrap_or(true);
    let secret = super::keys::uuid_v4();
    access.tokens.insert(
        tokenid.clone(),
        super::world::Token {
            secret: secret.clone(),
            privsep,
            comment: a.get("comment").unwrap_or("").to_string(),
            expire: a.get("expire").and_then(|e| e.parse().ok()).unwrap_or(0),
        },
    );
    drop(w);
    let full = format!("{user}!{tokenid}");
    let ps = if privsep { "1" } else { "0" };
    match format.as_str() {
        "json" => p.out(&format!(
            "{}\n",
            serde_json::json!({"full-tokenid": full, "info": {"privsep": ps}, "value": secret})
        )),
        "json-pretty" => p.out(&format!(
            "{}\n",
            serde_json::to_string_pretty(
                &serde_json::json!({"full-tokenid": full, "info": {"privsep": ps}, "value": secret})
            )
            .unwrap_or_default()
        )),
        "yaml" => p.out(&format!(
            "---\nfull-tokenid: {full}\ninfo:\n  privsep: '{ps}'\nvalue: {secret}\n"
        )),
        _ => {
            let info = format!("{{\"privsep\":\"{ps}\"}}");
            let rows = [
                ("full-tokenid", full.as_str()),
                ("info", info.as_str()),
                ("value", secret.as_str()),
            ];
            p.out(&box_table(&rows));
        }
    }
    0
}

/// The key/value table PVE's CLI formatter prints for `text` output.
fn box_table(rows: &[(&str, &str)]) -> String {
    let kw = rows
        .iter()
        .map(|(k, _)| k.chars().count())
        .max()
        .unwrap_or(3)
        .max(3);
    let vw = rows
        .iter()
        .map(|(_, v)| v.chars().count())
        .max()
        .unwrap_or(5)
        .max(5);
    let line = |l: &str, m: &str, r: &str, f: &str| {
        format!("{l}{}{m}{}{r}\n", f.repeat(kw + 2), f.repeat(vw + 2))
    };
    let mut s = line("┌", "┬", "┐", "─");
    s.push_str(&format!("│ {:kw$} │ {:vw$} │\n", "key", "value"));
    s.push_str(&line("╞", "╪", "╡", "═"));
    for (i, (k, v)) in rows.iter().enumerate() {
        s.push_str(&format!("│ {k:kw$} │ {v:vw$} │\n"));
        if i + 1 < rows.len() {
            s.push_str(&line("├", "┼", "┤", "─"));
        }
    }
    s.push_str(&line("└", "┴", "┘", "─"));
    s
}

#[cfg(test)]
mod unit {
    use super::*;

    #[test]
    fn command_lines_parse_like_bash() {
        let cases: &[(&str, &str, usize)] = &[
            ("simple", "pvecm status", 1),
            ("and chain", "test -e /dev/kvm && echo yes", 2),
            ("pipe counts as one", "echo pw | pvecm add 1.2.3.4", 1),
            ("quoted operator is a word", "echo 'a && b'", 1),
            ("semicolons", "hostname; uname -m;", 2),
        ];
        for (name, line, n) in cases {
            let l = parse(tokenize(line).expect("tokenize")).expect("parse");
            assert_eq!(l.len(), *n, "{name}");
        }
        let toks = tokenize("echo \"$HOME\" '$HOME' ${USER} $? $NOPE").expect("tokenize");
        let words: Vec<String> = toks
            .into_iter()
            .filter_map(|t| {
                if let Tok::Word(w, _) = t {
                    Some(w)
                } else {
                    None
                }
            })
            .collect();
        assert_eq!(words, vec!["echo", "/root", "$HOME", "root", "\u{1}", ""]);
        for bad in ["echo 'x", "&& ls", "ls |", "echo $(id)"] {
            assert!(tokenize(bad).and_then(parse).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn pve_option_parsing() {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        let a = Args::parse(
            &s(&["10.0.0.1", "--use_ssh", "--link0", "x"]),
            &["use_ssh"],
            &["link0"],
        )
        .expect("ok");
        assert_eq!(a.pos, vec!["10.0.0.1"]);
        assert!(a.flag("use_ssh"));
        let a = Args::parse(&s(&["--privsep", "0"]), &["privsep"], &[]).expect("ok");
        assert!(!a.flag("privsep"));
        assert!(Args::parse(&s(&["--bogus"]), &[], &[]).is_err());
        assert!(Args::parse(&s(&["--link0"]), &[], &["link0"]).is_err());
    }
}
