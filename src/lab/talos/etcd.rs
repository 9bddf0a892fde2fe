//! The etcd cluster of each emulated Talos cluster, as the machine API's etcd calls see it:
//! who is a member, whether the members have a leader, and what `EtcdLeaveCluster` and
//! `EtcdRemoveMemberByID` do.
//!
//! Facts (siderolabs/talos at ad8823176 unless said otherwise):
//! - Both calls: `internal/app/machined/internal/server/v1alpha1/v1alpha1_server.go`.
//!   `machinehelper.CheckControlplane` first (`Unimplemented "<api> is only available on
//!   control plane nodes"`, with `etcd leave` and `etcd remove member` as the API names), then
//!   an etcd client to every control plane (`NewClientFromControlPlaneIPs`) with
//!   `clientv3.WithRequireLeader`.
//! - `EtcdLeaveCluster` runs `internal/pkg/etcd/etcd.go` `LeaveCluster`: the local member ID
//!   from the `etcd.Member` resource (`internal/pkg/etcd/local.go` `GetLocalMemberID` waits
//!   up to 3 minutes for it; `controllers/etcd/member.go` keeps it only while the etcd
//!   service runs healthy), then `MemberRemove`, retried every 10 s for 5 minutes while etcd
//!   answers "unhealthy" or "stopped", a member already gone counting as done; then it stops
//!   the etcd service and empties `/var/lib/etcd`. Errors are wrapped as `failed to leave
//!   cluster: ...`.
//! - `EtcdRemoveMemberByID`: `MemberRemove(member_id)`; a member etcd does not know is
//!   `NotFound "failed to remove member <id>: etcdserver: member not found"`, other failures
//!   `failed to remove member: ...`.
//! - etcd's texts (`etcd-io/etcd` `api/v3rpc/rpctypes/error.go`): "etcdserver: member not
//!   found", "etcdserver: no leader", "etcdserver: unhealthy cluster". A removal is refused
//!   as unhealthy when the member is up and the members still connected, less it, would be
//!   fewer than a quorum (`server/etcdserver/server.go` `mayRemoveMember`); a member that is
//!   down may always go.
//! - grpc-go turns a handler's error into a status: an etcd error wrapped by Talos carries no
//!   gRPC status of its own, so it is `Unknown` with the whole text; a wrapped context error
//!   keeps its code (`status.FromContextError`).
//!
//! The lab treats every member as a voter that has started (no learners).

use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tonic::Status;

use super::config::MachineType;
use super::node::Node;
use super::Fleet;

/// How often a call waiting on etcd looks again.
const POLL: Duration = Duration::from_millis(20);

/// How long `GetLocalMemberID` waits for the local member (`local.go`: 3 minutes).
const LOCAL_MEMBER_WAIT: Duration = Duration::from_secs(180);

/// One member of a cluster's etcd.
pub(crate) struct Member {
    /// The node the member runs on.
    pub node: Arc<Node>,
    /// The member ID.
    pub id: u64,
    /// etcd's name for it: the node's hostname.
    pub name: String,
    /// Its address (peer and client URLs).
    pub ip: Ipv4Addr,
}

/// The members of the etcd cluster at `endpoint`, sorted by ID as etcd's
/// `RaftCluster.Members` sorts them. A member stays one while its node is down.
pub(crate) fn members(fleet: &Fleet, endpoint: &str) -> Vec<Member> {
    let mut out: Vec<Member> = fleet
        .nodes_snapshot()
        .into_iter()
        .filter_map(|node| {
            let (id, name, ip) = node.etcd_member(endpoint)?;
            Some(Member { node, id, name, ip })
        })
        .collect();
    out.sort_by_key(|m| m.id);
    out
}

/// Whether the members can elect a leader: more than half of them run.
fn has_leader(members: &[Member], endpoint: &str) -> bool {
    let up = members
        .iter()
        .filter(|m| m.node.etcd_serves(endpoint))
        .count();
    up * 2 > members.len()
}

/// `mayRemoveMember`: whether removing member `id` would break the active quorum.
fn breaks_quorum(members: &[Member], id: u64, endpoint: &str) -> bool {
    let Some(target) = members.iter().find(|m| m.id == id) else {
        return false;
    };
    if !target.node.etcd_serves(endpoint) {
        return false;
    }
    let active = members
        .iter()
        .filter(|m| m.node.etcd_serves(endpoint))
        .count();
    active.saturating_sub(1) < 1 + (members.len() - 1) / 2
}

