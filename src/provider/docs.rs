//! Registry documentation (`docs/resources/*.md`, `docs/data-sources/*.md`,
//! `docs/functions/*.md`, `docs/index.md`) rendered from the schemas, so the docs cannot drift
//! from the code: a test fails when regenerating them would change anything.

use std::collections::BTreeMap;

use crate::framework::{Attribute, Block, Nesting, Provider, Signature};

use super::FreetierProvider;

/// Every page: relative path → Markdown.
pub fn render_all() -> BTreeMap<String, String> {
    let p = FreetierProvider;
    let mut pages = BTreeMap::new();
    pages.insert(
        "index.md".to_string(),
        page("freetier Provider", &p.schema().block, "provider"),
    );
    for r in p.resources() {
        let short = r.type_name().trim_start_matches("freetier_");
        pages.insert(
            format!("resources/{short}.md"),
            page(
                &format!("{} (Resource)", r.type_name()),
                &r.schema().block,
                r.type_name(),
            ),
        );
    }
    for d in p.data_sources() {
        let short = d.type_name().trim_start_matches("freetier_");
        pages.insert(
            format!("data-sources/{short}.md"),
            page(
                &format!("{} (Data Source)", d.type_name()),
                &d.schema().block,
                d.type_name(),
            ),
        );
    }
    for f in p.functions() {
        pages.insert(
            format!("functions/{}.md", f.name()),
            function_page(f.name(), &f.signature()),
        );
    }
    pages
}

fn page(title: &str, block: &Block, name: &str) -> String {
    let mut out = format!(
        "---\npage_title: \"{title}\"\ndescription: |-\n  {}\n---\n\n# {title}\n\n{}\n\n",
        first_sentence(&block.description),
        block.description
    );
    render_block(&mut out, block, "## Schema", name);
    out
}

fn first_sentence(s: &str) -> String {
    s.split_inclusive(". ")
        .next()
        .unwrap_or(s)
        .trim()
        .to_string()
}

fn attr_line(a: &Attribute) -> String {
    let mut flags = vec![a.ty.to_string()];
    if a.sensitive {
        flags.push("Sensitive".into());
    }
    if let Some(d) = &a.deprecation {
        flags.push(format!("Deprecated: {d}"));
    }
    format!("- `{}` ({}) {}\n", a.name, flags.join(", "), a.description)
}

/// Which attributes a docs section lists.
type Section = (&'static str, fn(&Attribute) -> bool);

fn render_block(out: &mut String, block: &Block, heading: &str, anchor: &str) {
    out.push_str(heading);
    out.push_str("\n\n");
    let groups: [Section; 3] = [
        ("Required", |a| a.required),
        ("Optional", |a| a.optional),
        ("Read-Only", |a| a.computed && !a.optional && !a.required),
    ];
    for (label, keep) in groups.iter() {
        let attrs: Vec<&Attribute> = block.attributes.iter().filter(|a| keep(a)).collect();
        let blocks: Vec<_> = block
            .blocks
            .iter()
            .filter(|_| *label == "Optional")
            .collect();
        if attrs.is_empty() && blocks.is_empty() {
            continue;
        }
        out.push_str(&format!("### {label}\n\n"));
        for a in attrs {
            out.push_str(&attr_line(a));
        }
        for nb in blocks {
            let nesting = match nb.nesting {
                Nesting::Single => "Block",
                Nesting::List => "Block List",
                Nesting::Set => "Block Set",
                Nesting::Map => "Block Map",
                Nesting::Group => "Block Group",
            };
            out.push_str(&format!("- `{}` ({nesting}) {} (see [below for nested schema](#nestedblock--{anchor}--{}))\n", nb.type_name, nb.block.description, nb.type_name));
        }
        out.push('\n');
    }
    for nb in &block.blocks {
        out.push_str(&format!(
            "<a id=\"nestedblock--{anchor}--{}\"></a>\n",
            nb.type_name
        ));
        render_block(
            out,
            &nb.block,
            &format!("### Nested Schema for `{}`", nb.type_name),
            &format!("{anchor}--{}", nb.type_name),
        );
    }
}

fn function_page(name: &str, s: &Signature) -> String {
    let args: Vec<String> = s
        .parameters
        .iter()
        .map(|p| format!("{} {}", p.name, p.ty))
        .collect();
    let mut out = format!("---\npage_title: \"{name} function\"\ndescription: |-\n  {}\n---\n\n# function: {name}\n\n{}\n\n## Signature\n\n```text\n{name}({}) {}\n```\n\n## Arguments\n\n", s.summary, s.description, args.join(", "), s.return_type);
    for (i, p) in s.parameters.iter().enumerate() {
        out.push_str(&format!(
            "{}. `{}` ({}) {}\n",
            i + 1,
            p.name,
            p.ty,
            p.description
        ));
    }
    out
}
