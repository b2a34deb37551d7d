//! The worker's control API (axum): health and readiness (open), and with the job's bearer token or a
//! person's OIDC token (read or operate role): status, checkpoint and savepoint triggers,
//! stop-with-savepoint. Plus the Prometheus `/metrics` endpoint on its own port.
//!
//! The HTTP side never touches processing state directly: it reads the [`board::StatusBoard`] the loop
//! publishes and sends [`board::Command`]s the loop executes at a transaction boundary.

pub mod access;
pub mod auth;
pub mod board;
pub mod oidc;
pub mod server;
pub mod tls_reload;

pub use board::{Command, StatusBoard};
