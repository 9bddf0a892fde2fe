//! Reading a Terraform root module from disk before any `init`: its `.tf` files (parsed with
//! hcl-rs, keeping byte spans so every finding has a `file:line`), its variables with their
//! defaults and `.tfvars`, its locals, and the blocks that matter to the free tier. Local
//! child modules (`source = "./…"`) are read the same way, with their inputs evaluated in the
//! caller.
//!
//! Also here: expanding `count` / `for_each` over known values, and walking nested blocks,
//! `dynamic` ones included.
//!
//! Imports `value`, `eval`, `types` and `collect` (for `data.freetier_allocation.*`) from this
//! module tree, and the pure `rules`.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use hcl::edit::expr::Expression;
use hcl::edit::structure::{Attribute, Block, Body, Structure};
use hcl::edit::Span;

use super::eval::{iterate, Eval, Lookup};
use super::types;
use super::value::{format_num, Val};
use crate::rules::Tier;

/// Above this many copies, a `count` is not expanded: one item stands for all of them.
pub const MAX_EXPANSION: usize = 1000;
/// Child modules nested deeper than this are not read (a loop of local sources).
const MAX_MODULE_DEPTH: usize = 16;
/// Locals and data sources referring to one another deeper than this are not followed.
const MAX_CHAIN: usize = 100;

/// Why a configuration could not be read at all (exit 2).
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The directory or a file could not be read.
    #[error("{path}: cannot read: {source}")]
    Io {
        /// What was read.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A file is not valid HCL.
    #[error("{file}:{line}:{column}: cannot parse HCL: {message}")]
    Parse {
        /// The file.
        file: String,
        /// One-based line.
        line: usize,
        /// One-based column.
        column: usize,
        /// The parser's message.
        message: String,
    },
    /// A file is valid HCL but not a Terraform configuration.
    #[error("{file}:{line}: {message}")]
    Invalid {
        /// The file.
        file: String,
        /// One-based line.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// The directory holds no `.tf` file.
    #[error("{0}: no .tf files here; give the directory of a Terraform root module")]
    NoConfig(String),
}

/// One file, kept for turning byte offsets into line numbers.
#[derive(Debug)]
pub struct Source {
    /// The path as shown to the user (`terraform/oci/main.tf`).
    pub name: Rc<str>,
    line_starts: Vec<usize>,
}

impl Source {
    fn new(name: &str, text: &str) -> Source {
        let mut line_starts = vec![0];
        line_starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        Source {
            name: Rc::from(name),
            line_starts,
        }
    }

    /// The one-based line of a byte offset.
    pub fn line(&self, offset: usize) -> usize {
        match self.line_starts.binary_search(&offset) {
            Ok(i) => i + 1,
            Err(i) => i,
        }
    }

    fn loc(&self, span: Option<Range<usize>>) -> Loc {
        Loc {
            file: self.name.clone(),
            line: span.map(|s| self.line(s.start)),
        }
    }
}

/// A place in the configuration: a file and, when known, a line.
#[derive(Clone, Debug, PartialEq)]
pub struct Loc {
    /// The file as shown to the user.
    pub file: Rc<str>,
    /// One-based line.
    pub line: Option<usize>,
}

impl std::fmt::Display for Loc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{line}", self.file),
            None => f.write_str(&self.file),
        }
    }
}

/// A top-level block and the file it is in.
#[derive(Clone, Debug)]
pub struct Blk {
    /// The file.
    pub src: Rc<Source>,
    /// The block.
    pub block: Block,
}

impl Blk {
    /// The block's first label (`"oci_core_instance"` of a resource).
    pub fn label(&self, i: usize) -> &str {
        self.block.labels.get(i).map_or("", |l| l.as_str())
    }

    /// Where the block starts.
    pub fn loc(&self) -> Loc {
        self.src.loc(self.block.span())
    }

    /// The body as a view with no extra bindings.
    pub fn view(&self) -> View<'_> {
        View {
            src: &self.src,
            body: &self.block.body,
            loc: self.loc(),
            bindings: Vec::new(),
            path: String::new(),
            unknown: None,
        }
    }
}

/// A variable's value and where it came from.
#[derive(Clone, Debug)]
pub struct VarDef {
    /// The value after type conversion (unknown when no value is given).
    pub value: Val,
    /// Where the value was set (a tfvars line, the module call, the default).
    pub set_at: Loc,
}

/// Something read but not evaluated, stated rather than skipped.
#[derive(Clone, Debug)]
pub struct Note {
    /// Where.
    pub loc: Loc,
    /// The address or file it is about.
    pub address: String,
    /// What and why.
    pub text: String,
}

