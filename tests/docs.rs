//! The registry docs in `docs/` are generated from the schemas. This fails when they are
//! stale; `FREETIER_UPDATE_DOCS=1 cargo test --test docs` regenerates them.

use std::path::PathBuf;

#[test]
fn registry_docs_match_the_schemas() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("docs");
    let update = std::env::var_os("FREETIER_UPDATE_DOCS").is_some();
    let mut stale = Vec::new();
    for (rel, text) in freetier::provider::docs::render_all() {
        let path = root.join(&rel);
        if update {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, &text).unwrap();
        } else if std::fs::read_to_string(&path).ok().as_deref() != Some(text.as_str()) {
            stale.push(rel);
        }
    }
    assert!(
        stale.is_empty(),
        "docs are stale for {stale:?}: run FREETIER_UPDATE_DOCS=1 cargo test --test docs"
    );
}
