//! Acceptance: the provider under real Terraform cores, AutoMTLS on and off.

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use support::*;

const AGE_KEY: &str = r#"
terraform {
  required_providers {
    freetier = { source = "freetier/freetier" }
  }
}

provider "freetier" {
  tier = "always_free"
}

resource "freetier_age_key" "sops" {
  keepers = { rotation = "1" }
}

output "recipient" {
  value = freetier_age_key.sops.public_key
}
"#;

/// The variable the import tests pass the secret key in, as SOPS users keep it.
const KEY_VARIABLE: &str = "FREETIER_TEST_SOPS_AGE_KEY";

#[test]
fn age_key_lives_through_the_whole_lifecycle_on_every_core() {
    on_every_core(&Scenario {
        name: "age key",
        config: AGE_KEY,
        // The key comes from the environment, the keepers from the id: the imported state
        // equals the applied one, keepers included, and the next plan is empty.
        imports: vec![(
            "freetier_age_key.sops",
            |v| ImportId {
                id: format!("env:{KEY_VARIABLE}?rotation=1"),
                env: vec![(
                    KEY_VARIABLE.to_string(),
                    v["private_key"].as_str().unwrap_or_default().to_string(),
                )],
            },
            &[],
        )],
    });
}

/// Applies AGE_KEY, then imports its key into a fresh directory with `id` (the key in
/// KEY_VARIABLE); returns the secret key, the import run and the fresh directory.
fn import_applied_key(id: &str) -> (String, Run, Workdir) {
    let core = &cores()[0];
    let wd = Workdir::new(core, true, AGE_KEY);
    assert_eq!(wd.init().code, 0);
    assert_eq!(wd.apply().code, 0);
    let secret = wd.resource_values("freetier_age_key.sops").unwrap()["private_key"]
        .as_str()
        .unwrap()
        .to_string();
    let imp = Workdir::new(core, true, AGE_KEY);
    assert_eq!(imp.init().code, 0);
    let id = id.replace("SECRET", &secret);
    let run = imp.run_with_env(
        imp.path(),
        &[
            "import",
            "-no-color",
            "-input=false",
            "freetier_age_key.sops",
            &id,
        ],
        &[(KEY_VARIABLE.to_string(), secret.clone())],
    );
    (secret, run, imp)
}

#[test]
fn importing_with_the_secret_key_as_the_id_is_refused_without_the_provider_echoing_it() {
    let (secret, run, imp) = import_applied_key("SECRET");
    assert_eq!(run.code, 1, "{}", run.text());
    let text = run.text();
    assert!(text.contains("The import ID holds a secret key"), "{text}");
    // Terraform itself prints the id it was given ("Importing from ID"); the provider's
    // diagnostic, which follows, adds no copy.
    let diagnostic = &text[text.find("Cannot Import Age Key").unwrap()..];
    let payload = secret.trim_start_matches("AGE-SECRET-KEY-1");
    assert!(!diagnostic.contains(payload), "{diagnostic}");
    assert!(
        imp.resource_values("freetier_age_key.sops").is_none(),
        "nothing imported"
    );
}

#[test]
fn a_key_imported_without_its_keepers_warns_before_the_plan_replaces_it() {
    let (_, run, imp) = import_applied_key(&format!("env:{KEY_VARIABLE}"));
    assert_eq!(run.code, 0, "{}", run.text());
    let plan = imp.plan();
    assert_eq!(plan.code, 2, "{}", plan.text());
    assert!(
        plan.text().contains("Setting Keepers Replaces The Key"),
        "{}",
        plan.text()
    );
}

#[test]
fn changing_a_keeper_replaces_the_key() {
    let core = &cores()[0];
    let wd = Workdir::new(core, true, AGE_KEY);
    assert_eq!(wd.init().code, 0);
    assert_eq!(wd.apply().code, 0);
    let first = wd.resource_values("freetier_age_key.sops").unwrap()["public_key"].clone();
    wd.write(
        "main.tf",
        &AGE_KEY.replace("rotation = \"1\"", "rotation = \"2\""),
    );
    let plan = wd.plan();
    assert_eq!(plan.code, 2, "{}", plan.text());
    assert!(plan.stdout.contains("must be replaced"), "{}", plan.stdout);
    assert_eq!(wd.apply().code, 0);
    let second = wd.resource_values("freetier_age_key.sops").unwrap()["public_key"].clone();
    assert_ne!(first, second);
}

