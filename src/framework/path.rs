//! Attribute paths: where in a configuration a diagnostic points.

use std::fmt;

/// One step of a path.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PathStep {
    /// An attribute or nested block type by name.
    Attribute(String),
    /// A list or tuple index.
    Index(i64),
    /// A map key (or a map-nested block's label).
    Key(String),
}

/// A path from the root of a block to one value. Set elements have no address on the wire,
/// so a path stops at the set.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct AttributePath(Vec<PathStep>);

impl AttributePath {
    /// A path to a top-level attribute.
    pub fn root(name: impl Into<String>) -> AttributePath {
        AttributePath(vec![PathStep::Attribute(name.into())])
    }
    /// This path, then an attribute.
    pub fn attr(mut self, name: impl Into<String>) -> AttributePath {
        self.0.push(PathStep::Attribute(name.into()));
        self
    }
    /// This path, then a list index.
    pub fn index(mut self, i: usize) -> AttributePath {
        self.0
            .push(PathStep::Index(i64::try_from(i).unwrap_or(i64::MAX)));
        self
    }
    /// This path, then a map key.
    pub fn key(mut self, k: impl Into<String>) -> AttributePath {
        self.0.push(PathStep::Key(k.into()));
        self
    }
    /// Appends a step in place.
    pub fn push(&mut self, step: PathStep) {
        self.0.push(step);
    }
    /// Removes the last step.
    pub fn pop(&mut self) -> Option<PathStep> {
        self.0.pop()
    }
    /// The steps, root first.
    pub fn steps(&self) -> &[PathStep] {
        &self.0
    }
    /// True for the empty path (the whole object).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<Vec<PathStep>> for AttributePath {
    fn from(steps: Vec<PathStep>) -> AttributePath {
        AttributePath(steps)
    }
}

impl fmt::Display for AttributePath {
    /// HCL traversal syntax: `instance[0].ocpus`, `tags["env"]`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, step) in self.0.iter().enumerate() {
            match step {
                PathStep::Attribute(n) if i == 0 => f.write_str(n)?,
                PathStep::Attribute(n) => write!(f, ".{n}")?,
                PathStep::Index(n) => write!(f, "[{n}]")?,
                PathStep::Key(k) => write!(f, "[{k:?}]")?,
            }
        }
        Ok(())
    }
}