/// What the whole run shares: the tier given on the command line.
#[derive(Debug, Default)]
pub struct Shared {
    /// `--tier`.
    pub tier_flag: Option<Tier>,
}

/// A module read from disk, root or child.
pub struct Module {
    /// Its directory as shown to the user.
    pub dir: String,
    /// The root module's directory (for `path.root`).
    pub root_dir: String,
    /// `""` for the root, `module.net.` (with index) for a child.
    pub address: String,
    /// Declared variables and their values.
    pub vars: BTreeMap<String, VarDef>,
    /// Resource blocks.
    pub resources: Vec<Blk>,
    /// Data blocks.
    pub data: Vec<Blk>,
    /// Provider blocks.
    pub providers: Vec<Blk>,
    /// Child modules read from local sources.
    pub children: Vec<Module>,
    /// What was not read or evaluated, stated.
    pub notes: Vec<Note>,
    /// For a child called with `count` / `for_each`: where that is, the call's address, and
    /// which of the two it is (a resource that is one of those copies points there).
    pub call_count: Option<(Loc, String, &'static str)>,
    /// Run-wide options.
    pub shared: Rc<Shared>,
    /// The tier the provider block of the root gives (inherited by children).
    pub provider_tier: RefCell<Option<ProviderTier>>,
    locals: HashMap<String, (Rc<Source>, Attribute)>,
    local_cache: RefCell<HashMap<String, Val>>,
    busy: RefCell<HashSet<String>>,
    data_cache: RefCell<HashMap<String, Val>>,
}

/// The tier the provider's configuration selects, and where.
#[derive(Clone, Debug)]
pub struct ProviderTier {
    /// The value (`Err`: the text given, which is not a tier).
    pub tier: Result<Tier, String>,
    /// Where it was set, when it was.
    pub loc: Option<Loc>,
    /// How it was chosen, for the report.
    pub from: String,
}

/// Where variable values come from, in Terraform's order of precedence (later wins).
#[derive(Clone, Debug, Default)]
pub struct Inputs {
    /// `-var-file` paths, in order.
    pub var_files: Vec<PathBuf>,
    /// `-var NAME=VALUE`, in order.
    pub vars: Vec<(String, String)>,
}

fn read(path: &Path) -> Result<String, LoadError> {
    std::fs::read_to_string(path).map_err(|source| LoadError::Io {
        path: display(path),
        source,
    })
}

// `a/./b/../c` as `a/c`, lexically (a module source is a relative path).
fn clean(path: &Path) -> PathBuf {
    use std::path::Component;
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => match out.components().next_back() {
                Some(Component::Normal(_)) => {
                    out.pop();
                }
                _ => out.push(".."),
            },
            other => out.push(other.as_os_str()),
        }
    }
    if out.as_os_str().is_empty() {
        out.push(".");
    }
    out
}

fn display(path: &Path) -> String {
    let s = path.display().to_string();
    s.strip_prefix("./").map(str::to_owned).unwrap_or(s)
}

// How deeply brackets may nest before a file is refused rather than risking the parser's stack.
const MAX_NESTING: usize = 256;

