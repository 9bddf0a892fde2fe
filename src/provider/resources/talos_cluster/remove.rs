//! Taking nodes out of the cluster: what an update does for each node that the configuration
//! no longer lists, or moves to another host or address (it is then made again, `apply.rs`),
//! in the order Talos documents for scaling down
//! (<https://docs.siderolabs.com/talos/v1.13/deploy-and-manage-workloads/scaling-down>:
//! `talosctl reset`, which leaves etcd and powers the machine off, then `kubectl delete node`):
//!
//! 1. etcd: the node leaves (`EtcdLeaveCluster`, what `talosctl reset` does first). A node
//!    that does not answer has its member removed through a node that stays
//!    (`EtcdRemoveMemberByID`, which upstream keeps for members whose node is gone). A node
//!    that is no member (any more) is done.
//! 2. Its VM is stopped, so its kubelet stops posting: a running kubelet would register the
//!    Node object again.
//! 3. Its Kubernetes Node object is deleted (404 is done).
//! 4. Its VM and its `cidata` ISO are destroyed.
//!
//! Each step first asks whether it is done, and the node stays in the state's `nodes` until
//! the last step finishes, so an apply that failed or was killed finishes the removal when
//! applied again. Only `proxmox` placement removes nodes: an `instances` host is not ours to
//! power off.

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::apply::{
    kube_err, pve_client, retry, stop_vm, storage, talos_err, Progress, Step, StepError,
};
use super::model::{defaults, Cluster, NodeStatus};
use crate::clients::talos::{self, Credentials};
use crate::clients::Call;
use crate::clients::{kube, ErrorKind};

/// Takes every node of `progress.leaving` out of the cluster `m` describes; each leaves
/// `progress.leaving` (and `progress.vms`) once it is out.
pub(super) async fn remove_nodes(
    m: &Cluster,
    creds: &Credentials,
    kubeconfig: Option<&str>,
    progress: &mut Progress,
    cancel: &CancellationToken,
    deadline: Instant,
) -> Step<()> {
    if progress.leaving.is_empty() || m.placement() != "proxmox" {
        return Ok(());
    }
    // The nodes that stay and run already answer for the cluster.
    let staying = m
        .node
        .iter()
        .filter(|n| !progress.leaving.contains_key(&n.name) && progress.vms.contains_key(&n.name))
        .map(|n| talos::Client::new(&n.address, creds).map_err(|e| talos_err("etcd", e)))
        .collect::<Step<Vec<_>>>()?;
    if staying.is_empty() {
        return Err(StepError::new(
            "remove nodes",
            ErrorKind::Fatal,
            "no node that runs now stays in the configuration, so none is left to hold the cluster's etcd: keep at least one",
        ));
    }
    let pve = pve_client(m)?;
    let call = Call::new(cancel, defaults::CALL);
    let long = Call::new(cancel, deadline.saturating_duration_since(Instant::now()));
    let iso_store = m
        .proxmox
        .as_ref()
        .map(|p| storage(&p.iso_storage, defaults::ISO_STORAGE))
        .unwrap_or_default();
    let mut kube: Option<kube::Client> = None;
    let leaving: Vec<NodeStatus> = progress.leaving.values().cloned().collect();
    for n in &leaving {
        tracing::info!(node = %n.name, host = %n.host, vmid = n.vmid, "talos cluster: taking a node out");
        leave_etcd(n, &staying, creds, cancel, deadline).await?;
        progress.mark(&format!("etcd leave {}", n.name));
        stop_vm(&pve, m, n, &call, &long).await?;
        progress.mark(&format!("stop vm {}", n.name));
        let kc = match &kube {
            Some(kc) => kc.clone(),
            None => {
                let kc = kube_client(kubeconfig, &staying, cancel, deadline).await?;
                kube = Some(kc.clone());
                kc
            }
        };
        delete_node(&kc, &n.name, cancel, deadline).await?;
        progress.mark(&format!("delete node {}", n.name));
        super::apply::destroy_vm(&pve, m, n, &iso_store, &call, &long).await?;
        progress.mark(&format!("destroy vm {}", n.name));
        progress.leaving.remove(&n.name);
        progress.vms.remove(&n.name);
        progress.mark(&format!("removed {}", n.name));
    }
    Ok(())
}

