//! What the two decoder targets share: the types Terraform sends values of (every schema and
//! function signature of the provider, and a few the schemas lack, such as `dynamic`), chosen
//! by the input's first byte, and what runs on a value that decodes: the provider's own
//! validation, or the function the value is the arguments of. None of it may panic.

use std::sync::{Arc, OnceLock};

use freetier::framework::{Server, Type, Value};
use freetier::provider::FreetierProvider;

/// What a decoded value is handed to.
pub enum Use {
    /// ValidateProviderConfig.
    Provider,
    /// ValidateResourceConfig of this type.
    Resource(String),
    /// ValidateDataResourceConfig of this type.
    DataSource(String),
    /// CallFunction: the value is a tuple of the arguments.
    Function(String),
    /// Decoding only.
    Plain,
}

/// A type to decode against, and what the value is handed to.
pub struct Target {
    /// The type.
    pub ty: Type,
    /// Where the value goes.
    pub used: Use,
}

fn build() -> (Server, Vec<Target>) {
    use freetier::framework::Provider;
    let p = FreetierProvider;
    let mut targets = vec![Target {
        ty: p.schema().block.implied_type(),
        used: Use::Provider,
    }];
    for r in p.resources() {
        targets.push(Target {
            ty: r.schema().block.implied_type(),
            used: Use::Resource(r.type_name().to_string()),
        });
    }
    for d in p.data_sources() {
        targets.push(Target {
            ty: d.schema().block.implied_type(),
            used: Use::DataSource(d.type_name().to_string()),
        });
    }
    for f in p.functions() {
        let sig = f.signature();
        targets.push(Target {
            ty: Type::Tuple(sig.parameters.iter().map(|p| p.ty.clone()).collect()),
            used: Use::Function(f.name().to_string()),
        });
    }
    for ty in [
        Type::Dynamic,
        Type::list(Type::Dynamic),
        Type::map(Type::Number),
        Type::set(Type::object([("a", Type::String), ("b", Type::Bool)])),
        Type::Tuple(vec![Type::Number, Type::String, Type::Dynamic]),
    ] {
        targets.push(Target {
            ty,
            used: Use::Plain,
        });
    }
    (Server::new(Arc::new(FreetierProvider)), targets)
}

fn shared() -> &'static (Server, Vec<Target>) {
    static SHARED: OnceLock<(Server, Vec<Target>)> = OnceLock::new();
    SHARED.get_or_init(build)
}

/// The target the first byte chooses, and the rest of the input.
pub fn choose(data: &[u8]) -> Option<(&'static Target, &[u8])> {
    let (first, rest) = data.split_first()?;
    let targets = &shared().1;
    Some((&targets[usize::from(*first) % targets.len()], rest))
}

/// Hands a decoded value to what Terraform would hand it to.
pub fn exercise(target: &Target, v: &Value) {
    let server = &shared().0;
    match &target.used {
        Use::Provider => drop(server.validate_provider_config(v)),
        Use::Resource(name) => drop(server.validate_resource_config(name, v)),
        Use::DataSource(name) => drop(server.validate_data_source_config(name, v)),
        Use::Function(name) => {
            if let Value::Tuple(args) = v {
                let _ = server.call_function(name, args);
            }
        }
        Use::Plain => {}
    }
}
