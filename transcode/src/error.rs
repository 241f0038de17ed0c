//! The crate's one error type: what failed while building or running a GStreamer pipeline.

use thiserror::Error;

#[derive(Debug, Error)]
pub enum TranscodeError {
    #[error("GStreamer initialisation failed: {0}")]
    Init(String),
    #[error("building the pipeline failed: {0}")]
    Build(String),
    #[error("pipeline error: {0}")]
    Pipeline(String),
}

impl From<gst::glib::BoolError> for TranscodeError {
    fn from(e: gst::glib::BoolError) -> Self {
        TranscodeError::Build(e.to_string())
    }
}

impl From<gst::StateChangeError> for TranscodeError {
    fn from(e: gst::StateChangeError) -> Self {
        TranscodeError::Pipeline(e.to_string())
    }
}