// The deepest bracket nesting outside strings and comments, and the line it is reached on.
fn nesting(text: &str) -> (usize, usize) {
    let (mut depth, mut max, mut at, mut line) = (0usize, 0usize, 1usize, 1usize);
    let mut chars = text.chars().peekable();
    let mut in_string = false;
    while let Some(c) = chars.next() {
        match c {
            '\n' => {
                line += 1;
                in_string = false;
            }
            '\\' if in_string => {
                chars.next();
            }
            '"' => in_string = !in_string,
            '#' if !in_string => {
                while chars.peek().is_some_and(|c| *c != '\n') {
                    chars.next();
                }
            }
            '(' | '[' | '{' if !in_string => {
                depth += 1;
                if depth > max {
                    (max, at) = (depth, line);
                }
            }
            ')' | ']' | '}' if !in_string => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    (max, at)
}

fn parse(path: &Path) -> Result<(Rc<Source>, Body), LoadError> {
    let text = read(path)?;
    let name = display(path);
    let (depth, line) = nesting(&text);
    if depth > MAX_NESTING {
        return Err(LoadError::Invalid {
            file: name,
            line,
            message: format!(
                "brackets nest {depth} deep here; freetier check reads at most {MAX_NESTING}"
            ),
        });
    }
    let body = hcl::edit::parser::parse_body(&text).map_err(|e| LoadError::Parse {
        file: name.clone(),
        line: e.location().line(),
        column: e.location().column(),
        message: e.message().lines().next().unwrap_or("").to_owned(),
    })?;
    Ok((Rc::new(Source::new(&name, &text)), body))
}

// The value of a `-var` or `TF_VAR_` string: a list or object is HCL, anything else a string
// (which the variable's type then converts, as Terraform does).
fn raw_value(text: &str) -> Val {
    let t = text.trim_start();
    if t.starts_with('[') || t.starts_with('{') {
        if let Ok(e) = hcl::edit::parser::parse_expr(text) {
            return Eval::new(&NoLookup, Vec::new()).eval(&e);
        }
    }
    Val::Str(text.to_owned())
}

/// A lookup for constants (variable defaults, tfvars): every reference is an error.
pub struct NoLookup;

impl Lookup for NoLookup {
    fn var(&self, name: &str) -> Val {
        Val::error(format!("`var.{name}` cannot be used here"))
    }
    fn local(&self, name: &str) -> Val {
        Val::error(format!("`local.{name}` cannot be used here"))
    }
    fn data(&self, ty: &str, name: &str) -> Val {
        Val::error(format!("`data.{ty}.{name}` cannot be used here"))
    }
    fn path(&self, which: &str) -> Val {
        Val::error(format!("`path.{which}` cannot be used here"))
    }
}

fn tf_files(dir: &Path) -> Result<Vec<PathBuf>, LoadError> {
    let entries = std::fs::read_dir(dir).map_err(|source| LoadError::Io {
        path: display(dir),
        source,
    })?;
    let mut files: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    Ok(files)
}

fn file_name(p: &Path) -> &str {
    p.file_name().and_then(|n| n.to_str()).unwrap_or("")
}

impl Module {
    /// Reads the root module in `dir` with its tfvars and the given inputs.
    pub fn load_root(dir: &Path, inputs: &Inputs, shared: Rc<Shared>) -> Result<Module, LoadError> {
        let mut values: Vec<(String, Val, Loc)> = Vec::new();
        // Terraform's order: environment, terraform.tfvars, *.auto.tfvars (lexical), then
        // -var-file and -var as given.
        for (key, value) in std::env::vars() {
            if let Some(name) = key.strip_prefix("TF_VAR_") {
                let loc = Loc {
                    file: Rc::from(format!("environment {key}")),
                    line: None,
                };
                values.push((name.to_owned(), raw_value(&value), loc));
            }
        }
        let files = tf_files(dir)?;
        let mut tfvars: Vec<&PathBuf> = files
            .iter()
            .filter(|p| {
                let n = file_name(p);
                n == "terraform.tfvars" || n == "terraform.tfvars.json"
            })
            .collect();
        tfvars.extend(files.iter().filter(|p| {
            let n = file_name(p);
            n.ends_with(".auto.tfvars") || n.ends_with(".auto.tfvars.json")
        }));
        let extra: Vec<&PathBuf> = inputs.var_files.iter().collect();
        for path in tfvars.into_iter().chain(extra) {
            values.extend(read_tfvars(path)?);
        }
        for (name, text) in &inputs.vars {
            let loc = Loc {
                file: Rc::from(format!("--var {name}")),
                line: None,
            };
            values.push((name.clone(), raw_value(text), loc));
        }
        let given: Vec<(String, Val, Loc)> = values;
        let root = display(dir);
        Module::load(dir, &root, "", given, shared, None, 0, &mut Vec::new())
    }

    #[allow(clippy::too_many_arguments)] // one call site each: the root and a module call
    fn load(
        dir: &Path,
        root_dir: &str,
        address: &str,
        given: Vec<(String, Val, Loc)>,
        shared: Rc<Shared>,
        inherited: Option<ProviderTier>,
        depth: usize,
        stack: &mut Vec<PathBuf>,
    ) -> Result<Module, LoadError> {
        let files = tf_files(dir)?;
        let mut module = Module {
            dir: display(dir),
            root_dir: root_dir.to_owned(),
            address: address.to_owned(),
            vars: BTreeMap::new(),
            resources: Vec::new(),
            data: Vec::new(),
            providers: Vec::new(),
            children: Vec::new(),
            notes: Vec::new(),
            call_count: None,
            shared: shared.clone(),
            provider_tier: RefCell::new(None),
            locals: HashMap::new(),
            local_cache: RefCell::new(HashMap::new()),
            busy: RefCell::new(HashSet::new()),
            data_cache: RefCell::new(HashMap::new()),
        };
        let mut declared: Vec<(String, Rc<Source>, Block)> = Vec::new();
        let mut calls: Vec<Blk> = Vec::new();
        let mut any = false;
        for path in &files {
            let name = file_name(path);
            if name.ends_with(".tf.json") {
                let src = Source::new(&display(path), "");
                module.notes.push(Note {
                    loc: src.loc(None),
                    address: display(path),
                    text: "JSON-syntax configuration is not read by freetier check; the \
                           provider checks what it declares at plan time"
                        .into(),
                });
                continue;
            }
            if !name.ends_with(".tf") {
                continue;
            }
            any = true;
            let (src, body) = parse(path)?;
            if name == "override.tf" || name.ends_with("_override.tf") {
                module.notes.push(Note {
                    loc: src.loc(None),
                    address: src.name.to_string(),
                    text: "override files are read as ordinary files, not merged into the \
                           blocks they override"
                        .into(),
                });
            }
            for structure in body.into_iter() {
                let block = match structure {
                    Structure::Block(b) => b,
                    Structure::Attribute(a) => {
                        return Err(LoadError::Invalid {
                            file: src.name.to_string(),
                            line: src.loc(a.span()).line.unwrap_or(1),
                            message: format!(
                                "the argument {:?} is not valid at the top level of a \
                                 Terraform file (only blocks are)",
                                a.key.as_str()
                            ),
                        })
                    }
                };
                let blk = Blk {
                    src: src.clone(),
                    block,
                };
                match blk.block.ident.as_str() {
                    "resource" => module.resources.push(blk),
                    "data" => module.data.push(blk),
                    "provider" => module.providers.push(blk),
                    "module" => calls.push(blk),
                    "locals" => {
                        for attr in blk.block.body.attributes() {
                            module
                                .locals
                                .entry(attr.key.as_str().to_owned())
                                .or_insert_with(|| (src.clone(), attr.clone()));
                        }
                    }
                    "variable" => {
                        let name = blk.label(0).to_owned();
                        declared.push((name, src.clone(), blk.block));
                    }
                    _ => {}
                }
            }
        }
        if !any {
            return Err(LoadError::NoConfig(display(dir)));
        }
        for (name, src, block) in declared {
            let decl = src.loc(block.span());
            let mut value = None;
            for (n, v, loc) in &given {
                if *n == name {
                    value = Some((v.clone(), loc.clone()));
                }
            }
            let default = block.body.get_attribute("default");
            let (raw, set_at) = match (value, default) {
                (Some(v), _) => v,
                (None, Some(d)) => (
                    Eval::new(&NoLookup, Vec::new()).eval(&d.value),
                    src.loc(d.span()),
                ),
                (None, None) if address.is_empty() => (
                    Val::unknown(format!(
                        "`var.{name}` has no default and no value in terraform.tfvars, \
                         *.auto.tfvars or --var-file"
                    )),
                    decl,
                ),
                (None, None) => (
                    Val::unknown(format!(
                        "`var.{name}` of {} has no default and the module call does not set it",
                        address.trim_end_matches('.')
                    )),
                    decl,
                ),
            };
            let value = match block.body.get_attribute("type") {
                Some(t) => types::convert(raw, &t.value)
                    .unwrap_or_else(|e| Val::error(format!("`var.{name}`: {e}"))),
                None => raw,
            };
            module.vars.insert(name, VarDef { value, set_at });
        }
        // The provider's tier before anything evaluates `data.freetier_allocation.*`, which
        // depends on it; children inherit the root's provider configuration.
        let tier = inherited.unwrap_or_else(|| module.find_provider_tier());
        *module.provider_tier.borrow_mut() = Some(tier);
        stack.push(std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf()));
        for call in calls {
            module.load_call(&call, root_dir, &shared, depth, stack)?;
        }
        stack.pop();
        Ok(module)
    }

    // A `module` block: read a local source once per instance, with its inputs evaluated
    // here; a registry or remote source is stated, not read.
    fn load_call(
        &mut self,
        call: &Blk,
        root_dir: &str,
        shared: &Rc<Shared>,
        depth: usize,
        stack: &mut Vec<PathBuf>,
    ) -> Result<(), LoadError> {
        let name = call.label(0).to_owned();
        let here = format!("{}module.{name}", self.address);
        let source = call
            .block
            .body
            .get_attribute("source")
            .map(|a| Eval::new(self, Vec::new()).eval(&a.value));
        let source = match source {
            Some(Val::Str(s)) => s,
            _ => {
                self.notes.push(Note {
                    loc: call.loc(),
                    address: here,
                    text: "the module's source is not a string; its resources are not read".into(),
                });
                return Ok(());
            }
        };
        if !(source.starts_with("./") || source.starts_with("../")) {
            self.notes.push(Note {
                loc: call.loc(),
                address: here,
                text: format!(
                    "source {source:?} is not a local path, so its resources are not read \
                     before init; not known before plan; the provider checks them at plan time"
                ),
            });
            return Ok(());
        }
        let dir = clean(&Path::new(&self.dir).join(&source));
        let canonical = std::fs::canonicalize(&dir).unwrap_or_else(|_| dir.clone());
        if depth >= MAX_MODULE_DEPTH || stack.contains(&canonical) {
            self.notes.push(Note {
                loc: call.loc(),
                address: here,
                text: format!("source {source:?} calls itself; it is read only once"),
            });
            return Ok(());
        }
        let view = call.view();
        let instances = view.expand(self, &here);
        for inst in instances {
            let mut given = Vec::new();
            {
                let mut ev = Eval::new(self, inst.bindings.clone());
                for attr in call.block.body.attributes() {
                    let key = attr.key.as_str();
                    if matches!(
                        key,
                        "source" | "version" | "count" | "for_each" | "providers" | "depends_on"
                    ) {
                        continue;
                    }
                    let v = ev.eval(&attr.value);
                    given.push((key.to_owned(), v, call.src.loc(attr.span())));
                }
            }
            if inst.count.is_unknown() {
                self.notes.push(Note {
                    loc: inst.count_loc.clone().unwrap_or_else(|| call.loc()),
                    address: here.clone(),
                    text: format!(
                        "how many instances of this module there are is not known before \
                         plan ({}); its resources are counted once",
                        inst.count_why.clone().unwrap_or_default()
                    ),
                });
            }
            let address = format!("{here}{}.", inst.suffix);
            let tier = self.provider_tier.borrow().clone();
            let mut child = Module::load(
                &dir,
                root_dir,
                &address,
                given,
                shared.clone(),
                tier,
                depth + 1,
                stack,
            )?;
            if let Some(loc) = inst.count_loc.clone() {
                let which = if call.block.body.get_attribute("count").is_some() {
                    "count"
                } else {
                    "for_each"
                };
                child.call_count = Some((loc, here.clone(), which));
            }
            self.children.push(child);
        }
        Ok(())
    }

    // provider "freetier" { tier = … }: the first such block without an alias wins.
    fn find_provider_tier(&self) -> ProviderTier {
        for p in &self.providers {
            if p.label(0) != "freetier" || p.block.body.get_attribute("alias").is_some() {
                continue;
            }
            if let Some(attr) = p.block.body.get_attribute("tier") {
                let loc = p.src.loc(attr.span());
                let v = Eval::new(self, Vec::new()).eval(&attr.value);
                return match v {
                    Val::Str(s) => ProviderTier {
                        tier: Tier::parse(&s).map_err(|_| s.clone()),
                        from: format!("provider \"freetier\" tier ({loc})"),
                        loc: Some(loc),
                    },
                    Val::Null => ProviderTier {
                        tier: Ok(Tier::default()),
                        loc: None,
                        from: "the default".into(),
                    },
                    Val::Unknown(why) => ProviderTier {
                        tier: Ok(Tier::default()),
                        from: format!(
                            "the default, since the provider's tier ({loc}) is not known \
                             before plan: {}",
                            why.text
                        ),
                        loc: None,
                    },
                    other => ProviderTier {
                        tier: Err(other.to_string()),
                        from: format!("provider \"freetier\" tier ({loc})"),
                        loc: Some(loc),
                    },
                };
            }
        }
        ProviderTier {
            tier: Ok(Tier::default()),
            loc: None,
            from: "the default".into(),
        }
    }

    /// Every module in the tree, this one first.
    pub fn walk(&self) -> Vec<&Module> {
        let mut out = vec![self];
        for c in &self.children {
            out.extend(c.walk());
        }
        out
    }

    /// The data block `data.TYPE.NAME`.
    pub fn data_block(&self, ty: &str, name: &str) -> Option<&Blk> {
        self.data
            .iter()
            .find(|b| b.label(0) == ty && b.label(1) == name)
    }

    /// The resource block `TYPE.NAME`.
    pub fn resource_block(&self, ty: &str, name: &str) -> Option<&Blk> {
        self.resources
            .iter()
            .find(|b| b.label(0) == ty && b.label(1) == name)
    }
}

fn read_tfvars(path: &Path) -> Result<Vec<(String, Val, Loc)>, LoadError> {
    let name = display(path);
    if name.ends_with(".json") {
        let text = read(path)?;
        let json: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| LoadError::Parse {
                file: name.clone(),
                line: e.line(),
                column: e.column(),
                message: e.to_string(),
            })?;
        let loc = Loc {
            file: Rc::from(name.as_str()),
            line: None,
        };
        return Ok(json
            .as_object()
            .map(|o| {
                o.iter()
                    .map(|(k, v)| (k.clone(), Val::from_json(v), loc.clone()))
                    .collect()
            })
            .unwrap_or_default());
    }
    let (src, body) = parse(path)?;
    let mut out = Vec::new();
    for structure in body.iter() {
        match structure {
            Structure::Attribute(a) => {
                let v = Eval::new(&NoLookup, Vec::new()).eval(&a.value);
                out.push((a.key.as_str().to_owned(), v, src.loc(a.span())));
            }
            Structure::Block(b) => {
                return Err(LoadError::Invalid {
                    file: src.name.to_string(),
                    line: src.loc(b.span()).line.unwrap_or(1),
                    message: "a .tfvars file holds only `name = value` lines, not blocks".into(),
                })
            }
        }
    }
    Ok(out)
}

