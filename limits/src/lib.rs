//! The product's one rate limiter. [`TokenBucket`] is the arithmetic (the chat's per-connection
//! and per-user limits use it directly); [`KeyedLimiter`] keeps one bucket per key (an API token,
//! a user, a client address, a login name) in a bounded map, for the REST API and the login.
//! Refusals say how long to wait, which the API turns into `429` with `Retry-After`.
//! [`PerAddressCap`] caps the connections one client address holds on a listener, and
//! [`ThrottledLog`] keeps refusal floods out of the log.
//!
//! In-process only: with several nodes each enforces its own budget (the chat's Redis backend
//! shares its per-user budget through Redis; the API's limits are per node for now).

mod bucket;
mod connections;
mod keyed;

pub use bucket::{RateSpec, TokenBucket};
pub use connections::{ConnectionSlot, PerAddressCap, ThrottledLog};
pub use keyed::KeyedLimiter;
