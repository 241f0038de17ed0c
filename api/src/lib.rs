//! api

pub mod web_assets;
