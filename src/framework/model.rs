//! Typed models: a resource reads its config, plan and state into a Rust struct and writes one
//! back, as terraform-plugin-framework's tagged structs do, instead of walking value trees.
//!
//! [`FromValue`] and [`IntoValue`] convert one field; the [`model!`](crate::model) macro
//! declares a struct whose fields are tagged with their attribute names and derives both for
//! it. A field that can be unknown during plan says so in its type: [`Maybe<T>`]. Reading
//! never panics: a value of the wrong shape is an error naming the attribute path.

use std::collections::BTreeMap;

use super::number::Number;
use super::path::AttributePath;
use super::value::Value;

/// Why a value could not be read into a model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelError {
    /// Where.
    pub path: AttributePath,
    /// What was wrong, lowercase.
    pub message: String,
}

impl ModelError {
    fn new(path: &AttributePath, message: impl Into<String>) -> ModelError {
        ModelError {
            path: path.clone(),
            message: message.into(),
        }
    }
}

impl ModelError {
    /// Adds this as an error diagnostic at its path: the configuration, plan or state did not
    /// have the shape the resource's model expects.
    pub fn report(self, diags: &mut super::diag::Diagnostics) {
        let detail = self.to_string();
        diags.error_at(self.path, "Invalid Configuration", detail);
    }
}

impl std::fmt::Display for ModelError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

/// Reads a model field from a value.
pub trait FromValue: Sized {
    /// Reads `v`, found at `at`.
    fn from_value(v: &Value, at: &AttributePath) -> Result<Self, ModelError>;
}

/// Writes a model field as a value.
pub trait IntoValue {
    /// The value.
    fn to_value(&self) -> Value;
}

/// A field that may be null, or not known until apply.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Maybe<T> {
    /// Known.
    Known(T),
    /// Known to be absent.
    #[default]
    Null,
    /// Not known until apply.
    Unknown,
}

impl<T> Maybe<T> {
    /// The known value.
    pub fn known(&self) -> Option<&T> {
        match self {
            Maybe::Known(t) => Some(t),
            _ => None,
        }
    }

    /// Whether it is unknown.
    pub fn is_unknown(&self) -> bool {
        matches!(self, Maybe::Unknown)
    }
}

impl<T: FromValue> FromValue for Maybe<T> {
    fn from_value(v: &Value, at: &AttributePath) -> Result<Self, ModelError> {
        match v {
            Value::Null => Ok(Maybe::Null),
            Value::Unknown => Ok(Maybe::Unknown),
            other => T::from_value(other, at).map(Maybe::Known),
        }
    }
}

impl<T: IntoValue> IntoValue for Maybe<T> {
    fn to_value(&self) -> Value {
        match self {
            Maybe::Known(t) => t.to_value(),
            Maybe::Null => Value::Null,
            Maybe::Unknown => Value::Unknown,
        }
    }
}

/// `None` for null; an unknown is an error (use [`Maybe`] where a plan may hold one).
impl<T: FromValue> FromValue for Option<T> {
    fn from_value(v: &Value, at: &AttributePath) -> Result<Self, ModelError> {
        match v {
            Value::Null => Ok(None),
            Value::Unknown => Err(ModelError::new(at, "is not known yet")),
            other => T::from_value(other, at).map(Some),
        }
    }
}

impl<T: IntoValue> IntoValue for Option<T> {
    fn to_value(&self) -> Value {
        self.as_ref()
            .map(IntoValue::to_value)
            .unwrap_or(Value::Null)
    }
}

fn known<'a>(v: &'a Value, at: &AttributePath) -> Result<&'a Value, ModelError> {
    match v {
        Value::Null => Err(ModelError::new(at, "is required")),
        Value::Unknown => Err(ModelError::new(at, "is not known yet")),
        other => Ok(other),
    }
}

impl FromValue for String {
    fn from_value(v: &Value, at: &AttributePath) -> Result<Self, ModelError> {
        known(v, at)?
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| ModelError::new(at, "must be a string"))
    }
}

impl IntoValue for String {
    fn to_value(&self) -> Value {
        Value::String(self.clone())
    }
}