#[test]
fn an_unknown_tier_is_refused_with_the_valid_values() {
    for core in cores() {
        let wd = Workdir::new(&core, true, &AGE_KEY.replace("always_free", "free_forever"));
        assert_eq!(wd.init().code, 0);
        let plan = wd.plan();
        assert_eq!(plan.code, 1, "[{}] {}", core.name, plan.text());
        let text = plan.text();
        assert!(text.contains("Unknown Tier"), "[{}] {text}", core.name);
        assert!(
            text.contains("always_free, pay_as_you_go"),
            "[{}] {text}",
            core.name
        );
    }
}

#[test]
fn every_attribute_in_the_schema_has_a_description() {
    let core = &cores()[0];
    let wd = Workdir::new(core, true, AGE_KEY);
    assert_eq!(wd.init().code, 0);
    let r = wd.run(&["providers", "schema", "-json"]);
    assert_eq!(r.code, 0, "{}", r.text());
    let schema: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let p = &schema["provider_schemas"][ADDRESS];
    let mut missing = Vec::new();
    let mut blocks = vec![("provider".to_string(), p["provider"]["block"].clone())];
    for kind in ["resource_schemas", "data_source_schemas"] {
        for (name, s) in p[kind].as_object().into_iter().flatten() {
            blocks.push((name.clone(), s["block"].clone()));
        }
    }
    let mut checked = 0;
    while let Some((name, block)) = blocks.pop() {
        for (attr, a) in block["attributes"].as_object().into_iter().flatten() {
            checked += 1;
            if a["description"].as_str().unwrap_or_default().is_empty() {
                missing.push(format!("{name}.{attr}"));
            }
        }
        for (bt, b) in block["block_types"].as_object().into_iter().flatten() {
            blocks.push((format!("{name}.{bt}"), b["block"].clone()));
        }
    }
    assert!(checked > 0, "no attributes found in {}", r.stdout);
    assert!(
        missing.is_empty(),
        "attributes without a description: {missing:?}"
    );
}

fn spawn_plugin(envs: &[(&str, &str)]) -> std::process::Output {
    let mut cmd = Command::new(provider_binary());
    cmd.env_clear().stdin(Stdio::null());
    for (k, v) in envs {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

#[test]
fn run_by_hand_the_binary_explains_itself_and_exits_1() {
    let out = spawn_plugin(&[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty(), "stdout must stay clean");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("this binary is a plugin"), "{err}");
    assert!(err.contains("terraform init"), "{err}");
}

#[test]
fn an_unparsable_client_certificate_is_one_clear_line_and_exit_1() {
    let out = spawn_plugin(&[
        (
            "TF_PLUGIN_MAGIC_COOKIE",
            "d602bf8f470bc67ca7faa0386276bbdd4330efaf76d1a219cb4d6991ca9872b2",
        ),
        ("PLUGIN_PROTOCOL_VERSIONS", "5,6"),
        (
            "PLUGIN_CLIENT_CERT",
            "-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n",
        ),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty(), "no handshake may be printed");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("PLUGIN_CLIENT_CERT"), "{err}");
}

#[test]
fn the_handshake_line_is_the_only_stdout_and_has_go_plugin_shape() {
    let mut child = Command::new(provider_binary())
        .env(
            "TF_PLUGIN_MAGIC_COOKIE",
            "d602bf8f470bc67ca7faa0386276bbdd4330efaf76d1a219cb4d6991ca9872b2",
        )
        .env("PLUGIN_PROTOCOL_VERSIONS", "5,6")
        .env_remove("PLUGIN_CLIENT_CERT")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    child.kill().ok();
    child.wait().ok();
    let parts: Vec<&str> = line.trim_end().split('|').collect();
    assert_eq!(parts.len(), 6, "{line}");
    assert_eq!(&parts[..3], ["1", "5", "tcp"]);
    assert!(parts[3].starts_with("127.0.0.1:"), "loopback only: {line}");
    assert_eq!(parts[4], "grpc");
    assert_eq!(parts[5], "", "plaintext without PLUGIN_CLIENT_CERT");
}
