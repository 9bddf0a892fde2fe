//! Acceptance: the free-tier rulebook at plan time, on real Terraform cores.

mod support;

use support::*;

const HEAD: &str = r#"
terraform {
  required_providers {
    freetier = { source = "freetier/freetier" }
  }
}
"#;

fn config(body: &str) -> String {
    format!("{HEAD}\n{body}")
}

fn plan_fails_with(core: &Core, body: &str, needles: &[&str]) {
    let wd = Workdir::new(core, true, &config(body));
    assert_eq!(wd.init().code, 0);
    let plan = wd.plan();
    let text = plan.text();
    assert_eq!(plan.code, 1, "[{}] the plan must stop:\n{text}", core.name);
    for n in needles {
        assert!(
            text.contains(n),
            "[{}] expected {n:?} in:\n{text}",
            core.name
        );
    }
}

#[test]
fn a_stack_inside_always_free_plans_and_reports_the_real_sizes() {
    let body = r#"
data "freetier_allocation" "stack" {
  instance {
    name      = "node-1"
    shape     = "VM.Standard.A1.Flex"
    ocpus     = 1
    memory_gb = 8
    boot_volume_gb = 50
  }
  instance {
    name      = "node-2"
    shape     = "VM.Standard.A1.Flex"
    ocpus     = 1
    memory_gb = 6
    boot_volume_gb = 50
  }
  instance {
    name  = "bastion"
    shape = "VM.Standard.E2.1.Micro"
    boot_volume_gb = 50
  }
  reserved_public_ips = 1
  vcns                = 1
  budget_alert {
    name          = "any-spend"
    threshold_usd = 0.01
  }
}

output "node1_memory" { value = data.freetier_allocation.stack.sizes["node-1"].memory_gb }
output "free" { value = data.freetier_allocation.stack.free }
output "storage_headroom" { value = data.freetier_allocation.stack.totals["block_storage_gb"].headroom }
"#;
    for core in cores() {
        let wd = Workdir::new(&core, true, &config(body));
        assert_eq!(wd.init().code, 0);
        let apply = wd.apply();
        assert_eq!(apply.code, 0, "[{}] {}", core.name, apply.text());
        let out = wd.run(&["output", "-json"]);
        let j: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
        assert_eq!(
            j["node1_memory"]["value"], 6,
            "[{}] Always Free rounds A1 memory to 6 GB per OCPU",
            core.name
        );
        assert_eq!(j["free"]["value"], true, "[{}]", core.name);
        assert_eq!(
            j["storage_headroom"]["value"], 50,
            "[{}] 200 GB less three 50 GB boot volumes",
            core.name
        );
        assert_eq!(wd.plan().code, 0, "[{}] nothing left to change", core.name);
    }
}

#[test]
fn three_a1_nodes_on_always_free_stop_at_plan_with_the_numbers_and_the_source() {
    let body = r#"
data "freetier_allocation" "stack" {
  instance {
    name  = "cp"
    shape = "VM.Standard.A1.Flex"
    ocpus = 2
    memory_gb = 12
  }
  instance {
    name  = "w1"
    shape = "VM.Standard.A1.Flex"
    ocpus = 1
    memory_gb = 6
  }
  instance {
    name  = "w2"
    shape = "VM.Standard.A1.Flex"
    ocpus = 1
    memory_gb = 6
  }
}
"#;
    for core in cores() {
        plan_fails_with(
            &core,
            body,
            &["instance", "4", "2", "always_free", "2026-06-12"],
        );
    }
}

#[test]
fn fractional_ocpus_and_a_second_reserved_ip_point_at_their_attributes() {
    let body = r#"
data "freetier_allocation" "stack" {
  instance {
    name  = "node"
    shape = "VM.Standard.A1.Flex"
    ocpus = 1.5
    memory_gb = 9
  }
  reserved_public_ips = 2
}
"#;
    for core in cores() {
        plan_fails_with(&core, body, &["ocpus", "whole", "reserved_public_ips"]);
    }
}

