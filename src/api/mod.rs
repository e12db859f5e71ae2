//! The HTTP contract: serde wire types shared by the server and the clients.
//!
//! [`acquisition`] is the device protocol (both the legacy camelCase and the current snake_case
//! spellings); [`management`] is the CodePush v2 management API spoken by `code-push-cli` 2.x.
//! Field names here are the wire contract: change them only together with the protocol notes.

pub mod acquisition;
pub mod management;
pub mod mendix;
