//! A layer's Terraform state file (format version 4, what Terraform 0.12 and later and OpenTofu
//! write: `outputs` by name with `value`, and `resources` with `mode`, `type`, `name`,
//! `module` and `instances[].attributes`), read only for what `validate` needs. Values marked
//! sensitive are read like the others; callers never print them.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::{Map, Value};

/// One resource instance of the state.
#[derive(Debug, Clone)]
pub struct Instance {
    /// `oci_core_instance.node["freetier-1"]`, with its module path.
    pub address: String,
    /// The resource type.
    pub ty: String,
    /// Its attributes.
    pub attributes: Map<String, Value>,
}

/// What a layer's state holds.
#[derive(Debug, Clone)]
pub struct LayerState {
    /// The file.
    pub path: PathBuf,
    /// Root outputs: name → value.
    pub outputs: Map<String, Value>,
    /// Managed resource instances.
    pub resources: Vec<Instance>,
}

impl LayerState {
    /// Output `name` as text, when it is a non-empty string.
    pub fn text(&self, name: &str) -> Option<&str> {
        self.outputs
            .get(name)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
    }
}

#[derive(Deserialize)]
struct File {
    version: Option<u64>,
    #[serde(default)]
    outputs: Map<String, Value>,
    #[serde(default)]
    resources: Vec<Resource>,
}

#[derive(Deserialize)]
struct Resource {
    #[serde(default)]
    module: Option<String>,
    #[serde(default)]
    mode: String,
    #[serde(rename = "type", default)]
    ty: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    instances: Vec<ResourceInstance>,
}

#[derive(Deserialize)]
struct ResourceInstance {
    #[serde(default)]
    index_key: Option<Value>,
    #[serde(default)]
    attributes: Map<String, Value>,
}

/// Reads the state at `path`; `flag` is the option that names it. `Err` says, in a clause, why
/// it cannot be used ("… does not exist: is Layer 2 applied …?").
pub fn load(path: &Path, layer: &str, flag: &str) -> Result<LayerState, String> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(format!(
                "{layer}'s state {} does not exist: is {layer} applied, with the local \
                 backend? (give its state file with {flag})",
                path.display()
            ))
        }
        Err(e) => {
            return Err(format!(
                "{layer}'s state {} cannot be read: {e}",
                path.display()
            ))
        }
    };
    parse(path, &text, layer)
}

/// Parses a state file's text.
pub fn parse(path: &Path, text: &str, layer: &str) -> Result<LayerState, String> {
    let file: File = serde_json::from_str(text).map_err(|e| {
        format!(
            "{layer}'s state {} is not a Terraform state file: {e}",
            path.display()
        )
    })?;
    if file.version != Some(4) {
        return Err(format!(
            "{layer}'s state {} is format version {}, not 4 (Terraform 0.12 and later, \
             OpenTofu)",
            path.display(),
            file.version
                .map_or_else(|| "none".to_string(), |v| v.to_string())
        ));
    }
    let outputs = file
        .outputs
        .into_iter()
        .map(|(k, v)| {
            let value = v.get("value").cloned().unwrap_or(Value::Null);
            (k, value)
        })
        .collect();
    let mut resources = Vec::new();
    for r in file.resources.into_iter().filter(|r| r.mode == "managed") {
        for inst in r.instances {
            let key = match &inst.index_key {
                Some(Value::String(s)) => format!("[{s:?}]"),
                Some(Value::Number(n)) => format!("[{n}]"),
                _ => String::new(),
            };
            let prefix = r
                .module
                .as_ref()
                .map(|m| format!("{m}."))
                .unwrap_or_default();
            resources.push(Instance {
                address: format!("{prefix}{}.{}{key}", r.ty, r.name),
                ty: r.ty.clone(),
                attributes: inst.attributes,
            });
        }
    }
    Ok(LayerState {
        path: path.to_path_buf(),
        outputs,
        resources,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outputs_and_managed_resources_are_read() {
        let text = r#"{"version":4,"terraform_version":"1.15.5","serial":3,"lineage":"x",
          "outputs":{"tier":{"value":"always_free","type":"string"},
                     "secret":{"value":"s","type":"string","sensitive":true}},
          "resources":[
            {"mode":"data","type":"freetier_limits","name":"tier","instances":[{"attributes":{}}]},
            {"mode":"managed","type":"oci_core_instance","name":"node","instances":[
              {"index_key":"freetier-1","attributes":{"shape":"VM.Standard.A1.Flex"}}]},
            {"module":"module.net","mode":"managed","type":"oci_core_vcn","name":"v","instances":[
              {"index_key":0,"attributes":{}}]}]}"#;
        let s = parse(Path::new("s"), text, "Layer 1").expect("state");
        assert_eq!(s.text("tier"), Some("always_free"));
        assert_eq!(s.text("secret"), Some("s"));
        let addrs: Vec<&str> = s.resources.iter().map(|r| r.address.as_str()).collect();
        assert_eq!(
            addrs,
            [
                "oci_core_instance.node[\"freetier-1\"]",
                "module.net.oci_core_vcn.v[0]"
            ]
        );
    }

    #[test]
    fn unusable_files_say_why() {
        let cases = [
            ("not json", "{", "is not a Terraform state file"),
            (
                "version 3",
                r#"{"version":3}"#,
                "is format version 3, not 4",
            ),
        ];
        for (name, text, want) in cases {
            let e = parse(Path::new("s"), text, "Layer 2").expect_err(name);
            assert!(e.contains(want), "{name}: {e}");
        }
        let e = load(
            Path::new("/nonexistent/terraform.tfstate"),
            "Layer 3",
            "--talos-state",
        )
        .expect_err("missing");
        assert!(e.starts_with("Layer 3's state /nonexistent/terraform.tfstate does not exist"));
    }
}
