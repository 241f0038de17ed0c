//! Blocking-request rules: query parsing and "is it there yet?" decisions, without I/O.

use bytes::Bytes;

use crate::state::Rendition;

/// The LL-HLS delivery directives of a media playlist request.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PlaylistRequest {
    pub msn: Option<u64>,
    pub part: Option<u64>,
    pub skip: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BadRequest {
    #[error("_HLS_msn must be a non-negative integer")]
    BadMsn,
    #[error("_HLS_part must be a non-negative integer")]
    BadPart,
    #[error("_HLS_part requires _HLS_msn")]
    PartWithoutMsn,
    #[error("_HLS_skip must be YES or v2")]
    BadSkip,
    #[error("_HLS_msn is more than two segments beyond the end of the playlist")]
    MsnTooFar,
}

/// Parses `_HLS_msn`, `_HLS_part` and `_HLS_skip`; other parameters are ignored.
pub fn parse_query(query: Option<&str>) -> Result<PlaylistRequest, BadRequest> {
    let mut req = PlaylistRequest::default();
    for pair in query.unwrap_or_default().split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        match key {
            "_HLS_msn" => req.msn = Some(value.parse().map_err(|_| BadRequest::BadMsn)?),
            "_HLS_part" => req.part = Some(value.parse().map_err(|_| BadRequest::BadPart)?),
            "_HLS_skip" => match value {
                "YES" | "v2" => req.skip = true,
                _ => return Err(BadRequest::BadSkip),
            },
            _ => {}
        }
    }
    if req.part.is_some() && req.msn.is_none() {
        return Err(BadRequest::PartWithoutMsn);
    }
    Ok(req)
}

/// Whether a waiting request can be answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Readiness<T> {
    Ready(T),
    Wait,
    NotFound,
    Bad(BadRequest),
}

/// Is the playlist `req` asks for available? Ended streams answer at once.
pub fn playlist_readiness(rendition: &Rendition, ended: bool, req: &PlaylistRequest) -> Readiness<()> {
    let Some(msn) = req.msn else {
        return Readiness::Ready(());
    };
    if ended {
        return Readiness::Ready(());
    }
    let Some(last_msn) = rendition.last_msn() else {
        return Readiness::Wait;
    };
    if msn > last_msn + 2 {
        return Readiness::Bad(BadRequest::MsnTooFar);
    }
    let Some((part_msn, part_index)) = rendition.last_part() else {
        return Readiness::Wait;
    };
    let ready = match req.part {
        // A later segment already has media, or the part itself is there.
        Some(part) => {
            part_msn > msn
                || (part_msn == msn && part_index as u64 >= part)
                // Segment msn closed with fewer parts than asked: the next one is what follows.
                || rendition.segment(msn).is_some_and(|s| s.complete)
        }
        None => rendition.segment(msn).is_some_and(|s| s.complete) || part_msn > msn,
    };
    if ready { Readiness::Ready(()) } else { Readiness::Wait }
}

/// Is part `index` of segment `msn` available (or worth waiting for)?
pub fn part_readiness(rendition: &Rendition, live: bool, seq: u64) -> Readiness<Bytes> {
    /// How far past the next expected part a request may wait (the preload hint is +0).
    const PART_ADVANCE: u64 = 2;
    if let Some(p) = rendition.part_by_seq(seq) {
        return Readiness::Ready(p.data.clone());
    }
    let next = rendition.next_part_seq();
    if live && !rendition.segments.is_empty() && (next..=next + PART_ADVANCE).contains(&seq) {
        Readiness::Wait
    } else {
        Readiness::NotFound
    }
}

/// Is segment `msn` complete? An open segment is worth waiting for.
pub fn segment_readiness(rendition: &Rendition, live: bool, msn: u64) -> Readiness<Vec<Bytes>> {
    match rendition.segment(msn) {
        Some(s) if s.complete => Readiness::Ready(s.parts.iter().map(|p| p.data.clone()).collect()),
        Some(_) if live => Readiness::Wait,
        _ => Readiness::NotFound,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::tests::live_state;

    #[test]
    fn parses_directives_and_rejects_bad_ones() {
        assert_eq!(parse_query(None), Ok(PlaylistRequest::default()));
        assert_eq!(
            parse_query(Some("_HLS_msn=12&_HLS_part=3&_HLS_skip=YES&x=1")),
            Ok(PlaylistRequest { msn: Some(12), part: Some(3), skip: true })
        );
        assert_eq!(parse_query(Some("_HLS_part=3")), Err(BadRequest::PartWithoutMsn));
        assert_eq!(parse_query(Some("_HLS_msn=-1")), Err(BadRequest::BadMsn));
        assert_eq!(parse_query(Some("_HLS_msn=1&_HLS_part=x")), Err(BadRequest::BadPart));
        assert_eq!(parse_query(Some("_HLS_skip=NO")), Err(BadRequest::BadSkip));
    }

    #[test]
    fn playlist_blocking_decisions() {
        // Segments 100..=102 complete, 103 open with parts 0 and 1.
        let s = live_state(3, 2);
        let v = s.rendition("video").unwrap();
        let ask = |msn, part| PlaylistRequest { msn: Some(msn), part, skip: false };
        assert_eq!(playlist_readiness(v, false, &ask(103, Some(1))), Readiness::Ready(()));
        assert_eq!(playlist_readiness(v, false, &ask(103, Some(2))), Readiness::Wait);
        assert_eq!(playlist_readiness(v, false, &ask(102, None)), Readiness::Ready(()));
        assert_eq!(playlist_readiness(v, false, &ask(103, None)), Readiness::Wait);
        assert_eq!(playlist_readiness(v, false, &ask(104, Some(0))), Readiness::Wait);
        assert_eq!(playlist_readiness(v, false, &ask(105, None)), Readiness::Wait);
        assert_eq!(playlist_readiness(v, false, &ask(106, None)), Readiness::Bad(BadRequest::MsnTooFar));
        // A closed segment answers requests for parts it never got.
        assert_eq!(playlist_readiness(v, false, &ask(102, Some(7))), Readiness::Ready(()));
        // Ended streams never block.
        assert_eq!(playlist_readiness(v, true, &ask(105, None)), Readiness::Ready(()));
    }

    #[test]
    fn part_and_segment_decisions() {
        let s = live_state(3, 2);
        let v = s.rendition("video").unwrap();
        // Parts are numbered from 100 × 1000 on: segments 100..=102 hold 100000..=100014, the
        // open segment 103 holds 100015 and 100016.
        assert!(matches!(part_readiness(v, true, 100_016), Readiness::Ready(_)));
        assert!(matches!(part_readiness(v, true, 100_000), Readiness::Ready(_)));
        assert_eq!(part_readiness(v, true, 100_017), Readiness::Wait, "the hinted part");
        assert_eq!(part_readiness(v, true, 100_019), Readiness::Wait);
        assert_eq!(part_readiness(v, true, 100_020), Readiness::NotFound);
        assert_eq!(part_readiness(v, true, 99_999), Readiness::NotFound);
        assert_eq!(part_readiness(v, false, 100_017), Readiness::NotFound, "an ended stream never waits");
        assert!(matches!(segment_readiness(v, true, 101), Readiness::Ready(parts) if parts.len() == 5));
        assert_eq!(segment_readiness(v, true, 103), Readiness::Wait);
        assert_eq!(segment_readiness(v, true, 104), Readiness::NotFound);
    }
}
