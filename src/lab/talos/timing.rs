//! How long each emulated Talos or Kubernetes step takes, and the trace of what ran.
//!
//! Every duration comes from one table ([`LATENCY`]), with the research figure it rests on
//! (`shared/research/talos_proxmox.md` §F) or an `ESTIMATE` mark where no source gave a
//! number. The table is scaled by [`TalosTiming::time_scale`]; boot-like steps are also
//! multiplied by [`TCG_SLOWDOWN`] when the host has no KVM (research §0.2 item 1).

use std::net::Ipv4Addr;
use std::time::Duration;

/// How real the emulated durations are.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TalosTiming {
    /// Multiplier on every table duration: `0.0` for tests (no waiting), `1.0` for realistic.
    /// Negative or non-finite values count as `0.0`.
    pub time_scale: f64,
    /// The VM runs without KVM (QEMU TCG), as on an OCI Ampere A1 host: boot-like steps take
    /// [`TCG_SLOWDOWN`] times longer.
    pub tcg: bool,
}

impl Default for TalosTiming {
    fn default() -> Self {
        Self {
            time_scale: 0.0,
            tcg: false,
        }
    }
}

/// Same-architecture arm64 TCG multiplier used by syzkaller (research §0.2 item 1,
/// https://github.com/google/syzkaller/pull/5419).
pub const TCG_SLOWDOWN: f64 = 5.0;

/// Emulated steps that take time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Step {
    /// Power-on to apid listening.
    Boot,
    /// Maintenance-mode apply: install to disk, reboot, apid back with mTLS.
    InstallReboot,
    /// A reboot of a configured node (apid down, then up).
    Reboot,
    /// Configured boot: containerd/CRI healthy, bootstrap becomes allowed.
    ServicesStart,
    /// The Bootstrap RPC itself (includes the time-sync wait).
    BootstrapRpc,
    /// How long Bootstrap waits for time sync before refusing.
    TimeSyncWait,
    /// etcd starting as a one-member cluster after Bootstrap.
    EtcdStart,
    /// kube-apiserver static pod serving on :6443 after etcd is healthy.
    ApiServerStart,
    /// kubelet registering its Node object once the API answers.
    KubeletRegister,
    /// Talos applying bootstrap, inline and extra manifests once the API answers.
    ManifestsApply,
    /// A CNI DaemonSet (Cilium, flannel) created until nodes report Ready.
    CniReady,
    /// A Deployment or DaemonSet becoming available once its pods can run.
    WorkloadReady,
    /// A unary apid call (Version, ServiceList, ...).
    ApiCall,
    /// One Kubernetes API request.
    KubeRequest,
}

/// One row of the latency table.
#[derive(Debug)]
pub(crate) struct Latency {
    pub step: Step,
    /// Seconds at `time_scale = 1.0` with KVM.
    pub seconds: f64,
    /// Multiplied by [`TCG_SLOWDOWN`] without KVM.
    pub boot_like: bool,
    /// Where the figure comes from.
    #[allow(dead_code)]
    pub source: &'static str,
}

/// The latency table (one place for every duration).
pub(crate) const LATENCY: &[Latency] = &[
    Latency {
        step: Step::Boot,
        seconds: 20.0,
        boot_like: true,
        source: "ESTIMATE: no measured Talos boot-to-apid figure is published",
    },
    Latency {
        step: Step::InstallReboot,
        seconds: 45.0,
        boot_like: true,
        source: "ESTIMATE: nodes were Ready ~75 s after apply \
                 (https://github.com/bbtechsys/terraform-proxmox-talos/issues/19); install and \
                 reboot taken as most of it",
    },
    Latency {
        step: Step::Reboot,
        seconds: 25.0,
        boot_like: true,
        source: "ESTIMATE: boot plus graceful shutdown",
    },
    Latency {
        step: Step::ServicesStart,
        seconds: 5.0,
        boot_like: true,
        source: "ESTIMATE: containerd/CRI health before IsBootstrapAllowed (v1alpha1_runtime.go)",
    },
    Latency {
        step: Step::BootstrapRpc,
        seconds: 1.0,
        boot_like: false,
        source: "ESTIMATE: v1alpha1_server.go waits up to 5 s for time sync; usually in sync",
    },
    Latency {
        step: Step::TimeSyncWait,
        seconds: 5.0,
        boot_like: false,
        source: "siderolabs/talos v1alpha1_server.go Bootstrap: context.WithTimeout(ctx, 5*time.Second) \
                 around timeresource.NewSyncCondition(...).Wait",
    },
    Latency {
        step: Step::EtcdStart,
        seconds: 10.0,
        boot_like: true,
        source: "ESTIMATE: Talos 1.8+ 'etcd bootstrap requires additional time' \
                 (https://github.com/hcloud-k8s/terraform-hcloud-kubernetes/pull/76)",
    },
    Latency {
        step: Step::ApiServerStart,
        seconds: 30.0,
        boot_like: true,
        source: "ESTIMATE: static pods pulled and started after etcd",
    },
    Latency {
        step: Step::KubeletRegister,
        seconds: 10.0,
        boot_like: false,
        source: "ESTIMATE",
    },
    Latency {
        step: Step::ManifestsApply,
        seconds: 5.0,
        boot_like: false,
        source: "ESTIMATE",
    },
    Latency {
        step: Step::CniReady,
        seconds: 30.0,
        boot_like: false,
        source: "ESTIMATE: Cilium agents pulling and starting",
    },
    Latency {
        step: Step::WorkloadReady,
        seconds: 20.0,
        boot_like: false,
        source: "ESTIMATE: image pull and start; Flux install scripts commonly wait up to \
                 300 s per controller",
    },
    Latency {
        step: Step::ApiCall,
        seconds: 0.01,
        boot_like: false,
        source: "ESTIMATE",
    },
    Latency {
        step: Step::KubeRequest,
        seconds: 0.005,
        boot_like: false,
        source: "ESTIMATE",
    },
];

