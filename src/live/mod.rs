//! The live side of the binary: which streams are on the air, who publishes them, and the wiring
//! from each publish session's hub through `transcode` into its `ll-hls` packager.

pub mod chat;
mod cut_broadcasts;
pub mod publisher_lease;
mod registry;
pub mod relay;
mod sink;
mod stats;

pub use registry::{LiveRegistry, LiveSettings};
