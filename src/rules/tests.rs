//! Table tests for the rulebook. Every case names the rule it exercises and cites the source
//! of the figure it relies on ("policy §N" is `shared/research/oci_policy.md`).

use super::check::{SRC_INPUT, SRC_LB_SHAPE, SRC_REQUIRED, SRC_SHAPES};
use super::*;

// ---- helpers -----------------------------------------------------------------------------------

const E: Severity = Severity::Error;
const W: Severity = Severity::Warning;

fn a1(ocpus: f64, memory_gb: f64) -> Instance {
    Instance::a1(ocpus, memory_gb)
}

fn micro() -> Instance {
    Instance::micro()
}

fn shaped(shape: &str) -> Instance {
    Instance {
        shape: shape.into(),
        ..Instance::default()
    }
}

fn with_count(instance: Instance, count: impl Into<Quantity>) -> Instance {
    Instance {
        count: count.into(),
        ..instance
    }
}

fn instances(list: Vec<Instance>) -> Allocation {
    Allocation {
        instances: list,
        ..Allocation::default()
    }
}

fn n_counted(n: usize) -> Vec<Counted> {
    (0..n).map(|i| Counted::named(&format!("r{i}"))).collect()
}

fn image(size: impl Into<Quantity>) -> CustomImage {
    CustomImage {
        size_gb: size.into(),
        ..CustomImage::default()
    }
}

fn stored(gb: impl Into<Quantity>) -> ObjectStorage {
    ObjectStorage {
        gb: gb.into(),
        ..ObjectStorage::default()
    }
}

fn alert(threshold: Quantity) -> BudgetAlert {
    BudgetAlert {
        label: None,
        threshold_usd: threshold,
    }
}

fn lb(shape: Value<String>, min: Quantity, max: Quantity) -> LoadBalancer {
    LoadBalancer {
        shape,
        min_bandwidth_mbps: min,
        max_bandwidth_mbps: max,
        ..LoadBalancer::default()
    }
}

const U: Quantity = Value::Unknown;
const ABSENT: Quantity = Value::Absent;