impl Lookup for Module {
    fn var(&self, name: &str) -> Val {
        match self.vars.get(name) {
            Some(v) => v.value.clone(),
            None => Val::error(format!("`var.{name}` is not declared")),
        }
    }

    fn local(&self, name: &str) -> Val {
        if let Some(v) = self.local_cache.borrow().get(name) {
            return v.clone();
        }
        let Some((_, attr)) = self.locals.get(name) else {
            return Val::error(format!("`local.{name}` is not defined"));
        };
        if self.busy.borrow().len() > MAX_CHAIN {
            return Val::error(format!(
                "`local.{name}` is at the end of a chain of more than {MAX_CHAIN} references"
            ));
        }
        if !self.busy.borrow_mut().insert(name.to_owned()) {
            return Val::error(format!("`local.{name}` refers to itself"));
        }
        let v = Eval::new(self, Vec::new()).eval(&attr.value);
        self.busy.borrow_mut().remove(name);
        self.local_cache
            .borrow_mut()
            .insert(name.to_owned(), v.clone());
        v
    }

    fn data(&self, ty: &str, name: &str) -> Val {
        if ty != "freetier_allocation" && ty != "freetier_limits" {
            return Val::unknown(format!(
                "`data.{ty}.{name}` is a data source, read only when Terraform plans"
            ));
        }
        let key = format!("{ty}.{name}");
        if let Some(v) = self.data_cache.borrow().get(&key) {
            return v.clone();
        }
        if !self.busy.borrow_mut().insert(format!("data.{key}")) {
            return Val::error(format!("`data.{key}` refers to itself"));
        }
        let v = match self.data_block(ty, name) {
            Some(blk) => super::collect::data_value(self, blk),
            None => Val::error(format!("`data.{key}` is not declared")),
        };
        self.busy.borrow_mut().remove(&format!("data.{key}"));
        self.data_cache.borrow_mut().insert(key, v.clone());
        v
    }

