//! Live chat and presence (viewer counts) per stream. Work in progress (issue 5).
