//! One integration-test binary: every test starts the real server on 127.0.0.1:0 with a temp data
//! dir and talks HTTP to it.

mod support;

mod audit;
mod backends;
mod bad_input;
mod bootstrap;
pub mod cli;
mod crash_safety;
mod device_protocol;
pub mod diffs;
mod fleet;
mod forgery;
#[cfg(feature = "gui")]
mod gui;
mod holes;
mod hygiene;
mod management;
pub mod mendix;
mod mendix_model;
mod mendix_preflight;
mod migrate;
mod node_tools;
mod packaging;
mod pg_server;
mod real_clients;
mod replicas;
mod s3;
mod s3_server;
mod scopes;
mod team_server;
mod tidy;