/// The etcd members, as the first node of `staying` that answers lists them, with that node.
async fn members(
    staying: &[talos::Client],
    cancel: &CancellationToken,
) -> Step<(talos::Client, Vec<talos::EtcdMember>)> {
    let mut last = None;
    for c in staying {
        match c
            .etcd_member_list(&Call::new(cancel, defaults::MEMBER_LIST))
            .await
        {
            Ok(list) => return Ok((c.clone(), list)),
            Err(e) if e.kind() == ErrorKind::Cancelled => return Err(talos_err("etcd", e)),
            Err(e) => last = Some(e),
        }
    }
    Err(StepError::new(
        "etcd",
        ErrorKind::Transient,
        match last {
            Some(e) => format!("no node that stays lists the etcd members yet: {e}"),
            None => "no node that stays lists the etcd members yet".to_string(),
        },
    ))
}

/// Takes `n`'s member out of etcd: see the module docs.
async fn leave_etcd(
    n: &NodeStatus,
    staying: &[talos::Client],
    creds: &Credentials,
    cancel: &CancellationToken,
    deadline: Instant,
) -> Step<()> {
    let step = format!("etcd leave {}", n.name);
    let peer_url = format!("https://{}:2380", n.address);
    retry(&step, deadline, cancel, || async {
        let (asker, list) = members(staying, cancel).await?;
        // etcd names a member after its node's hostname, the node's name here.
        let Some(member) = list
            .iter()
            .find(|m| m.hostname == n.name || m.peer_urls.contains(&peer_url))
        else {
            return Ok(());
        };
        let node = talos::Client::new(&n.address, creds).map_err(|e| talos_err(&step, e))?;
        match node
            .etcd_leave_cluster(&Call::new(cancel, defaults::CALL))
            .await
        {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == ErrorKind::Transient => {
                tracing::info!(node = %n.name, error = %e, "talos cluster: the node does not answer; removing its etcd member through a node that stays");
                match asker
                    .etcd_remove_member_by_id(member.id, &Call::new(cancel, defaults::CALL))
                    .await
                {
                    Ok(()) => Ok(()),
                    Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
                    Err(e) => Err(talos_err(&step, e)),
                }
            }
            Err(e) => Err(talos_err(&step, e)),
        }
    })
    .await
}

/// A Kubernetes client: from the state's kubeconfig, or one fetched from a node that stays.
async fn kube_client(
    kubeconfig: Option<&str>,
    staying: &[talos::Client],
    cancel: &CancellationToken,
    deadline: Instant,
) -> Step<kube::Client> {
    let text = match kubeconfig {
        Some(k) => k.to_string(),
        None => {
            retry("kubeconfig", deadline, cancel, || async {
                let mut last = None;
                for c in staying {
                    match c.kubeconfig(&Call::new(cancel, defaults::CALL)).await {
                        Ok(k) => return Ok(k),
                        Err(e) => last = Some(e),
                    }
                }
                Err(match last {
                    Some(e) => talos_err("kubeconfig", e),
                    None => StepError::new("kubeconfig", ErrorKind::Fatal, "no node stays"),
                })
            })
            .await?
        }
    };
    kube::Client::from_kubeconfig(&text).map_err(|e| kube_err("kubernetes", e))
}

/// Deletes the Node object `name`; one already gone is done.
async fn delete_node(
    kc: &kube::Client,
    name: &str,
    cancel: &CancellationToken,
    deadline: Instant,
) -> Step<()> {
    let step = format!("delete node {name}");
    retry(&step, deadline, cancel, || async {
        kc.delete_node(name, &Call::new(cancel, defaults::CALL))
            .await
            .map(|_| ())
            .map_err(|e| kube_err(&step, e))
    })
    .await
}