/// `machinehelper.CheckControlplane` for `api`: the control-plane endpoint of `node`'s
/// cluster, or `Unimplemented`. A node without a configuration has machine type `unknown`,
/// which is not a control plane either.
pub(crate) fn control_plane_endpoint(node: &Node, api: &str) -> Result<String, Status> {
    node.config()
        .filter(|c| c.machine_type == MachineType::ControlPlane)
        .map(|c| c.endpoint.clone())
        .ok_or_else(|| {
            Status::unimplemented(format!("{api} is only available on control plane nodes"))
        })
}

/// What a wait that ran out of time answers: the caller's deadline, as grpc-go reports it.
fn deadline_exceeded() -> Status {
    Status::deadline_exceeded("context deadline exceeded")
}

/// Waits until `ready()` holds, up to the caller's `deadline`; `Err` when it passed.
async fn wait_for(deadline: Option<Instant>, ready: impl Fn() -> bool) -> Result<(), Status> {
    loop {
        if ready() {
            return Ok(());
        }
        let pause = match deadline {
            Some(d) => {
                let left = d.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Err(deadline_exceeded());
                }
                left.min(POLL)
            }
            None => POLL,
        };
        tokio::time::sleep(pause).await;
    }
}

/// `EtcdLeaveCluster` on `node`: see the module docs.
pub(crate) async fn leave(
    fleet: &Arc<Fleet>,
    node: &Arc<Node>,
    deadline: Option<Instant>,
) -> Result<(), Status> {
    let endpoint = control_plane_endpoint(node, "etcd leave")?;
    // GetLocalMemberID: the Member resource exists while etcd runs here, else the call waits
    // for it (3 minutes at most).
    let cap = Instant::now() + LOCAL_MEMBER_WAIT;
    let until = Some(deadline.map_or(cap, |d| d.min(cap)));
    if wait_for(until, || node.etcd_serves(&endpoint))
        .await
        .is_err()
    {
        return Err(Status::deadline_exceeded(
            "failed to leave cluster: failed to get local etcd member ID: context deadline exceeded",
        ));
    }
    let Some(id) = node.etcd_member_id() else {
        // Removed by another member while this call ran: "member not found" is done.
        node.leave_etcd(fleet);
        return Ok(());
    };
    // MemberRemove, retried while etcd calls the cluster unhealthy.
    loop {
        let all = members(fleet, &endpoint);
        if !all.iter().any(|m| m.id == id) {
            break;
        }
        if !has_leader(&all, &endpoint) {
            return Err(Status::unknown(format!(
                "failed to leave cluster: failed to remove member {id}: etcdserver: no leader"
            )));
        }
        if !breaks_quorum(&all, id, &endpoint) {
            break;
        }
        wait_for(deadline, || {
            !breaks_quorum(&members(fleet, &endpoint), id, &endpoint)
        })
        .await?;
    }
    node.leave_etcd(fleet);
    Ok(())
}

/// `EtcdRemoveMemberByID` of member `id`, through `node`: see the module docs.
pub(crate) async fn remove_member(
    fleet: &Arc<Fleet>,
    node: &Arc<Node>,
    id: u64,
    deadline: Option<Instant>,
) -> Result<(), Status> {
    let endpoint = control_plane_endpoint(node, "etcd remove member")?;
    // The etcd client waits for a member it can reach (clientv3's `WaitForReady`).
    wait_for(deadline, || {
        members(fleet, &endpoint)
            .iter()
            .any(|m| m.node.etcd_serves(&endpoint))
    })
    .await?;
    let all = members(fleet, &endpoint);
    if !has_leader(&all, &endpoint) {
        return Err(Status::unknown(format!(
            "failed to remove member: failed to remove member {id}: etcdserver: no leader"
        )));
    }
    let Some(target) = all.iter().find(|m| m.id == id) else {
        return Err(Status::not_found(format!(
            "failed to remove member {id}: etcdserver: member not found"
        )));
    };
    if breaks_quorum(&all, id, &endpoint) {
        return Err(Status::unknown(format!(
            "failed to remove member: failed to remove member {id}: etcdserver: unhealthy cluster"
        )));
    }
    target.node.removed_from_etcd(fleet);
    Ok(())
}
