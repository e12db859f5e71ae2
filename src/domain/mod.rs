//! Pure rules of OTA releases: which release a device gets, who is in a rollout,
//! what a package hash is, and which names, keys and values are valid.
//!
//! Nothing here does I/O or is async; the zip inspection in [`package`] reads only from
//! a reader its caller hands in. Every rule is unit-tested next to its code, with the
//! observed outcomes and test vectors of the CodePush protocol notes.

pub mod build_number;
pub mod diff;
pub mod history;
pub mod mendix;
pub mod model_diff;
pub mod network;
pub mod package;
pub mod policy;
pub mod rollout;
pub mod scope;
pub mod selection;
pub mod signature;
pub mod time;
pub mod validate;
pub mod version;

pub use build_number::BuildRange;
pub use selection::{ReleaseRules, UpdateQuery};
pub use version::{DeviceVersion, TargetRange};
