//! The chat's rate limits use the product's one token bucket (`oxcast-limits`): per connection
//! in the session, per user in the in-process backend (the Redis backend runs the same arithmetic
//! in Lua so a user's budget is shared across nodes).

pub use oxcast_limits::{RateSpec, TokenBucket};