    fn path(&self, which: &str) -> Val {
        match which {
            "module" => Val::Str(self.dir.clone()),
            "root" => Val::Str(self.root_dir.clone()),
            "cwd" => Val::Str(".".into()),
            other => Val::error(format!("`path.{other}` does not exist")),
        }
    }
}

/// A block body with the bindings its expressions see, and where it is.
#[derive(Clone)]
pub struct View<'a> {
    /// The file.
    pub src: &'a Rc<Source>,
    /// The body.
    pub body: &'a Body,
    /// Where the block starts.
    pub loc: Loc,
    /// `count`, `each`, dynamic iterators.
    pub bindings: Vec<(String, Val)>,
    /// The nested block path from the top-level block (`shape_config`, `instance[1]`).
    pub path: String,
    /// Set when this view stands for nested blocks whose number is not known (a dynamic block
    /// over an unknown collection): the reason.
    pub unknown: Option<String>,
}

/// One instance of a block after `count` / `for_each`.
#[derive(Clone, Debug)]
pub struct Instance {
    /// `""`, `[0]` or `["key"]`; `[*]` when the instances are not expanded.
    pub suffix: String,
    /// `count` / `each` as the block's expressions see them.
    pub bindings: Vec<(String, Val)>,
    /// How many resources this instance stands for: `Val::Null` for exactly one; a known
    /// number (when not expanded, or invalid); unknown.
    pub count: Val,
    /// Where `count` / `for_each` is.
    pub count_loc: Option<Loc>,
    /// Why the count is not known.
    pub count_why: Option<String>,
    /// Set when `count` / `for_each` has a value Terraform refuses (a string that is not a
    /// number, a list of numbers, null): what is wrong.
    pub invalid: Option<String>,
}

