//! freetier: a Terraform/OpenTofu provider and a CLI that keep a Kubernetes platform inside
//! Oracle Cloud's free tier.
//!
//! Layers, imports flowing one way: `plugin` (go-plugin host) → `tfplugin5` (wire adapter) →
//! `framework` (values, schema, plan rules; knows nothing of freetier) ← `provider`
//! (resources, data sources, functions) → `rules` (the pure free-tier rulebook) and `clients`
//! (SSH, Proxmox VE; they know nothing of Terraform). `check` and `validate` are the CLI's
//! commands: the rulebook on configuration before `init`, and on what is deployed.

pub mod check;
pub mod cli;
pub mod clients;
pub mod framework;
pub mod image;
pub mod lab;
pub mod plugin;
pub mod provider;
pub mod rules;
pub mod setup;
pub mod sops;
pub mod tfplugin5;
pub mod timeline;
pub mod validate;
