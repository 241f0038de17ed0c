//! ll-hls