/// The table as `(step, seconds at time scale 1 with KVM, boot-like)`, for benchmarks that
/// compute a lower bound from the same figures the lab waits for.
pub fn rows() -> Vec<(String, f64, bool)> {
    LATENCY
        .iter()
        .map(|l| (format!("{:?}", l.step), l.seconds, l.boot_like))
        .collect()
}

impl TalosTiming {
    /// The scaled duration of `step`.
    pub(crate) fn duration(&self, step: Step) -> Duration {
        let scale = if self.time_scale.is_finite() && self.time_scale > 0.0 {
            self.time_scale
        } else {
            return Duration::ZERO;
        };
        let Some(row) = LATENCY.iter().find(|l| l.step == step) else {
            return Duration::ZERO;
        };
        let mut secs = row.seconds * scale;
        if row.boot_like && self.tcg {
            secs *= TCG_SLOWDOWN;
        }
        // Cap at a day: a huge time_scale must not overflow Duration.
        Duration::try_from_secs_f64(secs.min(86_400.0)).unwrap_or(Duration::ZERO)
    }
}

/// Sleeps for `d`, or returns at once for zero.
pub(crate) async fn pause(d: Duration) {
    if d.is_zero() {
        tokio::task::yield_now().await;
    } else {
        tokio::time::sleep(d).await;
    }
}

/// One recorded operation, for benchmarks.
#[derive(Debug, Clone, PartialEq)]
pub struct TraceEntry {
    /// Operation name (the same names [`super::TalosFleet::set_fault`] takes).
    pub op: String,
    /// Node (or Kubernetes endpoint) address that ran it.
    pub address: Ipv4Addr,
    /// Start, measured from the fleet's creation.
    pub start: Duration,
    /// End, measured from the fleet's creation.
    pub end: Duration,
    /// Whether it succeeded.
    pub ok: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_scale_and_slow_down_without_kvm() {
        let cases = [
            (
                "zero scale waits nothing",
                TalosTiming {
                    time_scale: 0.0,
                    tcg: true,
                },
                Step::Boot,
                0.0,
            ),
            (
                "nan counts as zero",
                TalosTiming {
                    time_scale: f64::NAN,
                    tcg: false,
                },
                Step::Boot,
                0.0,
            ),
            (
                "negative counts as zero",
                TalosTiming {
                    time_scale: -1.0,
                    tcg: false,
                },
                Step::Boot,
                0.0,
            ),
            (
                "kvm boot",
                TalosTiming {
                    time_scale: 1.0,
                    tcg: false,
                },
                Step::Boot,
                20.0,
            ),
            (
                "tcg boot is 5x",
                TalosTiming {
                    time_scale: 1.0,
                    tcg: true,
                },
                Step::Boot,
                100.0,
            ),
            (
                "tcg leaves api calls",
                TalosTiming {
                    time_scale: 1.0,
                    tcg: true,
                },
                Step::ApiCall,
                0.01,
            ),
            (
                "huge scale is capped",
                TalosTiming {
                    time_scale: 1e300,
                    tcg: true,
                },
                Step::Boot,
                86_400.0,
            ),
        ];
        for (name, timing, step, want) in cases {
            let got = timing.duration(step).as_secs_f64();
            assert!((got - want).abs() < 1e-6, "{name}: got {got}, want {want}");
        }
    }

    #[test]
    fn every_duration_cites_a_public_source_or_says_estimate() {
        // Users see these; a research note's section is nothing they can open.
        for row in LATENCY {
            let source = row.source;
            assert!(
                !source.contains('§') && !source.contains("research"),
                "{:?}: {source}",
                row.step
            );
            assert!(
                source.starts_with("ESTIMATE")
                    || source.contains("https://")
                    || source.contains(".go"),
                "{:?}: name the upstream page or file, or say ESTIMATE: {source}",
                row.step
            );
        }
    }
}
