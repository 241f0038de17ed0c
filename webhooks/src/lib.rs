//! Webhook deliveries: events the store recorded (with one delivery job per endpoint, in the
//! same transaction as the change they report) go out from here as Standard Webhooks requests.
//!
//! - [`signature`]: the `webhook-id` / `webhook-timestamp` / `webhook-signature` headers
//!   (HMAC-SHA256 over `id.timestamp.body` with the endpoint's `whsec_` secret), written against
//!   the specification and checked in the tests by the reference library (`standardwebhooks` on
//!   PyPI).
//! - [`destination`]: the address rule. Loopback, private, link-local, CGNAT, multicast and other
//!   non-public addresses are refused unless the configuration allows them, and the check is
//!   made on the addresses the connection will use: the HTTP client resolves names through
//!   [`destination::GuardedResolver`], which drops refused addresses, so a name cannot pass the
//!   check and then connect somewhere else.
//! - [`worker`]: the [`Dispatcher`] claims delivery jobs from the durable queue (so deliveries
//!   survive restarts), sends each with a timeout, logs every attempt (status code or error,
//!   duration), and retries failures on an exponential schedule until the retry window (24 h by
//!   default) after the event has passed. Deliveries run concurrently, at most a few per
//!   endpoint at once, so a slow or dead receiver holds only its own slots.
//!
//! Knows no HTTP routes and no JSON shapes of the REST API (the payloads are the store's).

pub mod destination;
pub mod signature;
pub mod worker;

pub use destination::{DestinationError, check_url};
pub use worker::{Dispatcher, WebhookSettings};