impl FromValue for bool {
    fn from_value(v: &Value, at: &AttributePath) -> Result<Self, ModelError> {
        known(v, at)?
            .as_bool()
            .ok_or_else(|| ModelError::new(at, "must be true or false"))
    }
}

impl IntoValue for bool {
    fn to_value(&self) -> Value {
        Value::Bool(*self)
    }
}

macro_rules! whole_number {
    ($($t:ty),*) => {$(
        impl FromValue for $t {
            fn from_value(v: &Value, at: &AttributePath) -> Result<Self, ModelError> {
                let n = known(v, at)?
                    .as_number()
                    .ok_or_else(|| ModelError::new(at, "must be a number"))?;
                n.as_i64()
                    .and_then(|i| <$t>::try_from(i).ok())
                    .ok_or_else(|| {
                        ModelError::new(
                            at,
                            format!(
                                "must be a whole number from {} to {}",
                                <$t>::MIN,
                                <$t>::MAX
                            ),
                        )
                    })
            }
        }

        impl IntoValue for $t {
            fn to_value(&self) -> Value {
                Value::Number(Number::from_i64(i64::from(*self)))
            }
        }
    )*};
}

whole_number!(u16, u32, i32, i64);

impl FromValue for u64 {
    fn from_value(v: &Value, at: &AttributePath) -> Result<Self, ModelError> {
        known(v, at)?
            .as_number()
            .and_then(Number::as_u64)
            .ok_or_else(|| ModelError::new(at, "must be a whole number of at least 0"))
    }
}

impl IntoValue for u64 {
    fn to_value(&self) -> Value {
        Value::Number(Number::from_u64(*self))
    }
}

impl FromValue for f64 {
    fn from_value(v: &Value, at: &AttributePath) -> Result<Self, ModelError> {
        known(v, at)?
            .as_number()
            .map(Number::as_f64)
            .ok_or_else(|| ModelError::new(at, "must be a number"))
    }
}

impl IntoValue for f64 {
    fn to_value(&self) -> Value {
        Number::from_f64(*self)
            .map(Value::Number)
            .unwrap_or(Value::Null)
    }
}

/// A list or a set, read in order; written as a list.
impl<T: FromValue> FromValue for Vec<T> {
    fn from_value(v: &Value, at: &AttributePath) -> Result<Self, ModelError> {
        let items = known(v, at)?
            .as_seq()
            .ok_or_else(|| ModelError::new(at, "must be a list"))?;
        items
            .iter()
            .enumerate()
            .map(|(i, item)| T::from_value(item, &at.clone().index(i)))
            .collect()
    }
}

impl<T: IntoValue> IntoValue for Vec<T> {
    fn to_value(&self) -> Value {
        Value::List(self.iter().map(IntoValue::to_value).collect())
    }
}

/// A map of strings to values.
impl<T: FromValue> FromValue for BTreeMap<String, T> {
    fn from_value(v: &Value, at: &AttributePath) -> Result<Self, ModelError> {
        let m = known(v, at)?
            .as_map()
            .ok_or_else(|| ModelError::new(at, "must be a map"))?;
        m.iter()
            .map(|(k, item)| Ok((k.clone(), T::from_value(item, &at.clone().key(k))?)))
            .collect()
    }
}

impl<T: IntoValue> IntoValue for BTreeMap<String, T> {
    fn to_value(&self) -> Value {
        Value::Map(
            self.iter()
                .map(|(k, v)| (k.clone(), v.to_value()))
                .collect(),
        )
    }
}

/// The value itself, for a field the model leaves untyped (a dynamic attribute).
impl FromValue for Value {
    fn from_value(v: &Value, _at: &AttributePath) -> Result<Self, ModelError> {
        Ok(v.clone())
    }
}

impl IntoValue for Value {
    fn to_value(&self) -> Value {
        self.clone()
    }
}

/// Reads the whole object `v` as a model, its attributes found under the root.
pub fn read_model<T: FromValue>(v: &Value) -> Result<T, ModelError> {
    T::from_value(v, &AttributePath::default())
}

