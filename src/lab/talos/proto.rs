//! Generated Talos API types (a wire-identical subset of siderolabs/talos `api/`; the
//! `.proto` files are under `proto/talos/`).
#![allow(missing_docs, clippy::all)]

/// `common` package: reply metadata and byte-stream chunks.
pub mod common {
    tonic::include_proto!("common");
}

/// `machine` package: `MachineService`.
pub mod machine {
    tonic::include_proto!("machine");
}

/// `storage` package: `StorageService`.
pub mod storage {
    tonic::include_proto!("storage");
}

/// `google.rpc` package: the error status carried in reply metadata.
pub mod google {
    /// `google.rpc`.
    pub mod rpc {
        tonic::include_proto!("google.rpc");
    }
}