#[test]
fn the_limits_data_source_cites_its_sources() {
    let body = r#"
data "freetier_limits" "free" {}
data "freetier_limits" "payg" { tier = "pay_as_you_go" }
output "free_a1" { value = data.freetier_limits.free.values["a1_ocpus"] }
output "payg_a1" { value = data.freetier_limits.payg.values["a1_ocpus"] }
output "sources" { value = [for l in data.freetier_limits.free.limits : l.source if l.key == "a1_ocpus"] }
"#;
    let core = &cores()[0];
    let wd = Workdir::new(core, true, &config(body));
    assert_eq!(wd.init().code, 0);
    let apply = wd.apply();
    assert_eq!(apply.code, 0, "{}", apply.text());
    let j: serde_json::Value = serde_json::from_str(&wd.run(&["output", "-json"]).stdout).unwrap();
    assert_eq!(j["free_a1"]["value"], 2);
    assert_eq!(j["payg_a1"]["value"], 4);
    // The source is a page users can open: Oracle's own, and its copy as of the date.
    let source = j["sources"]["value"][0].as_str().unwrap_or_default();
    for page in [
        "https://docs.oracle.com/en-us/iaas/Content/FreeTier/freetier_topic-Always_Free_Resources.htm",
        "https://web.archive.org/web/20260612144234/",
    ] {
        assert!(source.contains(page), "{page} missing: {source}");
    }
}

#[test]
fn functions_lay_out_nodes_and_list_violations_on_cores_that_have_them() {
    let body = r#"
locals {
  payg = provider::freetier::ampere_layout("pay_as_you_go", 3)
  free = provider::freetier::ampere_layout("always_free", 2)
  bad  = provider::freetier::violations("always_free", {
    instances = [
      { name = "a", shape = "VM.Standard.A1.Flex", ocpus = 3, memory_gb = 18 },
    ]
  })
}
output "payg_ocpus" { value = [for n in local.payg.nodes : n.ocpus] }
output "payg_memory" { value = [for n in local.payg.nodes : n.memory_gb] }
output "free_ceph_gb" { value = local.free.ceph_gb }
output "bad_paths" { value = [for v in local.bad : v.path] }
"#;
    let mut ran = 0;
    for core in cores().into_iter().filter(|c| c.at_least(1, 8)) {
        ran += 1;
        let wd = Workdir::new(&core, true, &config(body));
        assert_eq!(wd.init().code, 0);
        let apply = wd.apply();
        assert_eq!(apply.code, 0, "[{}] {}", core.name, apply.text());
        let j: serde_json::Value =
            serde_json::from_str(&wd.run(&["output", "-json"]).stdout).unwrap();
        assert_eq!(
            j["payg_ocpus"]["value"],
            serde_json::json!([2, 1, 1]),
            "[{}]",
            core.name
        );
        assert_eq!(
            j["payg_memory"]["value"],
            serde_json::json!([12, 6, 6]),
            "[{}]",
            core.name
        );
        assert!(j["free_ceph_gb"]["value"].is_number());
        assert!(
            j["bad_paths"]["value"].as_array().is_some_and(|a| a
                .iter()
                .any(|p| p.as_str().unwrap_or("").starts_with("instances[0]"))),
            "[{}] {}",
            core.name,
            j["bad_paths"]
        );

        let impossible = config(
            "output \"x\" { value = provider::freetier::ampere_layout(\"always_free\", 3) }",
        );
        let wd = Workdir::new(&core, true, &impossible);
        assert_eq!(wd.init().code, 0);
        let plan = wd.plan();
        assert_eq!(plan.code, 1, "[{}] {}", core.name, plan.text());
        assert!(
            plan.text().contains("whole"),
            "[{}] the error says why: {}",
            core.name,
            plan.text()
        );
    }
    assert!(
        ran > 0,
        "no core ≥ 1.8 to test functions on (1.15.5 is installed by scripts/install-tools.sh)"
    );
}
