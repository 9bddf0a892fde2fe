"""The Rego peer of `freetier check --plan` for benches/check.rs: regorus (the Rust Rego
interpreter, Python package `gordon-to-regorus`, import name `regorus`) evaluating the
always_free totals over `terraform show -json` output.

    python benches/check_rego.py once  PLAN.json        # one evaluation, prints the violations
    python benches/check_rego.py bench PLAN.json N      # timings as JSON

`bench` times two things in one process, after the policy is compiled: `eval_ms`, the rule
evaluation alone on input already loaded; and `load_eval_ms`, reading the file, loading it as
input and evaluating (what `freetier check --plan` does in-process). The whole process
(interpreter start, import, compile, load, evaluate) is timed by the caller around `once`.
"""

import json
import statistics
import sys
import time

import regorus

# The same totals as the rulebook's always_free tier, on the flat resource_changes list
# (every module's resources, the idiomatic input for Terraform policies).
POLICY = r"""
package freetier

import rego.v1

managed := [rc.change.after |
	some rc in input.resource_changes
	rc.mode == "managed"
	rc.change.actions != ["delete"]
]

instances := [r | some r in managed_typed("oci_core_instance")]

managed_typed(t) := [rc.change.after |
	some rc in input.resource_changes
	rc.mode == "managed"
	rc.type == t
	rc.change.actions != ["delete"]
]

a1 := [r | some r in instances; r.shape == "VM.Standard.A1.Flex"]

micro := [r | some r in instances; r.shape == "VM.Standard.E2.1.Micro"]

a1_ocpus := sum([r.shape_config[0].ocpus | some r in a1])

a1_memory := sum([r.shape_config[0].memory_in_gbs | some r in a1])

boot_gb(r) := r.source_details[0].boot_volume_size_in_gbs if {
	r.source_details[0].boot_volume_size_in_gbs != null
} else := 47

storage_gb := sum([boot_gb(r) | some r in instances]) + sum([v.size_in_gbs | some v in managed_typed("oci_core_volume")])

reserved_ips := count([r | some r in managed_typed("oci_core_public_ip"); upper(r.lifetime) == "RESERVED"])

lb_mbps := sum([r.shape_details[0].maximum_bandwidth_in_mbps | some r in managed_typed("oci_load_balancer_load_balancer")])

counts := {
	"volume_backup_count": [count(managed_typed("oci_core_volume_backup")), 5],
	"vcn_count": [count(managed_typed("oci_core_vcn")), 2],
	"nat_gateway_count": [count(managed_typed("oci_core_nat_gateway")), 0],
	"service_gateway_count": [count(managed_typed("oci_core_service_gateway")), 0],
	"load_balancer_count": [count(managed_typed("oci_load_balancer_load_balancer")), 1],
	"network_load_balancer_count": [count(managed_typed("oci_network_load_balancer_network_load_balancer")), 1],
	"a1_instance_count": [count(a1), 2],
	"micro_instance_count": [count(micro), 2],
	"a1_ocpu_total": [a1_ocpus, 2],
	"a1_memory_total": [a1_memory, 12],
	"block_storage_total": [storage_gb, 200],
	"reserved_public_ip_count": [reserved_ips, 1],
	"load_balancer_bandwidth": [lb_mbps, 10],
}

violations contains sprintf("%s: %v > %v", [rule, total, limit]) if {
	some rule, pair in counts
	[total, limit] := pair
	total > limit
}
"""


def engine():
    e = regorus.Engine()
    e.add_policy("freetier.rego", POLICY)
    return e


def main():
    mode, plan = sys.argv[1], sys.argv[2]
    e = engine()
    if mode == "once":
        with open(plan) as f:
            e.set_input_json(f.read())
        print(json.dumps(sorted(e.eval_rule("data.freetier.violations"))))
        return
    n = int(sys.argv[3]) if len(sys.argv) > 3 else 20
    with open(plan) as f:
        text = f.read()
    e.set_input_json(text)
    result = sorted(e.eval_rule("data.freetier.violations"))  # warm-up
    evals = []
    for _ in range(n):
        t = time.perf_counter()
        e.eval_rule("data.freetier.violations")
        evals.append((time.perf_counter() - t) * 1000)
    loads = []
    for _ in range(n):
        t = time.perf_counter()
        with open(plan) as f:
            e.set_input_json(f.read())
        e.eval_rule("data.freetier.violations")
        loads.append((time.perf_counter() - t) * 1000)
    print(json.dumps({
        "eval_ms": statistics.median(evals),
        "load_eval_ms": statistics.median(loads),
        "runs": n,
        "violations": result,
    }))


if __name__ == "__main__":
    main()
