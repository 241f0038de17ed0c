//! A look at the publisher's SDP offer before any WebRTC machinery is built, so an offer oxcast
//! cannot take gets a clear 4xx instead of an answer that silently rejects its media.

/// Why an offer is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OfferError {
    #[error("the offer is not SDP")]
    NotSdp,
    #[error("the offer has no video: send H.264 video (and Opus audio)")]
    NoVideo,
    #[error("the offer's video has no H.264 (offered: {0}): oxcast takes H.264 video and Opus audio")]
    NoH264(String),
    #[error("the offer's audio has no Opus (offered: {0}): oxcast takes H.264 video and Opus audio")]
    NoOpus(String),
}

/// What an acceptable offer carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OfferSummary {
    pub has_audio: bool,
}

/// Checks that the offer has an H.264 video section (and, if it has audio, that Opus is offered).
pub fn check(sdp: &str) -> Result<OfferSummary, OfferError> {
    if !sdp.trim_start().starts_with("v=0") {
        return Err(OfferError::NotSdp);
    }
    let mut sections: Vec<(String, Vec<String>)> = Vec::new();
    for line in sdp.lines().map(str::trim) {
        if let Some(m) = line.strip_prefix("m=") {
            sections.push((m.split_whitespace().next().unwrap_or_default().to_owned(), Vec::new()));
        } else if let Some(rtpmap) = line.strip_prefix("a=rtpmap:")
            && let Some((_, encoding)) = rtpmap.split_once(' ')
            && let Some((_, codecs)) = sections.last_mut()
        {
            codecs.push(encoding.split('/').next().unwrap_or_default().to_ascii_uppercase());
        }
    }
    let offered = |kind: &str| -> Option<Vec<String>> {
        let all: Vec<Vec<String>> = sections.iter().filter(|(k, _)| k == kind).map(|(_, c)| c.clone()).collect();
        (!all.is_empty()).then(|| all.concat())
    };
    let list = |codecs: &[String]| {
        let mut names: Vec<&str> = codecs.iter().map(String::as_str).collect();
        names.dedup();
        if names.is_empty() { "nothing".to_owned() } else { names.join(", ") }
    };
    let video = offered("video").ok_or(OfferError::NoVideo)?;
    if !video.iter().any(|c| c == "H264") {
        return Err(OfferError::NoH264(list(&video)));
    }
    let audio = offered("audio");
    if let Some(audio) = &audio
        && !audio.iter().any(|c| c == "OPUS")
    {
        return Err(OfferError::NoOpus(list(audio)));
    }
    Ok(OfferSummary { has_audio: audio.is_some() })
}

#[cfg(test)]
mod tests {
    use super::*;

    const OFFER: &str = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n\
        m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=rtpmap:111 opus/48000/2\r\n\
        m=video 9 UDP/TLS/RTP/SAVPF 96 102\r\na=rtpmap:96 VP8/90000\r\na=rtpmap:102 H264/90000\r\n";

    #[test]
    fn accepts_h264_with_opus() {
        assert_eq!(check(OFFER), Ok(OfferSummary { has_audio: true }));
        let video_only = OFFER.replace("m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=rtpmap:111 opus/48000/2\r\n", "");
        assert_eq!(check(&video_only), Ok(OfferSummary { has_audio: false }));
    }

    #[test]
    fn names_what_was_offered_instead() {
        let vp8_only = OFFER.replace("a=rtpmap:102 H264/90000\r\n", "");
        assert_eq!(check(&vp8_only), Err(OfferError::NoH264("VP8".into())));
        let g711 = OFFER.replace("opus/48000/2", "PCMU/8000");
        assert_eq!(check(&g711), Err(OfferError::NoOpus("PCMU".into())));
        let audio_only = OFFER.split("m=video").next().unwrap().to_owned();
        assert_eq!(check(&audio_only), Err(OfferError::NoVideo));
        assert_eq!(check("hello"), Err(OfferError::NotSdp));
    }
}
