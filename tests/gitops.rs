//! `gitops/`, the repository layout Flux deploys: every manifest parses and is of a known
//! kind, every kustomization's resources exist, every HelmRelease names a HelmRepository of
//! the tree and a pinned chart version, Secrets live only in `*.sops.yaml` templates, the
//! Layer 3 sync path holds the Flux Kustomizations in order; the templates encrypt and decrypt
//! with the real `sops` and an `age-keygen` key; every object, the SOPS templates as
//! stored and what kubectl's kustomize builds validate offline against the schemas of
//! kubernetes-models and @kubernetes-models/flux-cd (tests/schema/validate.mjs, installed
//! by scripts/install-tools.sh), a check with teeth; and every object is accepted, with
//! server-side dry-run, by the lab's Kubernetes API after Flux's CRDs are applied (whose
//! CRDs there carry no schema, hence the offline check).

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use freetier::clients::talos::{Client, TalosContext};
use freetier::clients::Call;
use freetier::lab::talos::{fixtures, NodeBoot, NodePhase, TalosError, TalosFleet, TalosTiming};
use freetier::provider::resources::talos_cluster::manifests;
use serde::Deserialize;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

/// Layer 3's default `gitops_path` (terraform/talos/variables.tf).
const SYNC_PATH: &str = "clusters/freetier";

/// The apiVersion/kind pairs the tree may use: Flux 2.9.4's served versions (the CRDs
/// Layer 3 installs), core v1 and kustomize's own file.
const KNOWN: [(&str, &str); 6] = [
    ("kustomize.toolkit.fluxcd.io/v1", "Kustomization"),
    ("source.toolkit.fluxcd.io/v1", "HelmRepository"),
    ("source.toolkit.fluxcd.io/v1", "GitRepository"),
    ("helm.toolkit.fluxcd.io/v2", "HelmRelease"),
    ("v1", "Namespace"),
    ("v1", "Secret"),
];
const KUSTOMIZE: (&str, &str) = ("kustomize.config.k8s.io/v1beta1", "Kustomization");

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("gitops")
}

fn tool(name: &str) -> PathBuf {
    let local = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(".tools/bin")
        .join(name);
    if local.exists() {
        local
    } else {
        PathBuf::from(name)
    }
}

/// Every `.yaml` file under `dir` except SOPS's own `.sops.yaml`, sorted.
fn yaml_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for p in entries {
        let name = p.file_name().unwrap().to_str().unwrap().to_string();
        if p.is_dir() {
            yaml_files(&p, out);
        } else if name.ends_with(".yaml") && name != ".sops.yaml" {
            out.push(p);
        }
    }
}

/// One YAML document of the tree.
struct Doc {
    file: PathBuf,
    value: Value,
}

impl Doc {
    fn rel(&self) -> String {
        self.file
            .strip_prefix(root())
            .unwrap()
            .display()
            .to_string()
    }
    fn av_kind(&self) -> (&str, &str) {
        (
            self.value["apiVersion"].as_str().unwrap_or(""),
            self.value["kind"].as_str().unwrap_or(""),
        )
    }
    fn name(&self) -> &str {
        self.value["metadata"]["name"].as_str().unwrap_or("")
    }
    fn namespace(&self) -> &str {
        self.value["metadata"]["namespace"].as_str().unwrap_or("")
    }
    fn is_kustomize_file(&self) -> bool {
        self.av_kind() == KUSTOMIZE
    }
}

fn parse(text: &str) -> Result<Vec<Value>, String> {
    let mut out = Vec::new();
    for de in serde_norway::Deserializer::from_str(text) {
        let v = Value::deserialize(de).map_err(|e| e.to_string())?;
        if !v.is_null() {
            out.push(v);
        }
    }
    Ok(out)
}

fn docs() -> Vec<Doc> {
    let mut files = Vec::new();
    yaml_files(&root(), &mut files);
    assert!(!files.is_empty(), "no YAML under gitops/");
    let mut out = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        let values = parse(&text).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        for value in values {
            out.push(Doc {
                file: file.clone(),
                value,
            });
        }
    }
    out
}

