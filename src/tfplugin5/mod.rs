//! Plugin protocol 5: the generated wire types, and the adapter that serves a
//! [`framework::Server`](crate::framework::Server) over them.
//!
//! This layer converts and routes; it holds no provider logic and must not import
//! `provider`, `rules`, `clients` or `lab`.

mod convert;
mod service;

pub use service::Tfplugin5Service;

/// Generated from `proto/tfplugin5.proto`.
#[allow(clippy::all, missing_docs)]
pub mod proto {
    tonic::include_proto!("tfplugin5");
}
