//! Fuzzes the HCL audit (`freetier::check::check`, what `freetier check DIR` runs) on any
//! text as a module's `main.tf`. It must report or refuse, never panic: `check` turns a panic
//! into "internal error", and libFuzzer's panic hook stops on the panic itself, so both
//! count as a crash here.

#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use freetier::check::{self, Options};
use libfuzzer_sys::fuzz_target;

/// A module directory of this process's own, holding only `main.tf`.
fn module_dir() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::env::temp_dir()
            .join(format!("freetier-fuzz-{}", std::process::id()))
            .join("module");
        std::fs::create_dir_all(&dir).expect("a temp dir");
        dir
    })
}

fuzz_target!(|data: &[u8]| {
    let dir = module_dir();
    std::fs::write(dir.join("main.tf"), data).expect("main.tf written");
    let opts = Options {
        dir: dir.clone(),
        ..Options::default()
    };
    if let Err(message) = check::check(&opts) {
        assert!(!message.contains("internal error"), "{message}");
    }
});