#[test]
fn every_manifest_parses_and_is_a_known_kind() {
    let mut failures = Vec::new();
    for d in docs() {
        let (av, kind) = d.av_kind();
        if av.is_empty() || kind.is_empty() {
            failures.push(format!("{}: no apiVersion or kind", d.rel()));
            continue;
        }
        if d.is_kustomize_file() {
            if d.file.file_name().unwrap() != "kustomization.yaml" {
                failures.push(format!(
                    "{}: a kustomize file not named kustomization.yaml",
                    d.rel()
                ));
            }
            continue;
        }
        if !KNOWN.contains(&(av, kind)) {
            failures.push(format!("{}: unknown {av} {kind}", d.rel()));
        }
        if d.name().is_empty() {
            failures.push(format!("{}: {kind} without metadata.name", d.rel()));
        }
        if kind != "Namespace" && d.namespace().is_empty() {
            failures.push(format!(
                "{}: {kind} {} without a namespace",
                d.rel(),
                d.name()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_folder_is_a_kustomization_whose_resources_exist_and_cover_it() {
    let mut failures = Vec::new();
    let all = docs();
    let dirs: BTreeSet<PathBuf> = all
        .iter()
        .map(|d| d.file.parent().unwrap().into())
        .collect();
    for dir in dirs {
        let ks = dir.join("kustomization.yaml");
        let Some(k) = all.iter().find(|d| d.file == ks && d.is_kustomize_file()) else {
            failures.push(format!("{}: no kustomization.yaml", dir.display()));
            continue;
        };
        let listed: BTreeSet<String> = k.value["resources"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default();
        for r in &listed {
            if !dir.join(r).is_file() {
                failures.push(format!("{}: resource {r} does not exist", k.rel()));
            }
        }
        for d in all.iter().filter(|d| d.file.parent() == Some(&dir)) {
            let name = d.file.file_name().unwrap().to_str().unwrap();
            if name != "kustomization.yaml" && !listed.contains(name) {
                failures.push(format!("{}: not listed in {}", d.rel(), k.rel()));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn helm_releases_name_a_repository_of_the_tree_and_a_pinned_version() {
    let all = docs();
    let repos: BTreeSet<(String, String)> = all
        .iter()
        .filter(|d| d.av_kind().1 == "HelmRepository")
        .map(|d| (d.namespace().to_string(), d.name().to_string()))
        .collect();
    let mut failures = Vec::new();
    let mut releases = 0;
    for d in all.iter().filter(|d| d.av_kind().1 == "HelmRelease") {
        releases += 1;
        let spec = &d.value["spec"]["chart"]["spec"];
        let src = &spec["sourceRef"];
        let ns = src["namespace"].as_str().unwrap_or(d.namespace());
        let name = src["name"].as_str().unwrap_or("");
        if src["kind"] != "HelmRepository" || !repos.contains(&(ns.into(), name.into())) {
            failures.push(format!(
                "{}: sourceRef {src} names no HelmRepository",
                d.rel()
            ));
        }
        let version = spec["version"].as_str().unwrap_or("");
        if !pinned(version) {
            failures.push(format!(
                "{}: chart version {version:?} is not pinned",
                d.rel()
            ));
        }
        if spec["chart"].as_str().unwrap_or("").is_empty() {
            failures.push(format!("{}: no chart", d.rel()));
        }
    }
    assert_eq!(releases, 3, "cert-manager, tailscale-operator, alloy");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// An exact SemVer version, with or without a leading `v`: no range, wildcard or tag.
fn pinned(v: &str) -> bool {
    let core = v.strip_prefix('v').unwrap_or(v);
    let (core, pre) = core.split_once('-').unwrap_or((core, ""));
    let parts: Vec<&str> = core.split('.').collect();
    parts.len() == 3
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()))
        && pre.chars().all(|c| c.is_ascii_alphanumeric() || c == '.')
}

#[test]
fn pinned_accepts_only_exact_versions() {
    let cases = [
        ("plain", "1.102.2", true),
        ("leading v", "v1.21.2", true),
        ("prerelease", "1.2.3-rc.1", true),
        ("range", ">=1.0.0", false),
        ("caret", "^1.2.3", false),
        ("wildcard", "1.x", false),
        ("star", "*", false),
        ("two parts", "1.2", false),
        ("empty", "", false),
        ("or", "1.2.3 || 1.2.4", false),
    ];
    for (name, v, want) in cases {
        assert_eq!(pinned(v), want, "{name}: {v}");
    }
}

#[test]
fn secrets_are_only_in_sops_templates_with_placeholder_values() {
    let mut failures = Vec::new();
    let mut secrets = BTreeMap::new();
    for d in docs() {
        let sops_file = d.file.to_str().unwrap().ends_with(".sops.yaml");
        let is_secret = d.av_kind() == ("v1", "Secret");
        if is_secret != sops_file {
            failures.push(format!(
                "{}: {} in a {} file",
                d.rel(),
                d.av_kind().1,
                if sops_file { "*.sops.yaml" } else { "plain" }
            ));
        }
        if !is_secret {
            continue;
        }
        if d.value.get("sops").is_some() {
            failures.push(format!(
                "{}: committed encrypted; ship the template",
                d.rel()
            ));
        }
        let data = &d.value["stringData"];
        let keys: Vec<String> = data
            .as_object()
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default();
        if keys.is_empty()
            || data
                .as_object()
                .unwrap()
                .values()
                .any(|v| v != "REPLACE_ME")
        {
            failures.push(format!(
                "{}: stringData must hold REPLACE_ME values",
                d.rel()
            ));
        }
        secrets.insert(format!("{}/{}", d.namespace(), d.name()), keys);
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // The Tailscale chart's precreated Secret and its keys (chart values.yaml: "a Secret
    // named operator-oauth must be precreated").
    assert_eq!(
        secrets.get("tailscale/operator-oauth"),
        Some(&vec!["client_id".to_string(), "client_secret".to_string()])
    );
    assert!(secrets.contains_key("alloy/grafana-cloud"), "{secrets:?}");
    let rules = std::fs::read_to_string(root().join(".sops.yaml")).unwrap();
    let rules = &parse(&rules).unwrap()[0]["creation_rules"][0];
    assert_eq!(rules["encrypted_regex"], "^(data|stringData)$");
    assert_eq!(rules["path_regex"], ".*\\.sops\\.yaml$");
}

#[test]
fn the_sync_path_orders_sources_cert_manager_then_apps_with_sops_decryption() {
    let all = docs();
    let flux: Vec<&Doc> = all
        .iter()
        .filter(|d| d.av_kind() == ("kustomize.toolkit.fluxcd.io/v1", "Kustomization"))
        .collect();
    // All Flux Kustomizations are what Layer 3's sync path applies.
    for d in &flux {
        assert!(
            d.file.starts_with(root().join(SYNC_PATH)),
            "{}: outside {SYNC_PATH}",
            d.rel()
        );
    }
    let by_name: BTreeMap<&str, &Doc> = flux.iter().map(|d| (d.name(), *d)).collect();
    let deps = |n: &str| -> Vec<String> {
        by_name[n].value["spec"]["dependsOn"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|v| v["name"].as_str().unwrap().to_string())
                    .collect()
            })
            .unwrap_or_default()
    };
    let cases: [(&str, &[&str], &str); 4] = [
        ("sources", &[], "./infrastructure/sources"),
        (
            "cert-manager",
            &["sources"],
            "./infrastructure/cert-manager",
        ),
        ("tailscale", &["cert-manager"], "./apps/tailscale"),
        ("alloy", &["cert-manager"], "./apps/alloy"),
    ];
    assert_eq!(by_name.len(), cases.len(), "{:?}", by_name.keys());
    for (name, want, path) in cases {
        let d = by_name
            .get(name)
            .unwrap_or_else(|| panic!("no Kustomization {name}"));
        assert_eq!(deps(name), want, "{name}: dependsOn");
        let spec = &d.value["spec"];
        assert_eq!(spec["path"], path, "{name}");
        assert!(
            root().join(path).join("kustomization.yaml").is_file(),
            "{name}: {path}"
        );
        assert_eq!(d.namespace(), manifests::FLUX_NAMESPACE, "{name}");
        assert_eq!(
            spec["sourceRef"],
            serde_json::json!({"kind": "GitRepository", "name": "flux-system"}),
            "{name}: the GitRepository Layer 3 makes"
        );
        assert_eq!(
            spec["decryption"],
            serde_json::json!({"provider": "sops", "secretRef": {"name": manifests::SOPS_SECRET}}),
            "{name}"
        );
    }
}

// ---------- the Kubernetes and Flux schemas, offline ----------

/// What to do when node or the schema packages are missing.
const INSTALL_HINT: &str = "run `bash scripts/install-tools.sh`, which installs \
    kubernetes-models, @kubernetes-models/flux-cd and yaml into .tools/schema with npm ci \
    (it needs the machine's node and npm)";

/// `node tests/schema/validate.mjs FILES` in `dir`: whether every document passed, and the
/// validator's report, one `FILE[#N] KIND/NAME: ok` or `... FAIL` line per document.
fn schema_check(dir: &Path, files: &[String]) -> (bool, String) {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let modules = repo.join(".tools/schema/node_modules");
    for pkg in ["kubernetes-models", "@kubernetes-models/flux-cd", "yaml"] {
        assert!(
            modules.join(pkg).join("package.json").is_file(),
            "{pkg} is not in {}: {INSTALL_HINT}",
            modules.display()
        );
    }
    let out = Command::new(tool("node"))
        .current_dir(dir)
        .arg(repo.join("tests/schema/validate.mjs"))
        .arg("--modules")
        .arg(&modules)
        .args(files)
        .output()
        .unwrap_or_else(|e| panic!("node: {e}: the schema check needs Node.js; {INSTALL_HINT}"));
    let report = String::from_utf8_lossy(&out.stdout).to_string();
    // Exit 1 is a verdict on the documents; anything else is the validator failing to run.
    assert!(
        matches!(out.status.code(), Some(0 | 1)),
        "validate.mjs {}: {report}{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), report)
}

/// The report's block for `file`: its documents' lines and their indented errors.
fn report_of(report: &str, file: &str) -> String {
    let mut block = Vec::new();
    let mut inside = false;
    for line in report.lines() {
        if !line.starts_with(' ') {
            inside = line.starts_with(&format!("{file} ")) || line.starts_with(&format!("{file}#"));
        }
        if inside {
            block.push(line);
        }
    }
    block.join("\n")
}

#[test]
fn every_manifest_validates_against_the_kubernetes_and_flux_schemas_offline() {
    let all = docs();
    // kustomize's own files are no API objects; kubectl's kustomize checks them (below).
    let objects: Vec<&Doc> = all.iter().filter(|d| !d.is_kustomize_file()).collect();
    let files: BTreeSet<String> = objects.iter().map(|d| d.rel()).collect();
    let files: Vec<String> = files.into_iter().collect();
    let (passed, report) = schema_check(&root(), &files);
    assert!(passed, "{report}");
    // One `ok` per object: nothing was skipped.
    let ok = report.lines().filter(|l| l.ends_with(": ok")).count();
    assert_eq!(ok, objects.len(), "{report}");
    // The SOPS templates as stored, plain text, are checked as the Secrets they decrypt to.
    let templates: Vec<&&Doc> = objects
        .iter()
        .filter(|d| d.rel().ends_with(".sops.yaml"))
        .collect();
    assert_eq!(templates.len(), 2, "{report}");
    for d in templates {
        let line = format!("{} Secret/{}: ok", d.rel(), d.name());
        assert!(report.lines().any(|l| l == line), "{line}\n{report}");
    }
}

#[test]
fn every_kustomization_file_builds_with_kubectls_kustomize_and_what_it_builds_validates() {
    let tmp = tempfile::tempdir().unwrap();
    let dirs: BTreeSet<PathBuf> = docs()
        .iter()
        .filter(|d| d.is_kustomize_file())
        .map(|d| d.file.parent().unwrap().to_path_buf())
        .collect();
    assert_eq!(dirs.len(), 5, "{dirs:?}");
    let mut built = Vec::new();
    let mut objects = 0;
    for dir in dirs {
        let rel = dir.strip_prefix(root()).unwrap().display().to_string();
        // kustomize reads its file strictly: an unknown field or a missing resource fails.
        let out = Command::new(tool("kubectl"))
            .arg("kustomize")
            .arg(&dir)
            .output()
            .unwrap_or_else(|e| panic!("kubectl: {e}; {INSTALL_HINT}"));
        assert!(
            out.status.success(),
            "{rel}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let yaml = String::from_utf8(out.stdout).unwrap();
        objects += parse(&yaml).unwrap().len();
        let name = format!("{}.yaml", rel.replace('/', "_"));
        std::fs::write(tmp.path().join(&name), yaml).unwrap();
        built.push(name);
    }
    let (passed, report) = schema_check(tmp.path(), &built);
    assert!(passed, "{report}");
    let ok = report.lines().filter(|l| l.ends_with(": ok")).count();
    assert_eq!(ok, objects, "{report}");
}

/// An edit of a manifest of the tree.
type Edit = fn(&mut Value);

#[test]
fn the_schema_check_refuses_what_the_schemas_forbid_and_names_the_path() {
    let all = docs();
    let doc = |file: &str, name: &str| -> Value {
        all.iter()
            .find(|d| d.rel() == file && d.name() == name)
            .unwrap_or_else(|| panic!("no {name} in {file}"))
            .value
            .clone()
    };
    let release = || {
        doc(
            "infrastructure/cert-manager/helmrelease.yaml",
            "cert-manager",
        )
    };
    let kustomization = || doc("clusters/freetier/infrastructure.yaml", "sources");
    let secret = || doc("apps/tailscale/operator-oauth.sops.yaml", "operator-oauth");
    let namespace = || doc("apps/alloy/namespace.yaml", "alloy");
    /// Removes `key` from the object at `pointer`.
    fn remove(v: &mut Value, pointer: &str, key: &str) {
        v.pointer_mut(pointer)
            .and_then(Value::as_object_mut)
            .unwrap()
            .remove(key);
    }
    // (name, manifest, edit, what the report must say; None: it passes)
    let cases: [(&str, Value, Edit, Option<&str>); 10] = [
        ("unchanged-release", release(), |_| {}, None),
        ("unchanged-kustomization", kustomization(), |_| {}, None),
        (
            "release-source-kind",
            release(),
            |v| v["spec"]["chart"]["spec"]["sourceRef"]["kind"] = "HelmRepo".into(),
            Some("/spec/chart/spec/sourceRef/kind: must be equal to one of the allowed values"),
        ),
        (
            "release-without-chart",
            release(),
            |v| remove(v, "/spec/chart/spec", "chart"),
            Some("/spec/chart/spec/chart: must have required property"),
        ),
        (
            "kustomization-without-prune",
            kustomization(),
            |v| remove(v, "/spec", "prune"),
            Some("/spec/prune: must have required property"),
        ),
        (
            "kustomization-without-source",
            kustomization(),
            |v| remove(v, "/spec", "sourceRef"),
            Some("/spec/sourceRef: must have required property"),
        ),
        (
            "kustomization-prune-as-text",
            kustomization(),
            |v| v["spec"]["prune"] = "yes".into(),
            Some("/spec/prune: must be boolean"),
        ),
        (
            "secret-number-value",
            secret(),
            |v| v["stringData"]["client_id"] = 5.into(),
            Some("/stringData/client_id: must be string"),
        ),
        (
            "release-unserved-version",
            release(),
            |v| v["apiVersion"] = "helm.toolkit.fluxcd.io/v9".into(),
            Some("unknown apiVersion/kind helm.toolkit.fluxcd.io/v9 HelmRelease"),
        ),
        (
            "unknown-core-kind",
            namespace(),
            |v| v["kind"] = "Namespaces".into(),
            Some("unknown apiVersion/kind v1 Namespaces"),
        ),
    ];
    let tmp = tempfile::tempdir().unwrap();
    let mut files = Vec::new();
    for (name, mut value, edit, _) in cases.clone() {
        edit(&mut value);
        let file = format!("{name}.yaml");
        // JSON is YAML.
        std::fs::write(tmp.path().join(&file), value.to_string()).unwrap();
        files.push(file);
    }
    let (passed, report) = schema_check(tmp.path(), &files);
    assert!(!passed, "{report}");
    for ((name, _, _, want), file) in cases.iter().zip(&files) {
        let block = report_of(&report, file);
        match want {
            None => assert!(block.ends_with(": ok"), "{name}: {block}\n{report}"),
            Some(want) => assert!(
                block.lines().next().unwrap_or("").ends_with(": FAIL") && block.contains(want),
                "{name}: want {want:?}, got:\n{block}"
            ),
        }
    }
}

// ---------- the real sops ----------

fn age_key(dir: &Path) -> (PathBuf, String) {
    let key = dir.join("test.agekey");
    let out = Command::new("age-keygen")
        .arg("-o")
        .arg(&key)
        .output()
        .expect("age-keygen");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = Command::new("age-keygen")
        .arg("-y")
        .arg(&key)
        .output()
        .expect("age-keygen -y");
    (
        key,
        String::from_utf8(out.stdout).unwrap().trim().to_string(),
    )
}

#[test]
fn sops_templates_encrypt_and_decrypt_with_the_real_sops_and_an_age_key() {
    let tmp = tempfile::tempdir().unwrap();
    let (key, recipient) = age_key(tmp.path());
    let templates: Vec<Doc> = docs()
        .into_iter()
        .filter(|d| d.av_kind() == ("v1", "Secret"))
        .collect();
    assert!(!templates.is_empty());
    // A copy of the tree, so the creation rules of gitops/.sops.yaml apply as they would in
    // the user's repository.
    let work = tmp.path().join("repo");
    std::fs::create_dir_all(&work).unwrap();
    std::fs::copy(root().join(".sops.yaml"), work.join(".sops.yaml")).unwrap();
    for (i, t) in templates.iter().enumerate() {
        let rel = t.rel();
        let file = work.join(&rel);
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        // Fill the template as a user would: distinct values per key.
        let mut text = std::fs::read_to_string(&t.file).unwrap();
        let mut n = 0;
        while let Some(at) = text.find(": REPLACE_ME") {
            n += 1;
            text.replace_range(at..at + 12, &format!(": secret-{i}-{n}-xyz"));
        }
        assert!(n > 0, "{rel}: no REPLACE_ME value");
        std::fs::write(&file, &text).unwrap();
        let out = Command::new(tool("sops"))
            .current_dir(&work)
            .env("SOPS_AGE_RECIPIENTS", &recipient)
            .args(["--encrypt", "--in-place", &rel])
            .output()
            .expect("sops");
        assert!(
            out.status.success(),
            "{rel}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let enc = std::fs::read_to_string(&file).unwrap();
        let v = &parse(&enc).unwrap()[0];
        // Only the values are encrypted: Flux needs the rest in plain text.
        assert_eq!(v["apiVersion"], "v1", "{rel}");
        assert_eq!(v["kind"], "Secret", "{rel}");
        assert_eq!(v["metadata"], t.value["metadata"], "{rel}");
        for (k, val) in v["stringData"].as_object().unwrap() {
            assert!(
                val.as_str().unwrap().starts_with("ENC["),
                "{rel}: {k} = {val}"
            );
        }
        assert!(!enc.contains("-xyz"), "{rel}: a value left in plain text");
        assert_eq!(
            v["sops"]["age"][0]["recipient"],
            recipient.as_str(),
            "{rel}"
        );
        let out = Command::new(tool("sops"))
            .current_dir(&work)
            .env("SOPS_AGE_KEY_FILE", &key)
            .args(["--decrypt", &rel])
            .output()
            .expect("sops -d");
        assert!(
            out.status.success(),
            "{rel}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let dec = &parse(&String::from_utf8(out.stdout).unwrap()).unwrap()[0];
        assert_eq!(dec, &parse(&text).unwrap()[0], "{rel}: round trip");
    }
}

// ---------- the lab's Kubernetes API, server-side dry-run ----------

fn random_ip() -> Ipv4Addr {
    let mut b = [0u8; 3];
    getrandom::fill(&mut b).expect("random");
    Ipv4Addr::new(127, b[0] % 254 + 1, b[1] % 254 + 1, b[2] % 250 + 2)
}

fn call() -> Call {
    Call::new(&CancellationToken::new(), Duration::from_secs(10))
}

/// A bootstrapped one-node lab cluster's admin kubeconfig.
async fn lab_kubeconfig(fleet: &TalosFleet) -> String {
    const WAIT: Duration = Duration::from_secs(20);
    for _ in 0..20 {
        let ip = random_ip();
        let (yaml, creds) = fixtures::controlplane_config("lab", &format!("https://{ip}:6443"), ip);
        let boot = NodeBoot {
            address: ip,
            hostname: format!("talos-{}", ip.octets()[3]),
            user_data: yaml,
            network_config: String::new(),
        };
        let node = match fleet.boot(boot).await {
            Ok(node) => node,
            Err(TalosError::AddressInUse(_) | TalosError::Bind { .. }) => continue,
            Err(e) => panic!("boot: {e}"),
        };
        assert_eq!(
            node.wait_apid(WAIT).await.expect("apid"),
            NodePhase::Running
        );
        let ctx = TalosContext::from_talosconfig(&creds.talosconfig("lab", &[ip]), None)
            .expect("talosconfig");
        let talos = Client::new(&ctx.endpoints[0], &ctx.credentials).expect("client");
        let deadline = Instant::now() + WAIT;
        while talos.bootstrap(&call()).await.is_err() {
            assert!(Instant::now() < deadline, "bootstrap");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        node.wait_kube_api(WAIT).await.expect("kubernetes api");
        return talos.kubeconfig(&call()).await.expect("kubeconfig");
    }
    panic!("no free loopback address in 20 tries")
}

/// `kubectl apply` of `yaml` through `kubeconfig`, server-side, with `extra` flags.
fn kubectl_apply(kubeconfig: &Path, yaml: &str, extra: &[&str]) -> Result<String, String> {
    use std::io::Write;
    let mut child = Command::new(tool("kubectl"))
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args([
            "apply",
            "--server-side",
            "--field-manager=gitops-test",
            // The lab serves no OpenAPI document, which kubectl's client-side validation
            // downloads; the server still checks each object.
            "--validate=false",
            "-f",
            "-",
        ])
        .args(extra)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("kubectl");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(yaml.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    if out.status.success() {
        Ok(text)
    } else {
        Err(format!("{text}{}", String::from_utf8_lossy(&out.stderr)))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_manifest_passes_server_side_dry_run_on_the_lab_with_fluxs_crds() {
    let fleet = TalosFleet::new(TalosTiming {
        time_scale: 0.0,
        tcg: false,
    });
    let kubeconfig = lab_kubeconfig(&fleet).await;
    let tmp = tempfile::tempdir().unwrap();
    let kc = tmp.path().join("kubeconfig");
    std::fs::write(&kc, kubeconfig).unwrap();
    let kc2 = kc.clone();
    let run = move |yaml: String, extra: &'static [&'static str]| {
        let kc = kc2.clone();
        tokio::task::spawn_blocking(move || kubectl_apply(&kc, &yaml, extra))
    };
    // Flux as Layer 3 installs it: its namespace, CRDs, RBAC and controllers.
    let flux = manifests::flux().expect("flux manifest").contents;
    run(flux, &[])
        .await
        .unwrap()
        .expect("Flux's manifest applies");
    // The namespaces for real (a dry-run create in a missing namespace is NotFound, as on a
    // real API server), then every object with ?dryRun=All.
    let all = docs();
    let namespaces: Vec<String> = all
        .iter()
        .filter(|d| d.av_kind().1 == "Namespace")
        .map(|d| serde_json::to_string(&d.value).unwrap())
        .collect();
    run(namespaces.join("\n---\n"), &[])
        .await
        .unwrap()
        .expect("namespaces");
    let mut failures = Vec::new();
    for d in all.iter().filter(|d| !d.is_kustomize_file()) {
        let yaml = serde_json::to_string(&d.value).unwrap();
        match run(yaml, &["--dry-run=server"]).await.unwrap() {
            Ok(out) if out.contains("(server dry run)") => {}
            Ok(out) => failures.push(format!("{} {}: {out}", d.rel(), d.name())),
            Err(e) => failures.push(format!("{} {}: {e}", d.rel(), d.name())),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // The check has teeth: a version Flux does not serve is refused.
    let bogus = "apiVersion: helm.toolkit.fluxcd.io/v9\nkind: HelmRelease\nmetadata: {name: x, namespace: alloy}\nspec: {}\n";
    let refused = run(bogus.to_string(), &["--dry-run=server"]).await.unwrap();
    assert!(refused.is_err(), "{refused:?}");
    // Dry-run stored nothing.
    let out = Command::new(tool("kubectl"))
        .arg("--kubeconfig")
        .arg(&kc)
        .args([
            "get",
            "helmreleases.helm.toolkit.fluxcd.io",
            "-A",
            "-o",
            "name",
        ])
        .output()
        .expect("kubectl get");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "");
}
