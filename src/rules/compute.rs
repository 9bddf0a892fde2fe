//! The compute part of the check: instances (shape, A1 sizes, the fixed micro shape, boot
//! volumes) and block volumes.
//!
//! Imports nothing from the rest of the crate.

use super::allocation::{BlockVolume, Instance, Quantity, Shape, Value, A1_FLEX, E2_MICRO};
use super::check::{who, Checker, Num, Read, EPSILON, SRC_SHAPES};
use super::report::{EffectiveInstance, ItemKind, RuleId, Severity, Subject};
use super::tiers::{LimitKey, Unit};

// The totals an instance of unknown shape may add to.
const SHAPE_FEEDS: [LimitKey; 4] = [
    LimitKey::A1Ocpus,
    LimitKey::A1MemoryGb,
    LimitKey::A1Instances,
    LimitKey::MicroInstances,
];

// The limits and rules of one kind of volume.
struct VolumeRules {
    default: LimitKey,
    default_note: &'static str,
    min: LimitKey,
    too_small: RuleId,
    max: LimitKey,
    too_large: RuleId,
}

const BOOT_VOLUME: VolumeRules = VolumeRules {
    default: LimitKey::BootVolumeDefaultGb,
    default_note: "boot_volume_gb not set, so the image default applies",
    min: LimitKey::BootVolumeMinGb,
    too_small: RuleId::BootVolumeTooSmall,
    max: LimitKey::BootVolumeMaxGb,
    too_large: RuleId::BootVolumeTooLarge,
};

const BLOCK_VOLUME: VolumeRules = VolumeRules {
    default: LimitKey::BlockVolumeDefaultGb,
    default_note: "size_gb not set, so OCI's default size applies",
    min: LimitKey::BlockVolumeMinGb,
    too_small: RuleId::BlockVolumeTooSmall,
    max: LimitKey::BlockVolumeMaxGb,
    too_large: RuleId::BlockVolumeTooLarge,
};

impl Checker {
    // A volume size in whole GB within the tier's bounds, or the default when unset; the note
    // says when the default was used, for the storage total's detail.
    fn volume_size(
        &mut self,
        q: &Quantity,
        subject: Subject,
        who: &str,
        rules: &VolumeRules,
    ) -> (Num, Option<&'static str>) {
        match self.read(q, subject, who, true) {
            Read::Val(v) => {
                let bounds = [
                    (rules.min, rules.too_small, true),
                    (rules.max, rules.too_large, false),
                ];
                for (key, rule, is_min) in bounds {
                    let Some(limit) = self.limit(key) else {
                        continue;
                    };
                    if (is_min && v < limit.value) || (!is_min && v > limit.value) {
                        let text = format!("{who} asks for {}.", Unit::Gb.format(v));
                        self.push_limit(rule, Severity::Error, subject, limit, v, text);
                        return (Num::Bad, None);
                    }
                }
                (Num::Known(v), None)
            }
            Read::Absent => match self.limit(rules.default) {
                Some(limit) => (Num::Known(limit.value), Some(rules.default_note)),
                None => (Num::Bad, None),
            },
            Read::Unknown => {
                self.defer(
                    subject,
                    &[LimitKey::BlockStorageGb],
                    who,
                    "the block storage total",
                );
                (Num::Unknown, None)
            }
            Read::Bad => (Num::Bad, None),
        }
    }