/// Declares a model struct whose fields are tagged with their attribute names, and derives
/// [`FromValue`] and [`IntoValue`] for it:
///
/// ```
/// freetier::model! {
///     /// A node.
///     pub struct Node {
///         /// Its name.
///         pub name: String = "name",
///         pub port: u16 = "ssh_port",
///     }
/// }
/// ```
#[macro_export]
macro_rules! model {
    (
        $(#[$meta:meta])*
        $vis:vis struct $name:ident {
            $( $(#[$fmeta:meta])* $fvis:vis $field:ident : $ty:ty = $attr:literal ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq)]
        $vis struct $name {
            $( $(#[$fmeta])* $fvis $field: $ty ),*
        }

        impl $crate::framework::FromValue for $name {
            fn from_value(
                v: &$crate::framework::Value,
                at: &$crate::framework::AttributePath,
            ) -> Result<Self, $crate::framework::ModelError> {
                let at_attr = |a: &str| {
                    if at.is_empty() {
                        $crate::framework::AttributePath::root(a)
                    } else {
                        at.clone().attr(a)
                    }
                };
                match v {
                    $crate::framework::Value::Object(_) => {}
                    $crate::framework::Value::Unknown => {
                        return Err($crate::framework::ModelError {
                            path: at.clone(),
                            message: "is not known yet".into(),
                        })
                    }
                    _ => {
                        return Err($crate::framework::ModelError {
                            path: at.clone(),
                            message: "must be an object".into(),
                        })
                    }
                }
                Ok($name {
                    $( $field: <$ty as $crate::framework::FromValue>::from_value(
                        v.attr($attr),
                        &at_attr($attr),
                    )? ),*
                })
            }
        }

        impl $crate::framework::IntoValue for $name {
            fn to_value(&self) -> $crate::framework::Value {
                $crate::framework::Value::object([
                    $( ($attr, $crate::framework::IntoValue::to_value(&self.$field)) ),*
                ])
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    crate::model! {
        struct Host {
            name: String = "name",
            port: u16 = "ssh_port",
            key: Maybe<String> = "host_key",
            tags: Vec<String> = "tags",
        }
    }

    crate::model! {
        struct Cluster {
            name: String = "name",
            nodes: Vec<Host> = "node",
            quorate: Maybe<bool> = "quorate",
        }
    }

    fn cluster_value() -> Value {
        Value::object([
            ("name", Value::from("lab")),
            (
                "node",
                Value::List(vec![Value::object([
                    ("name", Value::from("ampere-1")),
                    ("ssh_port", Value::int(22)),
                    ("host_key", Value::Unknown),
                    ("tags", Value::List(vec![Value::from("a")])),
                ])]),
            ),
            ("quorate", Value::Null),
        ])
    }

    #[test]
    fn a_model_reads_and_writes_back_the_same_value() {
        let c: Cluster = read_model(&cluster_value()).expect("reads");
        assert_eq!(c.nodes[0].port, 22);
        assert!(c.nodes[0].key.is_unknown());
        assert_eq!(c.quorate, Maybe::Null);
        assert_eq!(c.to_value(), cluster_value());
    }

    #[test]
    fn a_wrong_value_names_its_attribute_path() {
        let mut v = cluster_value();
        let mut nodes = v
            .attr("node")
            .as_seq()
            .map(<[Value]>::to_vec)
            .unwrap_or_default();
        nodes[0].set_attr("ssh_port", Value::int(70_000));
        v.set_attr("node", Value::List(nodes));
        let err = read_model::<Cluster>(&v).expect_err("out of range");
        assert_eq!(
            err.path,
            AttributePath::root("node").index(0).attr("ssh_port")
        );
        assert_eq!(err.message, "must be a whole number from 0 to 65535");
        let mut v = cluster_value();
        v.set_attr("name", Value::Unknown);
        let err = read_model::<Cluster>(&v).expect_err("unknown name");
        assert_eq!(
            err.to_string(),
            format!("{}: is not known yet", AttributePath::root("name"))
        );
    }
}
