//! A small framework for Terraform providers: values over cty types, schema-driven codecs,
//! schemas, diagnostics, the plan pipeline, and the traits resources, data sources and
//! functions implement.
//!
//! It knows nothing of freetier and nothing of the wire: the `tfplugin5` module adapts it to
//! protocol 5. It must not import `provider`, `rules`, `clients`, `plugin` or `lab`.

pub mod codec;
pub mod data_source;
pub mod diag;
pub mod flatmap;
pub mod function;
pub mod json;
pub mod model;
pub mod msgpack;
pub mod number;
pub mod path;
pub mod plan;
pub mod provider;
pub mod resource;
pub mod schema;
pub mod server;
pub mod stop;
pub mod types;
pub mod value;

pub use codec::CodecError;
pub use data_source::{DataResponse, DataSource};
pub use diag::{Diagnostic, Diagnostics, Severity};
pub use function::{Function, FunctionError, Parameter, Signature};
pub use model::{read_model, FromValue, IntoValue, Maybe, ModelError};
pub use number::Number;
pub use path::{AttributePath, PathStep};
pub use provider::Provider;
pub use resource::*;
pub use schema::{Attribute, Block, NestedBlock, Nesting, PlanModifier, Schema};
pub use server::Server;
pub use stop::{Interrupted, StopSignal, STOP_GRACE};
pub use types::Type;
pub use value::Value;