    pub(super) fn instance(&mut self, index: usize, inst: &Instance) {
        let kind = ItemKind::Instance;
        let at = |attribute| Subject::item(kind, index, attribute);
        let who = who(kind, index, &inst.label);
        let shape = match &inst.shape {
            Value::Known(name) => match Shape::parse(name) {
                Some(shape) => Some(shape),
                None => {
                    self.shape_not_free(at(Some("shape")), &who, name);
                    None
                }
            },
            Value::Unknown => {
                self.defer(
                    at(Some("shape")),
                    &SHAPE_FEEDS,
                    &who,
                    "the A1 and micro totals",
                );
                None
            }
            Value::Absent => {
                self.missing(
                    at(Some("shape")),
                    &who,
                    "OCI needs a shape for every instance.",
                );
                None
            }
        };

        // An unknown count leaves open exactly the totals this shape adds to.
        let feeds: &[LimitKey] = match shape {
            Some(Shape::A1Flex) => &[
                LimitKey::A1Ocpus,
                LimitKey::A1MemoryGb,
                LimitKey::A1Instances,
                LimitKey::BlockStorageGb,
            ],
            Some(Shape::E2Micro) => &[LimitKey::MicroInstances, LimitKey::BlockStorageGb],
            None => &[LimitKey::BlockStorageGb],
        };
        let copies = self.count(&inst.count, kind, index, &who, feeds);
        if inst.shape == Value::Unknown {
            for key in SHAPE_FEEDS {
                self.add(key, at(Some("shape")), &who, copies, Num::Unknown);
            }
        }

        // Every instance has a boot volume, free shape or not, and it counts against storage.
        let (boot, note) = self.volume_size(
            &inst.boot_volume_gb,
            at(Some("boot_volume_gb")),
            &who,
            &BOOT_VOLUME,
        );
        self.add_noted(
            LimitKey::BlockStorageGb,
            at(Some("boot_volume_gb")),
            &who,
            copies,
            boot,
            note,
        );

        let count_attr = match inst.count {
            Value::Absent => None,
            _ => Some("count"),
        };
        let (ocpus, memory) = match shape {
            Some(Shape::A1Flex) => {
                let (ocpus, memory) = self.a1(index, inst, &who);
                self.add(LimitKey::A1Ocpus, at(Some("ocpus")), &who, copies, ocpus);
                self.add(
                    LimitKey::A1MemoryGb,
                    at(Some("memory_gb")),
                    &who,
                    copies,
                    memory,
                );
                self.add(
                    LimitKey::A1Instances,
                    at(count_attr),
                    &who,
                    copies,
                    Num::Known(1.0),
                );
                (ocpus.known(), memory.known())
            }
            Some(Shape::E2Micro) => {
                self.micro(index, inst, &who);
                self.add(
                    LimitKey::MicroInstances,
                    at(count_attr),
                    &who,
                    copies,
                    Num::Known(1.0),
                );
                (
                    self.limit(LimitKey::MicroOcpus).map(|l| l.value),
                    self.limit(LimitKey::MicroMemoryGb).map(|l| l.value),
                )
            }
            None => (None, None),
        };
        self.instances.push(EffectiveInstance {
            index,
            label: inst.label.clone(),
            shape,
            count: copies.known(),
            ocpus,
            memory_gb: memory,
            boot_volume_gb: boot.known(),
        });
    }

    fn shape_not_free(&mut self, subject: Subject, who: &str, name: &str) {
        // A near miss in case only is the likeliest typo; say which name was meant.
        let hint = [A1_FLEX, E2_MICRO]
            .into_iter()
            .find(|free| free.eq_ignore_ascii_case(name.trim()))
            .map(|free| format!(" Shape names are case-sensitive: did you mean {free}?"))
            .unwrap_or_default();
        let detail = format!(
            "{who} uses shape {name:?}, which has no Always Free allowance.{hint} {} (source: \
             {SRC_SHAPES})",
            RuleId::ShapeNotFree.advice()
        );
        self.push_sourced(
            RuleId::ShapeNotFree,
            Severity::Error,
            subject,
            detail,
            SRC_SHAPES,
        );
    }

    // An A1 instance's OCPUs and the memory the cloud will give it.
    fn a1(&mut self, index: usize, inst: &Instance, who: &str) -> (Num, Num) {
        let at = |attribute| Subject::item(ItemKind::Instance, index, Some(attribute));
        let ocpus = match self.read(&inst.ocpus, at("ocpus"), who, false) {
            Read::Val(v) => self.a1_ocpus(at("ocpus"), who, v),
            Read::Unknown => {
                let feeds = [LimitKey::A1Ocpus, LimitKey::A1MemoryGb];
                self.defer(at("ocpus"), &feeds, who, "the A1 OCPU and memory totals");
                Num::Unknown
            }
            Read::Absent => {
                self.missing(
                    at("ocpus"),
                    who,
                    "VM.Standard.A1.Flex needs shape_config.ocpus; OCI has no default for it.",
                );
                Num::Bad
            }
            Read::Bad => Num::Bad,
        };

        let asked = self.read(&inst.memory_gb, at("memory_gb"), who, false);
        // The range check needs both numbers; a failed one means OCI refuses the launch.
        let asked = match (asked, ocpus) {
            (Read::Val(m), Num::Known(o)) => self.a1_ratio(at("memory_gb"), who, m, o),
            (other, _) => other,
        };

        let given = self.limit(LimitKey::A1MemoryPerOcpuGiven);
        let memory = match (given, asked) {
            (_, Read::Bad) => Num::Bad,
            (Some(given), asked) => {
                let memory = ocpus.times(Num::Known(given.value));
                match (asked, memory) {
                    (Read::Val(m), Num::Known(real)) if (m - real).abs() > EPSILON => {
                        let text = format!(
                            "{who} asks for {} of memory but will get {} ({} on {}).",
                            Unit::Gb.format(m),
                            Unit::Gb.format(real),
                            given.display_value(),
                            Unit::Ocpu.format(real / given.value),
                        );
                        self.push_limit(
                            RuleId::A1MemoryRounded,
                            Severity::Warning,
                            at("memory_gb"),
                            given,
                            m,
                            text,
                        );
                    }
                    (Read::Unknown, Num::Known(real)) => {
                        let what = format!(
                            "the memory per OCPU range (the cloud gives {} either way)",
                            Unit::Gb.format(real)
                        );
                        self.defer(at("memory_gb"), &[LimitKey::A1MemoryPerOcpuMax], who, &what);
                    }
                    _ => {}
                }
                memory
            }
            (None, Read::Val(m)) => Num::Known(m),
            (None, Read::Absent) => {
                let per = self.value_or(LimitKey::A1MemoryPerOcpuDefault, 6.0);
                ocpus.times(Num::Known(per))
            }
            (None, Read::Unknown) => {
                self.defer(
                    at("memory_gb"),
                    &[LimitKey::A1MemoryGb],
                    who,
                    "the A1 memory total",
                );
                Num::Unknown
            }
        };
        (ocpus, memory)
    }