impl<'a> View<'a> {
    /// The attribute `name`, if set.
    pub fn attr(&self, name: &str) -> Option<&'a Attribute> {
        self.body.get_attribute(name)
    }

    /// The value of `name` (null when not set; unknown when this view's count is unknown and
    /// the value depends on it).
    pub fn value(&self, lookup: &dyn Lookup, name: &str) -> Val {
        match self.attr(name) {
            Some(a) => Eval::new(lookup, self.bindings.clone()).eval(&a.value),
            None => Val::Null,
        }
    }

    /// Where `name` is set, else where the block is.
    pub fn loc_of(&self, name: &str) -> Loc {
        match self.attr(name) {
            Some(a) => self.src.loc(a.span()),
            None => self.loc.clone(),
        }
    }

    /// The attribute path of `name` inside the top-level block.
    pub fn path_of(&self, name: &str) -> String {
        if self.path.is_empty() {
            name.to_owned()
        } else {
            format!("{}.{name}", self.path)
        }
    }

    /// The nested blocks `name`, `dynamic "name"` ones expanded over known collections.
    pub fn nested(&self, lookup: &dyn Lookup, name: &str) -> Vec<View<'a>> {
        let mut out = Vec::new();
        let mut index = 0;
        for block in self.body.blocks() {
            let ident = block.ident.as_str();
            if ident == name {
                out.push(self.child(block, &block.body, name, index, Vec::new(), None));
                index += 1;
            } else if ident == "dynamic" && block.labels.first().map(|l| l.as_str()) == Some(name) {
                let Some(content) = block.body.blocks().find(|b| b.ident.as_str() == "content")
                else {
                    continue;
                };
                let iterator = match block.body.get_attribute("iterator") {
                    Some(a) => match &a.value {
                        Expression::Variable(v) => v.as_str().to_owned(),
                        _ => name.to_owned(),
                    },
                    None => name.to_owned(),
                };
                let collection = match block.body.get_attribute("for_each") {
                    Some(a) => Eval::new(lookup, self.bindings.clone()).eval(&a.value),
                    None => Val::error("a dynamic block needs for_each"),
                };
                match iterate(collection) {
                    Ok(pairs) => {
                        for (k, v) in pairs {
                            let mut it = BTreeMap::new();
                            it.insert("key".to_owned(), k);
                            it.insert("value".to_owned(), v);
                            let binding = vec![(iterator.clone(), Val::Map(it))];
                            out.push(self.child(block, &content.body, name, index, binding, None));
                            index += 1;
                        }
                    }
                    Err(Val::Unknown(why)) => {
                        let binding = vec![(iterator.clone(), Val::Unknown(why.clone()))];
                        let why = format!(
                            "dynamic \"{name}\" iterates over a collection that is not known \
                             before plan: {}",
                            why.text
                        );
                        out.push(self.child(block, &content.body, name, index, binding, Some(why)));
                        index += 1;
                    }
                    Err(_) => {}
                }
            }
        }
        out
    }

    fn child(
        &self,
        block: &'a Block,
        body: &'a Body,
        name: &str,
        index: usize,
        extra: Vec<(String, Val)>,
        unknown: Option<String>,
    ) -> View<'a> {
        let mut bindings = self.bindings.clone();
        bindings.extend(extra);
        View {
            src: self.src,
            body,
            loc: self.src.loc(block.span()),
            bindings,
            path: if self.path.is_empty() {
                format!("{name}[{index}]")
            } else {
                format!("{}.{name}[{index}]", self.path)
            },
            unknown: unknown.or_else(|| self.unknown.clone()),
        }
    }

    /// The instances `count` or `for_each` make of this block.
    pub fn expand(&self, lookup: &dyn Lookup, address: &str) -> Vec<Instance> {
        let one = |count: Val, loc: Option<Loc>, why: Option<String>, bindings| Instance {
            suffix: String::new(),
            bindings,
            count,
            count_loc: loc,
            count_why: why,
            invalid: None,
        };
        if let Some(attr) = self.attr("count") {
            let loc = Some(self.src.loc(attr.span()));
            let unknown_index = |why: &str| {
                let mut m = BTreeMap::new();
                m.insert("index".to_owned(), Val::unknown(why.to_owned()));
                vec![("count".to_owned(), Val::Map(m))]
            };
            let v = Eval::new(lookup, self.bindings.clone()).eval(&attr.value);
            return match v {
                Val::Unknown(why) => {
                    let text = why.text.to_string();
                    vec![one(
                        Val::Unknown(why),
                        loc,
                        Some(text.clone()),
                        unknown_index(&text),
                    )]
                }
                v => match v.to_number() {
                    Ok(n) if n >= 0.0 && n.fract() == 0.0 && n <= MAX_EXPANSION as f64 => (0..n
                        as usize)
                        .map(|i| {
                            let mut m = BTreeMap::new();
                            m.insert("index".to_owned(), Val::Num(i as f64));
                            Instance {
                                suffix: format!("[{i}]"),
                                bindings: vec![("count".to_owned(), Val::Map(m))],
                                count: Val::Null,
                                count_loc: loc.clone(),
                                count_why: None,
                                invalid: None,
                            }
                        })
                        .collect(),
                    Ok(n) => {
                        // Invalid or too many to expand: one item carries the number, and the
                        // rulebook judges it.
                        let why = format!(
                            "{address} has count = {}, so count.index is one of many",
                            format_num(n)
                        );
                        let mut inst = one(Val::Num(n), loc, None, unknown_index(&why));
                        inst.suffix = "[*]".into();
                        vec![inst]
                    }
                    Err(e) => {
                        let why = format!("count is not a number: {e}");
                        let mut inst = one(
                            Val::error(why.clone()),
                            loc,
                            Some(why.clone()),
                            unknown_index(&why),
                        );
                        inst.invalid = Some(format!(
                            "The given \"count\" argument value is unsuitable: {e}."
                        ));
                        vec![inst]
                    }
                },
            };
        }
        if let Some(attr) = self.attr("for_each") {
            let loc = Some(self.src.loc(attr.span()));
            let v = Eval::new(lookup, self.bindings.clone()).eval(&attr.value);
            // An evaluation failure is deferred; a known value of the wrong shape is invalid.
            let evaluated = matches!(v, Val::Unknown(_));
            let unknown_each = |why: &str| {
                let mut m = BTreeMap::new();
                m.insert("key".to_owned(), Val::unknown(why.to_owned()));
                m.insert("value".to_owned(), Val::unknown(why.to_owned()));
                vec![("each".to_owned(), Val::Map(m))]
            };
            // Err: the value that stands for the count (unknown, or an error Terraform reports).
            let pairs: Result<Vec<(String, Val)>, Val> = match v {
                Val::Map(m) => Ok(m.into_iter().collect()),
                Val::List(items) => items
                    .into_iter()
                    .map(|i| match i {
                        Val::Str(s) => Ok((s.clone(), Val::Str(s))),
                        Val::Unknown(why) => Err(Val::unknown(why.text.to_string())),
                        other => Err(Val::error(format!(
                            "for_each over a list needs strings (a set of strings), not {}",
                            other.type_name()
                        ))),
                    })
                    .collect(),
                Val::Unknown(why) => Err(Val::Unknown(why)),
                Val::Null => Err(Val::error("for_each is null")),
                other => Err(Val::error(format!(
                    "for_each needs a map or a set of strings, not {}",
                    other.type_name()
                ))),
            };
            return match pairs {
                Ok(pairs) => pairs
                    .into_iter()
                    .map(|(k, v)| {
                        let mut m = BTreeMap::new();
                        m.insert("key".to_owned(), Val::Str(k.clone()));
                        m.insert("value".to_owned(), v);
                        Instance {
                            suffix: format!("[{k:?}]"),
                            bindings: vec![("each".to_owned(), Val::Map(m))],
                            count: Val::Null,
                            count_loc: loc.clone(),
                            count_why: None,
                            invalid: None,
                        }
                    })
                    .collect(),
                Err(v) => {
                    let (why, invalid) = match &v {
                        Val::Unknown(w) if w.error && !evaluated => (w.text.to_string(), true),
                        Val::Unknown(w) => (w.text.to_string(), false),
                        other => (other.to_string(), false),
                    };
                    let mut inst = one(v, loc, Some(why.clone()), unknown_each(&why));
                    if invalid {
                        inst.invalid = Some(format!(
                            "The given \"for_each\" argument value is unsuitable: {why}."
                        ));
                    }
                    vec![inst]
                }
            };
        }
        vec![one(Val::Null, None, None, Vec::new())]
    }
}
