//! Plugs the Talos emulation into the lab's VMs: a VM booted from a `cidata` volume becomes an
//! emulated Talos node (research §B.6: NoCloud reads `user-data`, `meta-data` and
//! `network-config` from a volume labelled `cidata`).

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::sync::{Arc, Mutex, OnceLock};

use async_trait::async_trait;

use super::talos::{NodeBoot, TalosFleet, TalosTiming};
use super::{GuestBoot, GuestLauncher, HostOs, Lab, LabConfig, LabError};

/// The guest launcher that boots emulated Talos nodes.
pub struct TalosGuests {
    fleet: TalosFleet,
    /// The lab's address base, known once the lab has bound its addresses.
    base: Arc<OnceLock<Ipv4Addr>>,
    /// Where each VM's guest answers, so a halt finds it.
    addresses: Mutex<HashMap<(String, u32), Ipv4Addr>>,
}

impl TalosGuests {
    /// The Talos fleet behind the launcher (for tests and the trace).
    pub fn fleet(&self) -> &TalosFleet {
        &self.fleet
    }

    /// A fallback address for a VM whose config names none: `.100` upwards in the lab's /24,
    /// by VM id, clear of the hosts (`.10` and up).
    fn fallback_address(&self, vmid: u32) -> Ipv4Addr {
        let o = self
            .base
            .get()
            .copied()
            .unwrap_or(Ipv4Addr::new(127, 0, 0, 0))
            .octets();
        Ipv4Addr::new(o[0], o[1], o[2], 100 + (vmid % 150) as u8)
    }
}

#[async_trait]
impl GuestLauncher for TalosGuests {
    async fn boot(&self, g: GuestBoot) -> Result<(), String> {
        let boot = NodeBoot::from_nocloud(
            self.fallback_address(g.vmid),
            &g.user_data,
            &g.meta_data,
            &g.network_config,
        );
        let node = self
            .fleet
            .boot_vm(boot, g.tcg)
            .await
            .map_err(|e| e.to_string())?;
        if let Ok(mut map) = self.addresses.lock() {
            map.insert((g.node, g.vmid), node.address());
        }
        Ok(())
    }

    async fn halt(&self, node: &str, vmid: u32) {
        let addr = self
            .addresses
            .lock()
            .ok()
            .and_then(|mut m| m.remove(&(node.to_string(), vmid)));
        if let Some(addr) = addr {
            let _ = self.fleet.halt(addr);
        }
    }
}

/// A lab whose VMs boot emulated Talos nodes.
pub struct TalosLab {
    /// The hosts, SSH and Proxmox API.
    pub lab: Lab,
    /// The Talos guests.
    pub guests: Arc<TalosGuests>,
}

impl TalosLab {
    /// Starts the lab with Talos guests timed like its hosts (TCG when the lab has no KVM).
    pub async fn start(config: LabConfig) -> Result<TalosLab, LabError> {
        let timing = TalosTiming {
            time_scale: config.time_scale,
            tcg: !config.kvm,
        };
        let base = Arc::new(OnceLock::new());
        let guests = Arc::new(TalosGuests {
            fleet: TalosFleet::new(timing),
            base: base.clone(),
            addresses: Mutex::new(HashMap::new()),
        });
        let host_os = config.host_os;
        let lab = Lab::start_with(config, guests.clone()).await?;
        let _ = base.set(lab.base());
        let tl = TalosLab { lab, guests };
        if host_os == HostOs::Talos {
            if let Err(e) = tl.boot_hosts().await {
                let _ = tl.stop().await;
                return Err(e);
            }
        }
        Ok(tl)
    }

    /// Powers on Talos on every Ampere host with no machine config: it waits in maintenance
    /// mode, as Talos on an OCI instance without user data does. Talos runs on the host
    /// itself here, so without nested virtualisation, never under TCG.
    async fn boot_hosts(&self) -> Result<(), LabError> {
        for h in self.lab.state().hosts.iter().filter(|h| h.role == "talos") {
            let address: Ipv4Addr = h
                .address
                .parse()
                .map_err(|_| LabError::Config(format!("host address {}", h.address)))?;
            let boot = NodeBoot {
                address,
                hostname: h.name.clone(),
                user_data: String::new(),
                network_config: String::new(),
            };
            self.guests
                .fleet
                .boot_vm(boot, false)
                .await
                .map_err(|e| LabError::Config(format!("Talos on {}: {e}", h.name)))?;
        }
        Ok(())
    }

    /// Stops the guests, then the hosts; nothing is left listening.
    pub async fn stop(self) -> Result<(), LabError> {
        self.guests.fleet.stop_all().await;
        self.lab.stop().await
    }
}