    fn a1_ocpus(&mut self, subject: Subject, who: &str, v: f64) -> Num {
        let Some(min) = self.limit(LimitKey::A1OcpusMin) else {
            return Num::Known(v);
        };
        let text = format!("{who} asks for {}.", Unit::Ocpu.format(v));
        if v.fract() != 0.0 {
            self.push_limit(
                RuleId::A1OcpuNotWhole,
                Severity::Error,
                subject,
                min,
                v,
                text,
            );
            Num::Bad
        } else if v < min.value {
            self.push_limit(RuleId::A1OcpuTooFew, Severity::Error, subject, min, v, text);
            Num::Bad
        } else {
            Num::Known(v)
        }
    }

    fn a1_ratio(&mut self, subject: Subject, who: &str, memory: f64, ocpus: f64) -> Read {
        let ratio = memory / ocpus;
        let bounds = [
            (self.limit(LimitKey::A1MemoryPerOcpuMin), true),
            (self.limit(LimitKey::A1MemoryPerOcpuMax), false),
        ];
        for (limit, is_min) in bounds {
            let Some(limit) = limit else { continue };
            let out = if is_min {
                ratio < limit.value
            } else {
                ratio > limit.value
            };
            if out {
                let text = format!(
                    "{who} asks for {} on {}, {}.",
                    Unit::Gb.format(memory),
                    Unit::Ocpu.format(ocpus),
                    Unit::GbPerOcpu.format(ratio),
                );
                self.push_limit(
                    RuleId::A1MemoryRatio,
                    Severity::Error,
                    subject,
                    limit,
                    ratio,
                    text,
                );
                return Read::Bad;
            }
        }
        Read::Val(memory)
    }

    fn micro(&mut self, index: usize, inst: &Instance, who: &str) {
        let checks = [
            ("ocpus", &inst.ocpus, LimitKey::MicroOcpus, Unit::Ocpu),
            (
                "memory_gb",
                &inst.memory_gb,
                LimitKey::MicroMemoryGb,
                Unit::Gb,
            ),
        ];
        for (attribute, q, key, unit) in checks {
            let subject = Subject::item(ItemKind::Instance, index, Some(attribute));
            let Some(fixed) = self.limit(key) else {
                continue;
            };
            match self.read(q, subject, who, false) {
                Read::Val(v) if (v - fixed.value).abs() > EPSILON => {
                    let text = format!("{who} sets {attribute} = {}.", unit.format(v));
                    self.push_limit(
                        RuleId::MicroShapeFixed,
                        Severity::Error,
                        subject,
                        fixed,
                        v,
                        text,
                    );
                }
                Read::Unknown => {
                    self.defer(
                        subject,
                        &[key],
                        who,
                        "that it matches the fixed micro shape",
                    );
                }
                _ => {}
            }
        }
    }

    pub(super) fn block_volume(&mut self, index: usize, volume: &BlockVolume) {
        let kind = ItemKind::BlockVolume;
        let who = who(kind, index, &volume.label);
        let copies = self.count(
            &volume.count,
            kind,
            index,
            &who,
            &[LimitKey::BlockStorageGb],
        );
        let subject = Subject::item(kind, index, Some("size_gb"));
        let (size, note) = self.volume_size(&volume.size_gb, subject, &who, &BLOCK_VOLUME);
        self.add_noted(LimitKey::BlockStorageGb, subject, &who, copies, size, note);
    }
}