struct Case {
    name: &'static str,
    source: &'static str,
    tier: Tier,
    alloc: Allocation,
    expect: Vec<(RuleId, Severity, &'static str)>,
}

fn case(
    name: &'static str,
    source: &'static str,
    tier: Tier,
    alloc: Allocation,
    expect: Vec<(RuleId, Severity, &'static str)>,
) -> Case {
    Case {
        name,
        source,
        tier,
        alloc,
        expect,
    }
}

use Tier::{AlwaysFree as AF, PayAsYouGo as PAYG};

fn run(cases: Vec<Case>) {
    let mut failures = Vec::new();
    for c in &cases {
        assert!(
            !c.source.is_empty(),
            "{}: every case cites its source",
            c.name
        );
        let report = check(c.tier, &c.alloc);
        let mut got: Vec<(RuleId, Severity, String)> = report
            .violations
            .iter()
            .map(|v| (v.rule, v.severity, v.subject.to_string()))
            .collect();
        let mut want: Vec<(RuleId, Severity, String)> = c
            .expect
            .iter()
            .map(|(r, s, p)| (*r, *s, (*p).to_owned()))
            .collect();
        got.sort_by(|a, b| (a.0, &a.2).cmp(&(b.0, &b.2)));
        want.sort_by(|a, b| (a.0, &a.2).cmp(&(b.0, &b.2)));
        if got != want {
            let details: Vec<&str> = report
                .violations
                .iter()
                .map(|v| v.detail.as_str())
                .collect();
            failures.push(format!(
                "{} [{}]\n  want {want:?}\n  got  {got:?}\n  details {details:#?}",
                c.name, c.source
            ));
        }
        for v in &report.violations {
            assert!(
                !v.detail.is_empty() && !v.source.is_empty(),
                "{}: empty detail or source",
                c.name
            );
            assert_public(c.name, &v.detail);
            assert_public(c.name, v.source);
            assert_eq!(v.summary, v.rule.summary(), "{}", c.name);
        }
    }
    assert!(
        failures.is_empty(),
        "{} failing cases:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

// ---- tiers -------------------------------------------------------------------------------------

#[test]
fn tier_parse_table() {
    // (input, source, expected)
    let cases: [(&str, &str, Option<Tier>); 8] = [
        (
            "always_free",
            "freetier issue, provider argument tier",
            Some(AF),
        ),
        (
            "pay_as_you_go",
            "freetier issue, provider argument tier",
            Some(PAYG),
        ),
        ("", "freetier issue: a wrong tier is refused", None),
        ("Always_Free", "exact names only", None),
        (" always_free", "no trimming", None),
        ("free", "not a tier", None),
        ("payg", "not a tier", None),
        ("always_free\0", "not a tier", None),
    ];
    for (input, source, want) in cases {
        match (Tier::parse(input), want) {
            (Ok(got), Some(want)) => {
                assert_eq!(got, want, "{input:?} ({source})");
                assert_eq!(got.as_str(), input);
                assert_eq!(input.parse::<Tier>(), Ok(want));
            }
            (Err(err), None) => {
                let message = err.to_string();
                assert!(
                    message.contains("valid values are always_free, pay_as_you_go"),
                    "{input:?}: {message}"
                );
                assert_eq!(err.given, input);
            }
            (got, want) => panic!("{input:?} ({source}): got {got:?}, want {want:?}"),
        }
    }
    assert_eq!(
        Tier::default(),
        AF,
        "always_free is the default (freetier issue)"
    );
    assert_eq!(Tier::ALL, [AF, PAYG]);
}

#[test]
fn every_tier_has_every_limit_and_keys_match() {
    for tier in Tier::ALL {
        for key in LimitKey::ALL {
            assert_eq!(LimitKey::parse(key.as_str()), Some(key));
            let limit = match tier.limit(key) {
                Some(limit) => limit,
                // The only deliberate gap: pay_as_you_go keeps the memory it asks for.
                None => {
                    assert_eq!((tier, key), (PAYG, LimitKey::A1MemoryPerOcpuGiven));
                    continue;
                }
            };
            assert_eq!(limit.key, key, "{tier}: field holds the wrong key");
            assert!(
                limit.value.is_finite() && limit.value >= 0.0,
                "{tier} {key}"
            );
            assert!(
                !limit.source.is_empty() && !limit.summary.is_empty(),
                "{tier} {key}"
            );
            for date in limit.since.into_iter() {
                let parts: Vec<&str> = date.split('-').collect();
                assert!(
                    parts.len() == 3 && parts.iter().all(|p| p.chars().all(|c| c.is_ascii_digit())),
                    "{tier} {key}: since {date:?} is not an ISO date"
                );
            }
            if let Some(agreed) = limit.agreed {
                assert!(agreed < limit.value && limit.note.is_some(), "{tier} {key}");
            }
            for old in tier.history(key) {
                assert_eq!(old.key, key, "{tier} {key}: history holds the wrong key");
                assert!(
                    limit.since.is_some(),
                    "{tier} {key}: a replaced value needs the date of its replacement"
                );
            }
        }
        assert_eq!(
            tier.limits().count(),
            LimitKey::ALL.len() - usize::from(tier == PAYG)
        );
    }
}

#[test]
fn limit_values_table() {
    use LimitKey as K;
    // (tier, key, value, since, source the value is taken from)
    let cases: Vec<(Tier, LimitKey, f64, Option<&str>, &str)> = vec![
        (
            AF,
            K::A1Ocpus,
            2.0,
            Some("2026-06-12"),
            "free-for-dev PR #4476 (policy §0.1)",
        ),
        (
            AF,
            K::A1MemoryGb,
            12.0,
            Some("2026-06-12"),
            "free-for-dev PR #4476 (policy §0.1)",
        ),
        (
            AF,
            K::A1Instances,
            2.0,
            Some("2026-06-12"),
            "agentdeals PR #1733 (policy §0.1)",
        ),
        (
            PAYG,
            K::A1Ocpus,
            4.0,
            None,
            "Arm pricing page, 3,000 OCPU hours (policy §0.2)",
        ),
        (
            PAYG,
            K::A1MemoryGb,
            24.0,
            None,
            "Arm pricing page, 18,000 GB hours (policy §0.2)",
        ),
        (
            PAYG,
            K::A1Instances,
            4.0,
            None,
            "\"up to four\" (policy §1.1)",
        ),
        (
            AF,
            K::MicroInstances,
            2.0,
            None,
            "Always Free page (policy §1.1)",
        ),
        (
            PAYG,
            K::MicroInstances,
            2.0,
            None,
            "Always Free page (policy §1.1)",
        ),
        (
            AF,
            K::BlockStorageGb,
            200.0,
            None,
            "total-free-storage-gb (policy §1.2)",
        ),
        (
            PAYG,
            K::BlockStorageGb,
            200.0,
            None,
            "total-free-storage-gb (policy §1.2)",
        ),
        (
            AF,
            K::VolumeBackups,
            5.0,
            None,
            "free-backup-count (policy §1.2)",
        ),
        (
            AF,
            K::ReservedPublicIps,
            1.0,
            None,
            "reserved-public-ip-count (policy §1.3)",
        ),
        (
            PAYG,
            K::ReservedPublicIps,
            1.0,
            None,
            "issue: both tiers (policy §1.3)",
        ),
        (AF, K::Vcns, 2.0, None, "vcn-count (policy §1.3)"),
        (
            AF,
            K::NatGateways,
            0.0,
            None,
            "nat-gateway-count (policy §0.5)",
        ),
        (
            PAYG,
            K::NatGateways,
            0.0,
            None,
            "issue: both tiers (policy §0.5)",
        ),
        (
            AF,
            K::ServiceGateways,
            0.0,
            None,
            "oke-free #12 (policy §0.5)",
        ),
        (
            AF,
            K::LoadBalancers,
            1.0,
            None,
            "lb-flexible-count (policy §1.3)",
        ),
        (
            AF,
            K::LoadBalancerBandwidthMbps,
            10.0,
            None,
            "lb-flexible-bandwidth-sum (§1.3)",
        ),
        (
            AF,
            K::NetworkLoadBalancers,
            1.0,
            None,
            "Always Free page (policy §1.3)",
        ),
        (
            AF,
            K::ObjectStorageGb,
            20.0,
            None,
            "storage-bytes 21474836480 (policy §1.2)",
        ),
        (
            PAYG,
            K::ObjectStorageGb,
            10.0,
            None,
            "paid: 10 GB Standard (policy §1.2)",
        ),
        (AF, K::A1OcpusMin, 1.0, None, "whole OCPUs (policy §0.1)"),
        (AF, K::A1MemoryPerOcpuMin, 1.0, None, "oci-python-sdk #358"),
        (AF, K::A1MemoryPerOcpuMax, 64.0, None, "oci-python-sdk #358"),
        (AF, K::A1MemoryPerOcpuDefault, 6.0, None, "oci-cli #986"),
        (AF, K::A1MemoryPerOcpuGiven, 6.0, None, "oci-cli #1107"),
        (AF, K::MicroOcpus, 0.125, None, "1/8 OCPU (policy §1.1)"),
        (AF, K::MicroMemoryGb, 1.0, None, "1 GB (policy §1.1)"),
        (
            AF,
            K::BootVolumeDefaultGb,
            47.0,
            None,
            "47 GB live (policy §1.2)",
        ),
        (
            AF,
            K::BootVolumeMinGb,
            50.0,
            None,
            "core_instance docs (policy §2.1)",
        ),
        (
            AF,
            K::BootVolumeMaxGb,
            32768.0,
            None,
            "core_instance docs (policy §2.1)",
        ),
        (
            AF,
            K::BlockVolumeDefaultGb,
            1024.0,
            None,
            "core_volume docs: 1 TB default",
        ),
        (
            AF,
            K::BlockVolumeMinGb,
            50.0,
            None,
            "core_volume docs: 50 GB minimum",
        ),
        (
            AF,
            K::BlockVolumeMaxGb,
            32768.0,
            None,
            "core_volume docs: 32 TB",
        ),
        (
            AF,
            K::CustomImageMaxGb,
            20.0,
            None,
            "issue; Object Storage 20 GB (policy §1.2)",
        ),
        (
            AF,
            K::BudgetAlertMaxUsd,
            0.01,
            None,
            "issue: budget alert at $0.01 (policy §1.4)",
        ),
    ];
    for key in LimitKey::ALL {
        assert!(cases.iter().any(|c| c.1 == key), "{key} has no value case");
    }
    for (tier, key, value, since, source) in cases {
        let limit = tier
            .limit(key)
            .unwrap_or_else(|| panic!("{tier} {key} missing ({source})"));
        assert_eq!(limit.value, value, "{tier} {key} ({source})");
        assert_eq!(limit.since, since, "{tier} {key} ({source})");
    }
    assert_eq!(
        PAYG.limit(K::A1MemoryPerOcpuGiven),
        None,
        "issue: rounding on always_free"
    );
}

#[test]
fn dated_change_keeps_history() {
    // free-for-dev PR #4476 and Wayback: 4/24 until 2026-06-12, 2/12 since (policy §0.1).
    let ocpus = AF.history(LimitKey::A1Ocpus);
    let memory = AF.history(LimitKey::A1MemoryGb);
    let count = AF.history(LimitKey::A1Instances);
    assert_eq!(ocpus.iter().map(|l| l.value).collect::<Vec<_>>(), vec![4.0]);
    assert_eq!(
        memory.iter().map(|l| l.value).collect::<Vec<_>>(),
        vec![24.0]
    );
    assert_eq!(count.iter().map(|l| l.value).collect::<Vec<_>>(), vec![4.0]);
    assert!(AF.history(LimitKey::Vcns).is_empty());
    let note = AF
        .limit(LimitKey::A1Ocpus)
        .and_then(|l| l.note)
        .unwrap_or_default();
    assert!(
        note.contains("2026-08-18"),
        "enforcement date is in the note: {note}"
    );
    // Each figure links Oracle's page as it read on its date.
    let wayback = |date: &str| format!("https://web.archive.org/web/{date}");
    for key in [LimitKey::A1Ocpus, LimitKey::A1MemoryGb] {
        let now = AF.limit(key).map(|l| l.source).unwrap_or_default();
        assert!(now.contains(&wayback("20260612")), "{key}: {now}");
        for old in AF.history(key) {
            assert!(
                old.source.contains(&wayback("20260605")),
                "{key}: {}",
                old.source
            );
        }
    }
}

// What users read cites what users can open (STYLE.md): a source, note or detail names a
// public page, a Wayback copy or an upstream file or issue; never a research note, a section
// number, an issue of ours or a search index id.
const PRIVATE_CITATIONS: [&str; 5] = ["§", "index id", "research", "freetier issue", "shared/"];

fn assert_public(what: &str, text: &str) {
    for marker in PRIVATE_CITATIONS {
        assert!(
            !text.contains(marker),
            "{what}: cites {marker:?}, which users cannot open: {text}"
        );
    }
}

#[test]
fn every_source_is_something_users_can_open() {
    // Open means a link, or an upstream repository's issue or file by name.
    let openable = |source: &str| {
        source.contains("https://")
            || source.contains("(GitHub: ")
            || source.starts_with("GitHub: ")
            || source.starts_with("oracle/terraform-provider-oci, website/docs/")
    };
    for tier in Tier::ALL {
        for key in LimitKey::ALL {
            for limit in tier.limit(key).into_iter().chain(tier.history(key)) {
                let what = format!("{tier} {key}");
                assert_public(&what, limit.source);
                assert!(openable(limit.source), "{what}: {}", limit.source);
                let note = limit.note.unwrap_or_default();
                assert_public(&what, note);
                // A note is what to know now, in a sentence or two; history is in the docs.
                let prose: usize = note
                    .split_whitespace()
                    .filter(|word| !word.contains("https://"))
                    .map(|word| word.len() + 1)
                    .sum();
                assert!(prose <= 160, "{what}: note of {prose} chars: {note}");
            }
        }
    }
    for source in [SRC_INPUT, SRC_REQUIRED, SRC_SHAPES, SRC_LB_SHAPE] {
        assert_public("input rule", source);
    }
}

#[test]
fn payg_a1_notes_say_sources_conflict() {
    // policy §0.2: Oracle's pages conflict on 4/24 for paid tenancies.
    for key in [LimitKey::A1Ocpus, LimitKey::A1MemoryGb] {
        let limit = PAYG.limit(key).unwrap_or_else(|| panic!("{key}"));
        assert!(limit.note.unwrap_or_default().contains("conflict"), "{key}");
        assert!(limit.agreed.is_some(), "{key}");
    }
}

#[test]
fn unit_formatting_table() {
    let cases = [
        (Unit::Ocpu, 4.0, "4 OCPU"),
        (Unit::Gb, 47.0, "47 GB"),
        (Unit::Ocpu, 0.125, "0.125 OCPU"),
        (Unit::Usd, 0.01, "$0.01"),
        (Unit::Count, 2.0, "2"),
        (Unit::Gb, 1.5, "1.5 GB"),
        (Unit::Gb, -0.0, "0 GB"),
        (Unit::Gb, f64::NAN, "NaN GB"),
        (Unit::Mbps, 10.0, "10 Mbps"),
        (Unit::GbPerOcpu, 6.0, "6 GB per OCPU"),
    ];
    for (unit, value, want) in cases {
        assert_eq!(unit.format(value), want);
    }
}

// ---- check: compute ----------------------------------------------------------------------------

fn a1_totals_cases() -> Vec<Case> {
    use RuleId::*;
    vec![
        case(
            "af_two_1ocpu_nodes_fit",
            "free-for-dev PR #4476: 2 OCPU / 12 GB (policy §0.1)",
            AF,
            instances(vec![a1(1.0, 6.0), a1(1.0, 6.0)]),
            vec![],
        ),
        case(
            "af_one_2ocpu_node_fits",
            "free-for-dev PR #4476 (policy §0.1)",
            AF,
            instances(vec![a1(2.0, 12.0)]),
            vec![],
        ),
        case(
            "af_three_nodes_4_ocpu_over",
            "free-for-dev PR #4476; agentdeals PR #1733 \"one or two\" (policy §0.1)",
            AF,
            instances(vec![a1(2.0, 12.0), a1(1.0, 6.0), a1(1.0, 6.0)]),
            vec![
                (A1OcpuTotal, E, "instances[1].ocpus"),
                (A1MemoryTotal, E, "instances[1].memory_gb"),
                (A1InstanceCount, E, "instances[2]"),
            ],
        ),
        case(
            "af_count_3_points_at_count",
            "agentdeals PR #1733 (policy §0.1)",
            AF,
            instances(vec![with_count(a1(1.0, 6.0), 3.0)]),
            vec![
                (A1OcpuTotal, E, "instances[0].ocpus"),
                (A1MemoryTotal, E, "instances[0].memory_gb"),
                (A1InstanceCount, E, "instances[0].count"),
            ],
        ),
        case(
            "af_count_0_adds_nothing",
            "Terraform count = 0 creates nothing",
            AF,
            instances(vec![a1(2.0, 12.0), with_count(a1(2.0, 12.0), 0.0)]),
            vec![],
        ),
        case(
            "payg_2_ocpu_is_undisputed",
            "both sources agree on 2 / 12 (policy §0.2)",
            PAYG,
            instances(vec![a1(2.0, 12.0)]),
            vec![],
        ),
        case(
            "payg_4_ocpu_fits_but_warns",
            "Arm pricing page 4/24 vs Always Free page 2/12 (policy §0.2)",
            PAYG,
            instances(vec![a1(2.0, 12.0), a1(1.0, 6.0), a1(1.0, 6.0)]),
            vec![
                (AllowanceDisputed, W, "instances[1].ocpus"),
                (AllowanceDisputed, W, "instances[1].memory_gb"),
            ],
        ),
        case(
            "payg_5_ocpu_over",
            "Arm pricing page: 3,000 OCPU hours = 4 OCPU (policy §0.2)",
            PAYG,
            instances(vec![a1(4.0, 24.0), a1(1.0, 6.0)]),
            vec![
                (A1OcpuTotal, E, "instances[1].ocpus"),
                (A1MemoryTotal, E, "instances[1].memory_gb"),
            ],
        ),
        case(
            "payg_five_instances_over",
            "\"up to four\" A1 instances (policy §1.1)",
            PAYG,
            instances((0..5).map(|_| a1(1.0, 6.0)).collect()),
            vec![
                (A1OcpuTotal, E, "instances[4].ocpus"),
                (A1MemoryTotal, E, "instances[4].memory_gb"),
                (A1InstanceCount, E, "instances[4]"),
                // Five 47 GB boot volumes are 235 GB (policy §1.2).
                (BlockStorageTotal, E, "instances[4].boot_volume_gb"),
            ],
        ),
        case(
            "payg_memory_over_with_ocpus_in",
            "Arm pricing page: 18,000 GB hours = 24 GB (policy §0.2)",
            PAYG,
            instances(vec![a1(2.0, 20.0), a1(1.0, 8.0)]),
            vec![
                (AllowanceDisputed, W, "instances[1].ocpus"),
                (A1MemoryTotal, E, "instances[1].memory_gb"),
            ],
        ),
    ]
}

#[test]
fn a1_totals_table() {
    run(a1_totals_cases());
}

fn a1_shape_rules_cases() -> Vec<Case> {
    use RuleId::*;
    let a1_no_memory = Instance {
        memory_gb: ABSENT,
        ..a1(2.0, 0.0)
    };
    let a1_no_ocpus = Instance {
        ocpus: ABSENT,
        ..a1(0.0, 6.0)
    };
    vec![
        case(
            "fractional_ocpu",
            "whole OCPUs (policy §0.1; issue shape rules)",
            PAYG,
            instances(vec![a1(1.5, 9.0)]),
            vec![(A1OcpuNotWhole, E, "instances[0].ocpus")],
        ),
        case(
            "zero_ocpu",
            "at least 1 OCPU (issue shape rules)",
            AF,
            instances(vec![a1(0.0, 6.0)]),
            vec![(A1OcpuTooFew, E, "instances[0].ocpus")],
        ),
        case(
            "negative_ocpu",
            "input screening (issue, bad input)",
            AF,
            instances(vec![a1(-1.0, 6.0)]),
            vec![(InvalidValue, E, "instances[0].ocpus")],
        ),
        case(
            "missing_ocpus",
            "A1.Flex needs shape_config.ocpus (issue, missing sizes)",
            AF,
            instances(vec![a1_no_ocpus]),
            vec![(MissingValue, E, "instances[0].ocpus")],
        ),
        case(
            "memory_ratio_below_1",
            "ratio range 1 - 64 (oci-python-sdk #358)",
            PAYG,
            instances(vec![a1(2.0, 1.0)]),
            vec![(A1MemoryRatio, E, "instances[0].memory_gb")],
        ),
        case(
            "memory_ratio_above_64",
            "ratio range 1 - 64 (oci-python-sdk #358)",
            PAYG,
            instances(vec![a1(1.0, 65.0)]),
            vec![(A1MemoryRatio, E, "instances[0].memory_gb")],
        ),
        case(
            "memory_ratio_64_ok_but_over_total",
            "ratio range 1 - 64 (#358); 24 GB total (policy §0.2)",
            PAYG,
            instances(vec![a1(1.0, 64.0)]),
            vec![(A1MemoryTotal, E, "instances[0].memory_gb")],
        ),
        case(
            "memory_zero",
            "ratio range 1 - 64 (oci-python-sdk #358)",
            AF,
            instances(vec![a1(1.0, 0.0)]),
            vec![(A1MemoryRatio, E, "instances[0].memory_gb")],
        ),
        case(
            "af_memory_rounded_up",
            "oci-cli #1107: 8 GB on 2 OCPU gave 12 GB",
            AF,
            instances(vec![a1(2.0, 8.0)]),
            vec![(A1MemoryRounded, W, "instances[0].memory_gb")],
        ),
        case(
            "af_memory_rounded_down_fits_total",
            "oci-cli #1107: 16 GB on 2 OCPU gave 12 GB",
            AF,
            instances(vec![a1(2.0, 16.0)]),
            vec![(A1MemoryRounded, W, "instances[0].memory_gb")],
        ),
        case(
            "payg_memory_kept",
            "issue: rounding is an always_free rule",
            PAYG,
            instances(vec![a1(2.0, 16.0)]),
            vec![(AllowanceDisputed, W, "instances[0].memory_gb")],
        ),
        case(
            "memory_unset_defaults_to_6_per_ocpu",
            "oci-cli #986: A1.Flex default 6 GB per OCPU",
            PAYG,
            instances(vec![a1_no_memory]),
            vec![],
        ),
    ]
}

#[test]
fn a1_shape_rules_table() {
    run(a1_shape_rules_cases());
}

fn micro_and_shape_cases() -> Vec<Case> {
    use RuleId::*;
    let micro_with = |ocpus: Quantity, memory: Quantity| Instance {
        ocpus,
        memory_gb: memory,
        ..micro()
    };
    vec![
        case(
            "micro_plain",
            "VM.Standard.E2.1.Micro, up to 2 (policy §1.1)",
            AF,
            instances(vec![micro(), micro()]),
            vec![],
        ),
        case(
            "three_micros",
            "up to 2 micro instances (policy §1.1)",
            AF,
            instances(vec![micro(), micro(), micro()]),
            vec![(MicroInstanceCount, E, "instances[2]")],
        ),
        case(
            "micro_ocpus_set_to_1",
            "micro is fixed at 1/8 OCPU (policy §1.1)",
            AF,
            instances(vec![micro_with(1.0.into(), ABSENT)]),
            vec![(MicroShapeFixed, E, "instances[0].ocpus")],
        ),
        case(
            "micro_memory_set_to_2",
            "micro is fixed at 1 GB (policy §1.1)",
            PAYG,
            instances(vec![micro_with(ABSENT, 2.0.into())]),
            vec![(MicroShapeFixed, E, "instances[0].memory_gb")],
        ),
        case(
            "micro_exact_values_ok",
            "1/8 OCPU, 1 GB (policy §1.1)",
            AF,
            instances(vec![micro_with(0.125.into(), 1.0.into())]),
            vec![],
        ),
        case(
            "micro_nan_ocpus",
            "input screening (issue, NaN)",
            AF,
            instances(vec![micro_with(f64::NAN.into(), ABSENT)]),
            vec![(InvalidValue, E, "instances[0].ocpus")],
        ),
        case(
            "e4_flex_not_free",
            "free shapes: A1.Flex and E2.1.Micro (policy §1.1)",
            AF,
            instances(vec![shaped("VM.Standard.E4.Flex")]),
            vec![(ShapeNotFree, E, "instances[0].shape")],
        ),
        case(
            "lowercase_shape",
            "OCI shape names are exact (policy §1.1)",
            AF,
            instances(vec![shaped("vm.standard.a1.flex")]),
            vec![(ShapeNotFree, E, "instances[0].shape")],
        ),
        case(
            "empty_shape",
            "issue: unknown shapes",
            AF,
            instances(vec![shaped("")]),
            vec![(ShapeNotFree, E, "instances[0].shape")],
        ),
        case(
            "missing_shape",
            "issue: missing values",
            AF,
            instances(vec![Instance::default()]),
            vec![(MissingValue, E, "instances[0].shape")],
        ),
        case(
            "non_free_shape_boot_still_counts",
            "200 GB boot and block combined (policy §1.2)",
            AF,
            instances(vec![
                shaped("VM.Standard.E4.Flex").boot_gb(100.0),
                a1(2.0, 12.0).boot_gb(101.0),
            ]),
            vec![
                (ShapeNotFree, E, "instances[0].shape"),
                (BlockStorageTotal, E, "instances[1].boot_volume_gb"),
            ],
        ),
    ]
}

#[test]
fn micro_and_shape_table() {
    run(micro_and_shape_cases());
}

#[test]
fn shape_typo_hint() {
    // policy §1.1: the free shape is spelled VM.Standard.A1.Flex.
    let report = check(AF, &instances(vec![shaped("vm.standard.a1.flex")]));
    let detail = &report.violations[0].detail;
    assert!(
        detail.contains("did you mean VM.Standard.A1.Flex"),
        "{detail}"
    );
}

// ---- check: storage ----------------------------------------------------------------------------

fn storage_cases() -> Vec<Case> {
    use RuleId::*;
    let block = |gb: Quantity| BlockVolume {
        size_gb: gb,
        ..BlockVolume::default()
    };
    let with_volumes = |list: Vec<Instance>, volumes: Vec<BlockVolume>| Allocation {
        instances: list,
        block_volumes: volumes,
        ..Allocation::default()
    };
    vec![
        case(
            "worked_case_three_nodes_and_bastion_at_50_use_all_200",
            "200 GB (policy §1.2); 50 GB settable minimum (policy §2.1)",
            PAYG,
            instances(vec![
                a1(2.0, 12.0).boot_gb(50.0),
                a1(1.0, 6.0).boot_gb(50.0),
                a1(1.0, 6.0).boot_gb(50.0),
                micro().boot_gb(50.0),
            ]),
            vec![
                (AllowanceDisputed, W, "instances[1].ocpus"),
                (AllowanceDisputed, W, "instances[1].memory_gb"),
            ],
        ),
        case(
            "af_defaults_47_each",
            "47 GB image default (policy §1.2)",
            AF,
            instances(vec![a1(1.0, 6.0), a1(1.0, 6.0), micro(), micro()]),
            vec![],
        ),
        case(
            "block_volume_tips_over_200",
            "200 GB boot and block combined (policy §1.2)",
            AF,
            with_volumes(
                vec![a1(2.0, 12.0).boot_gb(100.0), micro().boot_gb(50.0)],
                vec![BlockVolume::gb(50.0), BlockVolume::gb(50.0)],
            ),
            vec![(BlockStorageTotal, E, "block_volumes[1].size_gb")],
        ),
        case(
            "exactly_200_is_fine",
            "200 GB (policy §1.2)",
            AF,
            with_volumes(
                vec![a1(2.0, 12.0).boot_gb(100.0), micro().boot_gb(50.0)],
                vec![BlockVolume::gb(50.0)],
            ),
            vec![],
        ),
        case(
            "block_volume_count_multiplies",
            "200 GB (policy §1.2)",
            AF,
            with_volumes(
                vec![],
                vec![BlockVolume {
                    count: 5.0.into(),
                    ..BlockVolume::gb(50.0)
                }],
            ),
            vec![(BlockStorageTotal, E, "block_volumes[0].size_gb")],
        ),
        case(
            "explicit_boot_47_too_small",
            "boot_volume_size_in_gbs minimum 50 (policy §2.1)",
            AF,
            instances(vec![a1(2.0, 12.0).boot_gb(47.0)]),
            vec![(BootVolumeTooSmall, E, "instances[0].boot_volume_gb")],
        ),
        case(
            "explicit_boot_zero",
            "boot_volume_size_in_gbs minimum 50 (policy §2.1)",
            AF,
            instances(vec![micro().boot_gb(0.0)]),
            vec![(BootVolumeTooSmall, E, "instances[0].boot_volume_gb")],
        ),
        case(
            "boot_above_32768",
            "boot_volume_size_in_gbs maximum 32,768 (policy §2.1)",
            AF,
            instances(vec![micro().boot_gb(40000.0)]),
            vec![(BootVolumeTooLarge, E, "instances[0].boot_volume_gb")],
        ),
        case(
            "boot_fractional",
            "volumes grow in whole GB (core_volume docs)",
            AF,
            instances(vec![micro().boot_gb(50.5)]),
            vec![(InvalidValue, E, "instances[0].boot_volume_gb")],
        ),
        case(
            "boot_200_alone_fits",
            "200 GB (policy §1.2)",
            AF,
            instances(vec![micro().boot_gb(200.0)]),
            vec![],
        ),
        case(
            "boot_201_alone_over",
            "200 GB (policy §1.2)",
            AF,
            instances(vec![micro().boot_gb(201.0)]),
            vec![(BlockStorageTotal, E, "instances[0].boot_volume_gb")],
        ),
        case(
            "block_volume_49_too_small",
            "core_volume docs: 50 GB minimum",
            AF,
            with_volumes(vec![], vec![BlockVolume::gb(49.0)]),
            vec![(BlockVolumeTooSmall, E, "block_volumes[0].size_gb")],
        ),
        case(
            "block_volume_zero",
            "core_volume docs: 50 GB minimum",
            AF,
            with_volumes(vec![], vec![BlockVolume::gb(0.0)]),
            vec![(BlockVolumeTooSmall, E, "block_volumes[0].size_gb")],
        ),
        case(
            "block_volume_above_32_tb",
            "core_volume docs: 32 TB maximum",
            AF,
            with_volumes(vec![], vec![BlockVolume::gb(40000.0)]),
            vec![(BlockVolumeTooLarge, E, "block_volumes[0].size_gb")],
        ),
        case(
            "block_volume_unset_is_1_tb",
            "core_volume docs: 1 TB by default",
            AF,
            with_volumes(vec![], vec![block(ABSENT)]),
            vec![(BlockStorageTotal, E, "block_volumes[0].size_gb")],
        ),
        case(
            "block_volume_nan",
            "input screening (issue, NaN)",
            AF,
            with_volumes(vec![], vec![block(f64::NAN.into())]),
            vec![(InvalidValue, E, "block_volumes[0].size_gb")],
        ),
        case(
            "block_volume_huge",
            "input screening (issue, huge sizes)",
            AF,
            with_volumes(vec![], vec![block(1e300.into())]),
            vec![(InvalidValue, E, "block_volumes[0].size_gb")],
        ),
        case(
            "volume_backups_5_ok",
            "free-backup-count = 5 (policy §1.2)",
            AF,
            Allocation {
                volume_backups: vec![Counted::times(5.0)],
                ..Allocation::default()
            },
            vec![],
        ),
        case(
            "volume_backups_6_over",
            "free-backup-count = 5 (policy §1.2)",
            AF,
            Allocation {
                volume_backups: vec![Counted::times(6.0)],
                ..Allocation::default()
            },
            vec![(VolumeBackupCount, E, "volume_backups[0].count")],
        ),
        case(
            "object_storage_20_ok_af",
            "20 GB combined on Always-Free-only tenancies (policy §1.2)",
            AF,
            Allocation {
                object_storage: vec![stored(15.0), stored(5.0)],
                ..Allocation::default()
            },
            vec![],
        ),
        case(
            "object_storage_21_over_af",
            "20 GB combined (policy §1.2)",
            AF,
            Allocation {
                object_storage: vec![stored(15.0), stored(6.0)],
                ..Allocation::default()
            },
            vec![(ObjectStorageTotal, E, "object_storage[1].gb")],
        ),
        case(
            "object_storage_15_over_payg",
            "paid tenancies: 10 GB Standard (policy §1.2)",
            PAYG,
            Allocation {
                object_storage: vec![stored(15.0)],
                ..Allocation::default()
            },
            vec![(ObjectStorageTotal, E, "object_storage[0].gb")],
        ),
        case(
            "object_storage_unsized_bucket_is_zero",
            "a bucket alone stores nothing (policy §1.2)",
            AF,
            Allocation {
                object_storage: vec![stored(ABSENT)],
                ..Allocation::default()
            },
            vec![],
        ),
        case(
            "object_storage_negative",
            "input screening (issue, negative)",
            AF,
            Allocation {
                object_storage: vec![stored(-1.0)],
                ..Allocation::default()
            },
            vec![(InvalidValue, E, "object_storage[0].gb")],
        ),
        case(
            "custom_image_sizes",
            "issue: custom images under 20 GB; Object Storage 20 GB (policy §1.2)",
            AF,
            Allocation {
                custom_images: vec![image(19.0), image(20.0), image(21.0), image(0.0)],
                ..Allocation::default()
            },
            vec![
                (CustomImageTooLarge, E, "custom_images[2].size_gb"),
                (InvalidValue, E, "custom_images[3].size_gb"),
            ],
        ),
    ]
}

#[test]
fn storage_table() {
    run(storage_cases());
}

#[test]
fn unset_block_volume_says_default() {
    // core_volume docs: volumes are 1 TB by default.
    let alloc = Allocation {
        block_volumes: vec![BlockVolume::default()],
        ..Allocation::default()
    };
    let report = check(AF, &alloc);
    let detail = &report.violations[0].detail;
    assert!(
        detail.contains("block_volumes[0] 1024 GB (size_gb not set, so OCI's default"),
        "{detail}"
    );
    assert_eq!(report.violations[0].total, Some(1024.0));
    assert_eq!(report.violations[0].overrun, Some(824.0));
}

// ---- check: network, budget --------------------------------------------------------------------

fn network_cases() -> Vec<Case> {
    use RuleId::*;
    let net = |f: fn(&mut Allocation)| {
        let mut a = Allocation::default();
        f(&mut a);
        a
    };
    let flexible = |min: f64, max: f64| LoadBalancer::flexible(min, max);
    vec![
        case(
            "one_reserved_ip_ok",
            "reserved-public-ip-count = 1 (policy §1.3)",
            AF,
            net(|a| a.reserved_public_ips = n_counted(1)),
            vec![],
        ),
        case(
            "two_reserved_ips_over",
            "reserved-public-ip-count = 1; design assumed 2 (policy §1.3)",
            AF,
            net(|a| a.reserved_public_ips = n_counted(2)),
            vec![(ReservedPublicIpCount, E, "reserved_public_ips[1]")],
        ),
        case(
            "two_reserved_ips_over_payg_too",
            "issue: one reserved IPv4 on both tiers (policy §1.3)",
            PAYG,
            net(|a| a.reserved_public_ips = vec![Counted::times(2.0)]),
            vec![(ReservedPublicIpCount, E, "reserved_public_ips[0].count")],
        ),
        case(
            "two_vcns_ok",
            "vcn-count = 2 (policy §1.3)",
            AF,
            net(|a| a.vcns = n_counted(2)),
            vec![],
        ),
        case(
            "three_vcns_over",
            "vcn-count = 2 (policy §1.3)",
            AF,
            net(|a| a.vcns = n_counted(3)),
            vec![(VcnCount, E, "vcns[2]")],
        ),
        case(
            "nat_gateway_not_free",
            "nat-gateway-count = 0 (policy §0.5)",
            AF,
            net(|a| a.nat_gateways = n_counted(1)),
            vec![(NatGatewayCount, E, "nat_gateways[0]")],
        ),
        case(
            "nat_gateway_count_0_ok",
            "nat-gateway-count = 0 (policy §0.5)",
            PAYG,
            net(|a| a.nat_gateways = vec![Counted::times(0.0)]),
            vec![],
        ),
        case(
            "service_gateway_not_free",
            "oke-free #12: service gateway limit 0 (policy §0.5)",
            PAYG,
            net(|a| a.service_gateways = n_counted(1)),
            vec![(ServiceGatewayCount, E, "service_gateways[0]")],
        ),
        case(
            "one_nlb_ok",
            "one network load balancer (policy §1.3)",
            AF,
            net(|a| a.network_load_balancers = n_counted(1)),
            vec![],
        ),
        case(
            "two_nlbs_over",
            "one network load balancer (policy §1.3)",
            AF,
            net(|a| a.network_load_balancers = n_counted(2)),
            vec![(NetworkLoadBalancerCount, E, "network_load_balancers[1]")],
        ),
        case(
            "flexible_lb_10_ok",
            "flexible LB, 10 Mbps min = max (policy §1.3)",
            AF,
            Allocation {
                load_balancers: vec![flexible(10.0, 10.0)],
                ..Allocation::default()
            },
            vec![],
        ),
        case(
            "flexible_lb_20_over",
            "lb-flexible-bandwidth-sum = 10 (policy §1.3)",
            AF,
            Allocation {
                load_balancers: vec![flexible(10.0, 20.0)],
                ..Allocation::default()
            },
            vec![(
                LoadBalancerBandwidth,
                E,
                "load_balancers[0].max_bandwidth_mbps",
            )],
        ),
        case(
            "two_flexible_lbs",
            "lb-flexible-count = 1 (policy §1.3)",
            AF,
            Allocation {
                load_balancers: vec![flexible(10.0, 10.0), flexible(10.0, 10.0)],
                ..Allocation::default()
            },
            vec![
                (LoadBalancerCount, E, "load_balancers[1]"),
                (
                    LoadBalancerBandwidth,
                    E,
                    "load_balancers[1].max_bandwidth_mbps",
                ),
            ],
        ),
        case(
            "lb_100mbps_shape",
            "free LB is the flexible shape (policy §1.3)",
            AF,
            Allocation {
                load_balancers: vec![lb("100Mbps".into(), ABSENT, ABSENT)],
                ..Allocation::default()
            },
            vec![(LoadBalancerShape, E, "load_balancers[0].shape")],
        ),
        case(
            "lb_old_micro_shape_warns",
            "10Mbps-Micro only before 2020-12-15; oci-cloudnative #230 (policy §1.3)",
            AF,
            Allocation {
                load_balancers: vec![lb(LB_MICRO.into(), ABSENT, ABSENT)],
                ..Allocation::default()
            },
            vec![(LoadBalancerShape, W, "load_balancers[0].shape")],
        ),
        case(
            "lb_min_above_max",
            "input screening (issue, bad input)",
            AF,
            Allocation {
                load_balancers: vec![flexible(10.0, 5.0)],
                ..Allocation::default()
            },
            vec![(InvalidValue, E, "load_balancers[0].min_bandwidth_mbps")],
        ),
        case(
            "lb_flexible_without_max",
            "shape_details needed for flexible (issue, missing sizes)",
            AF,
            Allocation {
                load_balancers: vec![lb(LB_FLEXIBLE.into(), ABSENT, ABSENT)],
                ..Allocation::default()
            },
            vec![(MissingValue, E, "load_balancers[0].max_bandwidth_mbps")],
        ),
        case(
            "lb_without_shape",
            "issue, missing values",
            AF,
            Allocation {
                load_balancers: vec![LoadBalancer::default()],
                ..Allocation::default()
            },
            vec![(MissingValue, E, "load_balancers[0].shape")],
        ),
        case(
            "vcn_count_nan",
            "input screening (issue, NaN)",
            AF,
            net(|a| a.vcns = vec![Counted::times(f64::NAN)]),
            vec![(InvalidValue, E, "vcns[0].count")],
        ),
    ]
}

#[test]
fn network_table() {
    run(network_cases());
}

fn budget_cases() -> Vec<Case> {
    use RuleId::*;
    let budgets = |list: Option<Vec<BudgetAlert>>| Allocation {
        budget_alerts: list,
        ..Allocation::default()
    };
    vec![
        case(
            "budgets_not_checked",
            "issue: budget alert at $0.01 (only when budgets are part of the check)",
            AF,
            budgets(None),
            vec![],
        ),
        case(
            "no_alert_warns",
            "issue: budget alert at $0.01; budgets only alert (policy §1.4)",
            AF,
            budgets(Some(vec![])),
            vec![(BudgetAlertMissing, W, "budget_alerts")],
        ),
        case(
            "alert_at_one_cent_ok",
            "issue: budget alert at $0.01 (policy §1.4)",
            PAYG,
            budgets(Some(vec![alert(0.01.into())])),
            vec![],
        ),
        case(
            "alert_at_5_dollars_warns",
            "issue: budget alert at $0.01 (policy §1.4)",
            AF,
            budgets(Some(vec![alert(0.01.into()), alert(5.0.into())])),
            vec![(BudgetAlertTooHigh, W, "budget_alerts[1].threshold_usd")],
        ),
        case(
            "alert_at_zero",
            "alert_rule threshold must be above 0 (policy §2.3)",
            AF,
            budgets(Some(vec![alert(0.0.into())])),
            vec![(InvalidValue, E, "budget_alerts[0].threshold_usd")],
        ),
        case(
            "alert_without_threshold",
            "alert_rule threshold is required (policy §2.3)",
            AF,
            budgets(Some(vec![alert(ABSENT)])),
            vec![(MissingValue, E, "budget_alerts[0].threshold_usd")],
        ),
    ]
}

#[test]
fn budget_table() {
    run(budget_cases());
}

#[test]
fn every_rule_has_a_failing_case() {
    // "Done when: every rule has table tests that cite its source" (freetier issue).
    let all: Vec<Case> = [
        a1_totals_cases(),
        a1_shape_rules_cases(),
        micro_and_shape_cases(),
        storage_cases(),
        network_cases(),
        budget_cases(),
        bad_input_cases(),
    ]
    .into_iter()
    .flatten()
    .collect();
    for rule in RuleId::ALL {
        assert!(
            all.iter()
                .any(|c| c.expect.iter().any(|(r, _, _)| *r == rule)),
            "no table case breaks {rule}"
        );
    }
    let passing = all.iter().filter(|c| c.expect.is_empty()).count();
    assert!(passing >= 20, "passing cases: {passing}");
    let mut names: Vec<&str> = all.iter().map(|c| c.name).collect();
    names.sort_unstable();
    let before = names.len();
    names.dedup();
    assert_eq!(before, names.len(), "case names are unique");
}

// ---- bad input and unknowns --------------------------------------------------------------------

fn bad_input_cases() -> Vec<Case> {
    use RuleId::*;
    let inst = |ocpus: Quantity, memory: Quantity, boot: Quantity, count: Quantity| Instance {
        shape: A1_FLEX.into(),
        ocpus,
        memory_gb: memory,
        boot_volume_gb: boot,
        count,
        label: None,
    };
    let k = |v: f64| -> Quantity { v.into() };
    vec![
        case(
            "nan_ocpus",
            "issue: reject NaN",
            AF,
            instances(vec![inst(k(f64::NAN), ABSENT, ABSENT, ABSENT)]),
            vec![(InvalidValue, E, "instances[0].ocpus")],
        ),
        case(
            "infinite_memory",
            "issue: reject inf",
            PAYG,
            instances(vec![inst(k(1.0), k(f64::INFINITY), ABSENT, ABSENT)]),
            vec![(InvalidValue, E, "instances[0].memory_gb")],
        ),
        case(
            "negative_infinite_boot",
            "issue: reject inf",
            AF,
            instances(vec![inst(k(1.0), k(6.0), k(f64::NEG_INFINITY), ABSENT)]),
            vec![(InvalidValue, E, "instances[0].boot_volume_gb")],
        ),
        case(
            "huge_ocpus",
            "issue: huge sizes",
            AF,
            instances(vec![inst(k(1e15), ABSENT, ABSENT, ABSENT)]),
            vec![(InvalidValue, E, "instances[0].ocpus")],
        ),
        case(
            "large_but_sane_ocpus",
            "whole OCPUs within MAX_INPUT are judged by the total (policy §0.1)",
            AF,
            instances(vec![inst(k(1e6), ABSENT, ABSENT, ABSENT)]),
            vec![
                (A1OcpuTotal, E, "instances[0].ocpus"),
                (A1MemoryTotal, E, "instances[0].memory_gb"),
            ],
        ),
        case(
            "fractional_count",
            "issue: fractional values; Terraform count is whole",
            AF,
            instances(vec![inst(k(1.0), k(6.0), ABSENT, k(1.5))]),
            vec![(InvalidValue, E, "instances[0].count")],
        ),
        case(
            "negative_count",
            "issue: negative values",
            AF,
            instances(vec![inst(k(1.0), k(6.0), ABSENT, k(-1.0))]),
            vec![(InvalidValue, E, "instances[0].count")],
        ),
        case(
            "huge_count",
            "issue: huge values",
            AF,
            instances(vec![inst(k(1.0), k(6.0), ABSENT, k(1e13))]),
            vec![(InvalidValue, E, "instances[0].count")],
        ),
        case(
            "negative_zero_memory_is_zero",
            "ratio range 1 - 64 (oci-python-sdk #358)",
            PAYG,
            instances(vec![inst(k(1.0), k(-0.0), ABSENT, ABSENT)]),
            vec![(A1MemoryRatio, E, "instances[0].memory_gb")],
        ),
        case(
            "several_bad_values_each_named",
            "issue: each bad input names its attribute",
            AF,
            instances(vec![inst(k(f64::NAN), k(-3.0), k(0.5), k(f64::NAN))]),
            vec![
                (InvalidValue, E, "instances[0].ocpus"),
                (InvalidValue, E, "instances[0].memory_gb"),
                (InvalidValue, E, "instances[0].boot_volume_gb"),
                (InvalidValue, E, "instances[0].count"),
            ],
        ),
    ]
}

#[test]
fn bad_input_table() {
    run(bad_input_cases());
}

#[test]
fn unknown_values_table() {
    use LimitKey as K;
    // (name, allocation, tier, expected violations, expected deferred subjects, totals that
    // must be incomplete). Source: issue, "values unknown at plan time" get a deferral.
    type UnknownCase = (
        &'static str,
        Tier,
        Allocation,
        Vec<RuleId>,
        Vec<&'static str>,
        Vec<LimitKey>,
    );
    let cases: Vec<UnknownCase> = vec![
        (
            "unknown_ocpus",
            AF,
            instances(vec![Instance {
                ocpus: U,
                ..a1(0.0, 6.0)
            }]),
            vec![],
            vec!["instances[0].ocpus"],
            vec![K::A1Ocpus, K::A1MemoryGb],
        ),
        (
            "unknown_shape",
            AF,
            instances(vec![Instance {
                shape: Value::Unknown,
                ..Instance::default()
            }]),
            vec![],
            vec!["instances[0].shape"],
            vec![K::A1Ocpus, K::A1MemoryGb, K::A1Instances, K::MicroInstances],
        ),
        (
            "unknown_count_with_known_part_within",
            AF,
            instances(vec![a1(1.0, 6.0), with_count(a1(1.0, 6.0), U)]),
            vec![],
            vec!["instances[1].count"],
            vec![K::A1Ocpus, K::A1MemoryGb, K::A1Instances, K::BlockStorageGb],
        ),
        (
            "unknown_but_known_part_already_over",
            AF,
            instances(vec![
                a1(2.0, 12.0),
                a1(1.0, 6.0),
                Instance {
                    ocpus: U,
                    ..a1(0.0, 6.0)
                },
            ]),
            vec![
                RuleId::A1OcpuTotal,
                RuleId::A1MemoryTotal,
                RuleId::A1InstanceCount,
            ],
            vec!["instances[2].ocpus"],
            vec![K::A1Ocpus, K::A1MemoryGb],
        ),
        (
            "unknown_boot",
            AF,
            instances(vec![micro().boot_gb(U)]),
            vec![],
            vec!["instances[0].boot_volume_gb"],
            vec![K::BlockStorageGb],
        ),
        (
            "unknown_memory_on_af_is_still_6_per_ocpu",
            AF,
            instances(vec![Instance {
                memory_gb: U,
                ..a1(2.0, 0.0)
            }]),
            vec![],
            vec!["instances[0].memory_gb"],
            vec![],
        ),
        (
            "unknown_memory_on_payg",
            PAYG,
            instances(vec![Instance {
                memory_gb: U,
                ..a1(2.0, 0.0)
            }]),
            vec![],
            vec!["instances[0].memory_gb"],
            vec![K::A1MemoryGb],
        ),
        (
            "unknown_and_absent_image_size",
            AF,
            Allocation {
                custom_images: vec![image(U), image(ABSENT)],
                ..Allocation::default()
            },
            vec![],
            vec!["custom_images[0].size_gb", "custom_images[1].size_gb"],
            vec![],
        ),
        (
            "count_0_with_unknown_size_is_complete",
            AF,
            Allocation {
                block_volumes: vec![BlockVolume {
                    count: 0.0.into(),
                    ..BlockVolume::gb(U)
                }],
                ..Allocation::default()
            },
            vec![],
            vec!["block_volumes[0].size_gb"],
            vec![],
        ),
        (
            "unknown_vcn_count",
            AF,
            Allocation {
                vcns: vec![Counted::times(U)],
                ..Allocation::default()
            },
            vec![],
            vec!["vcns[0].count"],
            vec![K::Vcns],
        ),
        (
            "unknown_lb_bandwidth",
            AF,
            Allocation {
                load_balancers: vec![lb(LB_FLEXIBLE.into(), U, U)],
                ..Allocation::default()
            },
            vec![],
            vec!["load_balancers[0].max_bandwidth_mbps"],
            vec![K::LoadBalancerBandwidthMbps],
        ),
        (
            "unknown_budget_threshold",
            AF,
            Allocation {
                budget_alerts: Some(vec![alert(U)]),
                ..Allocation::default()
            },
            vec![],
            vec!["budget_alerts[0].threshold_usd"],
            vec![],
        ),
    ];
    for (name, tier, alloc, rules, deferred, incomplete) in cases {
        let report = check(tier, &alloc);
        let got_rules: Vec<RuleId> = report.violations.iter().map(|v| v.rule).collect();
        assert_eq!(got_rules, rules, "{name}");
        let got_deferred: Vec<String> = report
            .deferred
            .iter()
            .map(|d| d.subject.to_string())
            .collect();
        assert_eq!(got_deferred, deferred, "{name}");
        for d in &report.deferred {
            assert!(d.reason.contains("not known yet"), "{name}: {}", d.reason);
        }
        for total in &report.totals {
            assert_eq!(
                total.complete,
                !incomplete.contains(&total.key),
                "{name}: {} completeness",
                total.key
            );
        }
    }
}

#[test]
fn over_with_unknowns_says_at_least() {
    // issue: a known part already over the limit is reported; the unknown part is deferred.
    let alloc = instances(vec![
        a1(2.0, 12.0),
        a1(1.0, 6.0),
        Instance {
            ocpus: U,
            ..a1(0.0, 6.0)
        },
    ]);
    let report = check(AF, &alloc);
    let detail = &report.violations[0].detail;
    assert!(detail.contains("ask for at least 3 OCPU"), "{detail}");
}

// ---- worked examples ---------------------------------------------------------------------------

#[test]
fn worked_example_three_a1_on_always_free() {
    // The example message; free-for-dev PR #4476 (policy §0.1).
    let alloc = instances(vec![
        a1(2.0, 12.0).named("node-1"),
        a1(1.0, 6.0).named("node-2"),
        a1(1.0, 6.0).named("node-3"),
    ]);
    let report = check(AF, &alloc);
    let v = report
        .violations
        .iter()
        .find(|v| v.rule == RuleId::A1OcpuTotal)
        .unwrap_or_else(|| panic!("{:#?}", report.violations));
    assert!(
        v.detail.starts_with(
            "3 A1 instances ask for 4 OCPU; always_free allows 2 OCPU (since 2026-06-12; source: "
        ),
        "{}",
        v.detail
    );
    assert!(v.detail.contains("Over by 2 OCPU."), "{}", v.detail);
    assert!(
        v.detail
            .contains("passed at instance \"node-2\" (instances[1])"),
        "{}",
        v.detail
    );
    assert!(
        v.detail.contains(
            "https://web.archive.org/web/20260612144234/https://docs.oracle.com/en-us/iaas/\
             Content/FreeTier/freetier_topic-Always_Free_Resources.htm"
        ),
        "the source is Oracle's page as of the date: {}",
        v.detail
    );
    assert_eq!(
        (v.limit, v.total, v.overrun),
        (Some(2.0), Some(4.0), Some(2.0))
    );
    assert_eq!(v.since, Some("2026-06-12"));
    assert_eq!(v.summary, "A1 OCPU Allowance Exceeded");
    assert!(!report.is_free());
}

#[test]
fn worked_example_payg_warning_names_the_conflict() {
    // policy §0.2: 4/24 on PAYG is unconfirmed; the diagnostic says so.
    let alloc = instances(vec![a1(2.0, 12.0), a1(1.0, 6.0), a1(1.0, 6.0)]);
    let report = check(PAYG, &alloc);
    assert!(report.is_free(), "{:#?}", report.violations);
    let v = &report.violations[0];
    assert_eq!(v.rule, RuleId::AllowanceDisputed);
    assert!(
        v.detail.contains("only 2 OCPU is undisputed"),
        "{}",
        v.detail
    );
    assert!(
        v.detail.contains("Oracle's own pages conflict"),
        "{}",
        v.detail
    );
    assert_eq!(v.limit, Some(2.0));
}

#[test]
fn totals_headroom_and_effective_sizes() {
    // oci-cli #1107 (6 GB per OCPU on always_free); 47 GB default boot (policy §1.2);
    // micro 1/8 OCPU, 1 GB (policy §1.1).
    let alloc = instances(vec![
        a1(1.0, 8.0).named("node"),
        micro().named("bastion").boot_gb(50.0),
    ]);
    let report = check(AF, &alloc);
    let node = &report.instances[0];
    assert_eq!(node.shape, Some(Shape::A1Flex));
    assert_eq!(
        (node.ocpus, node.memory_gb, node.boot_volume_gb),
        (Some(1.0), Some(6.0), Some(47.0))
    );
    let bastion = &report.instances[1];
    assert_eq!(
        (bastion.ocpus, bastion.memory_gb, bastion.boot_volume_gb),
        (Some(0.125), Some(1.0), Some(50.0))
    );
    let storage = report
        .total(LimitKey::BlockStorageGb)
        .map(|t| (t.total, t.headroom));
    assert_eq!(storage, Some((97.0, 103.0)));
    let ocpus = report
        .total(LimitKey::A1Ocpus)
        .map(|t| (t.total, t.headroom, t.complete));
    assert_eq!(ocpus, Some((1.0, 1.0, true)));
    let memory = report.total(LimitKey::A1MemoryGb).map(|t| t.total);
    assert_eq!(memory, Some(6.0));
    // Every total-kind limit is listed, even at zero.
    assert_eq!(report.totals.len(), 14);
    assert_eq!(
        report.total(LimitKey::NatGateways).map(|t| t.headroom),
        Some(0.0)
    );
    assert_eq!(
        violations(AF, &alloc).len(),
        1,
        "only the memory rounding warning"
    );
}

// ---- layout ------------------------------------------------------------------------------------

fn shape_of(layout: &Layout) -> Vec<(u32, f64)> {
    layout
        .nodes
        .iter()
        .map(|n| (n.ocpus, n.memory_gb))
        .collect()
}

#[test]
fn layout_table() {
    // (name, source, tier, nodes, boot, nodes' OCPU/GB, storage used, ceph GB, OSD volumes)
    type LayoutCase = (
        &'static str,
        &'static str,
        Tier,
        u32,
        Option<f64>,
        Vec<(u32, f64)>,
        f64,
        f64,
        u32,
    );
    let cases: Vec<LayoutCase> = vec![
        (
            "payg_3_nodes_2_1_1",
            "issue example; 4 OCPU / 24 GB (policy §0.2)",
            PAYG,
            3,
            None,
            vec![(2, 12.0), (1, 6.0), (1, 6.0)],
            188.0,
            12.0,
            0,
        ),
        (
            "payg_3_nodes_50gb_leaves_nothing",
            "issue worked case: 4 × 50 GB = 200 GB (policy §1.2)",
            PAYG,
            3,
            Some(50.0),
            vec![(2, 12.0), (1, 6.0), (1, 6.0)],
            200.0,
            0.0,
            0,
        ),
        (
            "payg_2_nodes_2_2",
            "4 OCPU / 24 GB (policy §0.2); 47 GB default boot (policy §1.2)",
            PAYG,
            2,
            None,
            vec![(2, 12.0), (2, 12.0)],
            141.0,
            59.0,
            1,
        ),
        (
            "af_1_node",
            "2 OCPU / 12 GB (policy §0.1)",
            AF,
            1,
            None,
            vec![(2, 12.0)],
            94.0,
            106.0,
            2,
        ),
        (
            "af_2_nodes",
            "2 OCPU / 12 GB in one or two instances (policy §0.1)",
            AF,
            2,
            Some(50.0),
            vec![(1, 6.0), (1, 6.0)],
            150.0,
            50.0,
            1,
        ),
        (
            "af_1_node_60gb",
            "200 GB (policy §1.2)",
            AF,
            1,
            Some(60.0),
            vec![(2, 12.0)],
            120.0,
            80.0,
            1,
        ),
    ];
    for (name, source, tier, nodes, boot, want_nodes, used, ceph, volumes) in cases {
        let layout = ampere_layout(tier, nodes, boot).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(shape_of(&layout), want_nodes, "{name} ({source})");
        assert_eq!(layout.storage_used_gb, used, "{name}");
        assert_eq!(layout.ceph_gb, ceph, "{name}");
        assert_eq!(layout.ceph_volumes, volumes, "{name}");
        assert_eq!(layout.bastion.shape, E2_MICRO);
        assert_eq!(layout.bastion.boot_volume_gb, boot.unwrap_or(47.0));
        let indexes: Vec<u32> = layout.nodes.iter().map(|n| n.index).collect();
        assert_eq!(indexes, (0..nodes).collect::<Vec<_>>(), "{name}");
    }
}

#[test]
fn layout_worked_case_shows_zero_for_ceph() {
    // Issue worked case: 3 A1 + micro bastion at 50 GB each use all 200 GB (policy §1.2).
    let layout = ampere_layout(PAYG, 3, Some(50.0)).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(layout.ceph_gb, 0.0);
    let notes = layout.notes.join(" ");
    assert!(notes.contains("nothing is left for Ceph"), "{notes}");
    assert!(
        notes.contains("4 boot volumes use 200 GB of the 200 GB"),
        "{notes}"
    );
    assert!(
        notes.contains("conflict"),
        "the PAYG dispute is noted: {notes}"
    );
}

#[test]
fn layout_default_boot_notes_too_small_leftover() {
    // 47 GB default boot (policy §1.2); 50 GB smallest block volume (core_volume docs).
    let layout = ampere_layout(PAYG, 3, None).unwrap_or_else(|e| panic!("{e}"));
    let notes = layout.notes.join(" ");
    assert!(notes.contains("image default of 47 GB"), "{notes}");
    assert!(notes.contains("leaving 12 GB for Ceph"), "{notes}");
    assert!(notes.contains("no OSD volume fits"), "{notes}");
}

#[test]
fn layout_errors_table() {
    // (name, source, tier, nodes, boot, expected message)
    type ErrorCase = (
        &'static str,
        &'static str,
        Tier,
        u32,
        Option<f64>,
        &'static str,
    );
    let cases: Vec<ErrorCase> =
        vec![
        (
            "af_3_nodes",
            "2 OCPU, whole OCPUs (policy §0.1)",
            AF,
            3,
            None,
            "A1 OCPUs come in whole numbers; always_free allows 2 OCPU in total, so at most 2 A1 \
             nodes, not 3",
        ),
        (
            "payg_5_nodes",
            "4 OCPU (policy §0.2)",
            PAYG,
            5,
            None,
            "A1 OCPUs come in whole numbers; pay_as_you_go allows 4 OCPU in total, so at most 4 \
             A1 nodes, not 5",
        ),
        (
            "u32_max_nodes",
            "issue: huge input",
            AF,
            u32::MAX,
            None,
            "A1 OCPUs come in whole numbers; always_free allows 2 OCPU in total, so at most 2 A1 \
             nodes, not 4294967295",
        ),
        ("zero_nodes", "issue: zero input", AF, 0, None, "a layout needs at least one A1 node"),
        (
            "boot_49",
            "boot_volume_size_in_gbs minimum 50 (policy §2.1)",
            AF,
            1,
            Some(49.0),
            "boot volume size 49: is below the 50 GB an explicit size needs (leave it unset for \
             the image default)",
        ),
        (
            "boot_nan",
            "issue: reject NaN",
            AF,
            1,
            Some(f64::NAN),
            "boot volume size NaN: is not a finite number",
        ),
        (
            "boot_inf",
            "issue: reject inf",
            AF,
            1,
            Some(f64::INFINITY),
            "boot volume size inf: is not a finite number",
        ),
        (
            "boot_fraction",
            "whole GB (core_volume docs)",
            AF,
            1,
            Some(50.5),
            "boot volume size 50.5: must be a whole number of GB",
        ),
        (
            "boot_negative",
            "issue: negative input",
            AF,
            1,
            Some(-50.0),
            "boot volume size -50: is below the 50 GB an explicit size needs (leave it unset for \
             the image default)",
        ),
        (
            "boot_huge",
            "boot maximum 32,768 GB (policy §2.1)",
            AF,
            1,
            Some(1e300),
            "boot volume size 1e300: is above the 32768 GB maximum",
        ),
        (
            "payg_4_nodes_default_boot",
            "\"up to four\" (policy §1.1); 47 GB default boot, 200 GB (policy §1.2)",
            PAYG,
            4,
            None,
            "5 boot volumes of 47 GB (the A1 nodes and the micro bastion) need 235 GB; \
             pay_as_you_go allows 200 GB of block storage in total",
        ),
        (
            "payg_3_nodes_boot_51",
            "200 GB (policy §1.2)",
            PAYG,
            3,
            Some(51.0),
            "4 boot volumes of 51 GB (the A1 nodes and the micro bastion) need 204 GB; \
             pay_as_you_go allows 200 GB of block storage in total",
        ),
    ];
    for (name, source, tier, nodes, boot, want) in cases {
        match ampere_layout(tier, nodes, boot) {
            Ok(layout) => panic!("{name} ({source}): unexpected layout {layout:?}"),
            Err(err) => assert_eq!(err.to_string(), want, "{name} ({source})"),
        }
    }
}

#[test]
fn every_layout_passes_check() {
    // The layout and the check share one rulebook; a layout the check rejects would be a bug.
    for tier in Tier::ALL {
        for nodes in 0..=6 {
            for boot in [None, Some(50.0), Some(60.0), Some(66.0), Some(100.0)] {
                let Ok(layout) = ampere_layout(tier, nodes, boot) else {
                    continue;
                };
                let report = check(tier, &layout.allocation());
                let errors: Vec<&Violation> = report.errors().collect();
                assert!(errors.is_empty(), "{tier} {nodes} {boot:?}: {errors:#?}");
                assert!(report.deferred.is_empty(), "{tier} {nodes} {boot:?}");
                let storage = report.total(LimitKey::BlockStorageGb).map(|t| t.total);
                assert_eq!(
                    storage,
                    Some(layout.storage_used_gb),
                    "{tier} {nodes} {boot:?}"
                );
                assert_eq!(
                    layout.storage_used_gb + layout.ceph_gb,
                    layout.storage_limit_gb
                );
                assert!(layout.ceph_gb >= 0.0);
                // Every OCPU is used and memory is what the cloud gives.
                let ocpus: u32 = layout.nodes.iter().map(|n| n.ocpus).sum();
                let limit = tier.limit(LimitKey::A1Ocpus).map(|l| l.value);
                assert_eq!(Some(f64::from(ocpus)), limit, "{tier} {nodes}");
                for (node, effective) in layout.nodes.iter().zip(&report.instances) {
                    assert_eq!(Some(node.memory_gb), effective.memory_gb);
                }
            }
        }
    }
}

// ---- never panics ------------------------------------------------------------------------------

const WEIRD: [f64; 18] = [
    f64::NAN,
    f64::INFINITY,
    f64::NEG_INFINITY,
    -1.0,
    -0.0,
    0.0,
    0.125,
    0.5,
    1.0,
    1.5,
    2.0,
    6.0,
    47.0,
    50.0,
    64.0,
    1e12,
    1e300,
    f64::MAX,
];

// A small deterministic generator, so the grid is reproducible without a dependency.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) as usize
    }

    fn quantity(&mut self) -> Quantity {
        match self.next() % (WEIRD.len() + 2) {
            0 => Value::Unknown,
            1 => Value::Absent,
            i => WEIRD
                .get(i - 2)
                .copied()
                .map_or(Value::Absent, Value::Known),
        }
    }

    fn shape(&mut self) -> Value<String> {
        let names = [
            A1_FLEX,
            E2_MICRO,
            "",
            "VM.Standard.E4.Flex",
            "vm.standard.a1.flex",
            "🦀",
        ];
        match self.next() % (names.len() + 2) {
            0 => Value::Unknown,
            1 => Value::Absent,
            i => names.get(i - 2).map_or(Value::Absent, |n| (*n).into()),
        }
    }

    fn list<T>(&mut self, max: usize, mut make: impl FnMut(&mut Lcg) -> T) -> Vec<T> {
        let n = self.next() % (max + 1);
        (0..n).map(|_| make(self)).collect()
    }
}

fn assert_sane(report: &Report, alloc: &Allocation, context: &str) {
    let len = |kind: ItemKind| match kind {
        ItemKind::Instance => alloc.instances.len(),
        ItemKind::BlockVolume => alloc.block_volumes.len(),
        ItemKind::VolumeBackup => alloc.volume_backups.len(),
        ItemKind::ReservedPublicIp => alloc.reserved_public_ips.len(),
        ItemKind::Vcn => alloc.vcns.len(),
        ItemKind::NatGateway => alloc.nat_gateways.len(),
        ItemKind::ServiceGateway => alloc.service_gateways.len(),
        ItemKind::LoadBalancer => alloc.load_balancers.len(),
        ItemKind::NetworkLoadBalancer => alloc.network_load_balancers.len(),
        ItemKind::ObjectStorage => alloc.object_storage.len(),
        ItemKind::CustomImage => alloc.custom_images.len(),
        ItemKind::BudgetAlert => alloc.budget_alerts.as_ref().map_or(0, Vec::len),
    };
    let subjects = report
        .violations
        .iter()
        .map(|v| v.subject)
        .chain(report.deferred.iter().map(|d| d.subject));
    for subject in subjects {
        if let Subject::Item { kind, index, .. } = subject {
            assert!(
                index < len(kind),
                "{context}: {subject} points past its list"
            );
        }
    }
    for v in &report.violations {
        assert!(!v.detail.is_empty(), "{context}");
        for n in [v.limit, v.total, v.overrun].into_iter().flatten() {
            assert!(n.is_finite(), "{context}: {v:?}");
        }
        assert!(
            !v.detail.contains("NaN GB") && !v.detail.contains("inf GB"),
            "{context}"
        );
    }
    for t in &report.totals {
        assert!(
            t.total.is_finite() && t.headroom.is_finite(),
            "{context}: {t:?}"
        );
        assert!(t.total >= 0.0, "{context}: {t:?}");
    }
    for i in &report.instances {
        for n in [i.count, i.ocpus, i.memory_gb, i.boot_volume_gb]
            .into_iter()
            .flatten()
        {
            assert!(n.is_finite() && n >= 0.0, "{context}: {i:?}");
        }
    }
}

#[test]
fn check_never_panics_on_a_grid_of_weird_values() {
    // Every weird value in every numeric slot of an instance, on both tiers.
    let slots: [fn(&mut Instance, Quantity); 4] = [
        |i, q| i.ocpus = q,
        |i, q| i.memory_gb = q,
        |i, q| i.boot_volume_gb = q,
        |i, q| i.count = q,
    ];
    let quantities: Vec<Quantity> = WEIRD
        .iter()
        .map(|v| Value::Known(*v))
        .chain([Value::Unknown, Value::Absent])
        .collect();
    for tier in Tier::ALL {
        for base in [a1(1.0, 6.0), micro(), shaped("VM.Standard.E4.Flex")] {
            for set in slots {
                for q in &quantities {
                    let mut instance = base.clone();
                    set(&mut instance, q.clone());
                    let alloc = instances(vec![instance, a1(1.0, 6.0)]);
                    let report = check(tier, &alloc);
                    assert_sane(&report, &alloc, &format!("{tier} {alloc:?}"));
                }
            }
        }
    }
}

#[test]
fn check_never_panics_on_random_allocations() {
    let mut rng = Lcg(0x5eed);
    for round in 0..4000 {
        let alloc = Allocation {
            instances: rng.list(4, |r| Instance {
                label: None,
                shape: r.shape(),
                ocpus: r.quantity(),
                memory_gb: r.quantity(),
                boot_volume_gb: r.quantity(),
                count: r.quantity(),
            }),
            block_volumes: rng.list(3, |r| BlockVolume {
                label: Some("v".into()),
                size_gb: r.quantity(),
                count: r.quantity(),
            }),
            volume_backups: rng.list(2, |r| Counted::times(r.quantity())),
            reserved_public_ips: rng.list(2, |r| Counted::times(r.quantity())),
            vcns: rng.list(2, |r| Counted::times(r.quantity())),
            nat_gateways: rng.list(2, |r| Counted::times(r.quantity())),
            service_gateways: rng.list(2, |r| Counted::times(r.quantity())),
            load_balancers: rng.list(2, |r| LoadBalancer {
                label: None,
                shape: match r.next() % 4 {
                    0 => LB_FLEXIBLE.into(),
                    1 => LB_MICRO.into(),
                    2 => Value::Unknown,
                    _ => Value::Absent,
                },
                min_bandwidth_mbps: r.quantity(),
                max_bandwidth_mbps: r.quantity(),
                count: r.quantity(),
            }),
            network_load_balancers: rng.list(2, |r| Counted::times(r.quantity())),
            object_storage: rng.list(2, |r| ObjectStorage {
                label: None,
                gb: r.quantity(),
                count: r.quantity(),
            }),
            custom_images: rng.list(2, |r| CustomImage {
                label: None,
                size_gb: r.quantity(),
                count: r.quantity(),
            }),
            budget_alerts: match rng.next() % 3 {
                0 => None,
                _ => Some(rng.list(2, |r| alert(r.quantity()))),
            },
        };
        for tier in Tier::ALL {
            let report = check(tier, &alloc);
            assert_sane(&report, &alloc, &format!("round {round} {tier}"));
        }
    }
}

#[test]
fn layout_never_panics() {
    for tier in Tier::ALL {
        for nodes in [0, 1, 2, 3, 4, 5, 100, u32::MAX] {
            for boot in WEIRD.iter().map(|v| Some(*v)).chain([None]) {
                if let Ok(layout) = ampere_layout(tier, nodes, boot) {
                    assert!(layout.ceph_gb >= 0.0 && layout.ceph_gb.is_finite());
                    assert_eq!(layout.nodes.len(), nodes as usize);
                }
            }
        }
    }
}
