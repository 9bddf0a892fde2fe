//! The Talos API types the client speaks: code generated from `proto/talos/` (a wire-identical
//! subset of <https://github.com/siderolabs/talos/tree/main/api>) with client stubs, included
//! here on its own so the client shares no module with the lab; plus the `EtcdMemberList`
//! messages, written by hand before that subset held them.
#![allow(missing_docs, clippy::all)]

/// `common` package: reply metadata and byte-stream chunks.
pub mod common {
    tonic::include_proto!("common");
}

/// `machine` package: `MachineService`.
pub mod machine {
    tonic::include_proto!("machine");
}

/// `google.rpc` package: the error status carried in reply metadata.
pub mod google {
    /// `google.rpc`.
    pub mod rpc {
        tonic::include_proto!("google.rpc");
    }
}

/// `rpc EtcdMemberList(EtcdMemberListRequest) returns (EtcdMemberListResponse)` of
/// `machine.MachineService`. Names, field numbers and types are upstream's
/// (<https://github.com/siderolabs/talos/blob/main/api/machine/machine.proto>).
pub mod etcd {
    use super::common::Metadata;

    /// The method's path.
    pub const MEMBER_LIST: &str = "/machine.MachineService/EtcdMemberList";

    /// `message EtcdMemberListRequest { bool query_local = 1; }`
    #[derive(Clone, Copy, PartialEq, prost::Message)]
    pub struct EtcdMemberListRequest {
        /// Ask the local etcd member rather than the cluster.
        #[prost(bool, tag = "1")]
        pub query_local: bool,
    }

    /// `message EtcdMember { uint64 id = 2; string hostname = 3; repeated string peer_urls = 4;
    /// repeated string client_urls = 5; bool is_learner = 6; }`
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct EtcdMember {
        #[prost(uint64, tag = "2")]
        pub id: u64,
        #[prost(string, tag = "3")]
        pub hostname: String,
        #[prost(string, repeated, tag = "4")]
        pub peer_urls: Vec<String>,
        #[prost(string, repeated, tag = "5")]
        pub client_urls: Vec<String>,
        #[prost(bool, tag = "6")]
        pub is_learner: bool,
    }

    /// `message EtcdMembers { common.Metadata metadata = 1; repeated string legacy_members = 2;
    /// repeated EtcdMember members = 3; }`
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct EtcdMembers {
        #[prost(message, optional, tag = "1")]
        pub metadata: Option<Metadata>,
        #[prost(string, repeated, tag = "2")]
        pub legacy_members: Vec<String>,
        #[prost(message, repeated, tag = "3")]
        pub members: Vec<EtcdMember>,
    }

    /// `message EtcdMemberListResponse { repeated EtcdMembers messages = 1; }`
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct EtcdMemberListResponse {
        #[prost(message, repeated, tag = "1")]
        pub messages: Vec<EtcdMembers>,
    }
}
