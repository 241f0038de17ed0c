//! Reads the two timing facts the alignment test needs from fMP4: the track timescale (mdhd in
//! the init segment) and the first fragment's base decode time (tfdt).

fn boxes(data: &[u8]) -> impl Iterator<Item = ([u8; 4], &[u8])> {
    let mut offset = 0usize;
    std::iter::from_fn(move || {
        let header = data.get(offset..offset + 8)?;
        let size = u32::from_be_bytes([header[0], header[1], header[2], header[3]]) as usize;
        let kind = [header[4], header[5], header[6], header[7]];
        let body = data.get(offset + 8..offset + size.max(8))?;
        offset += size.max(8);
        Some((kind, body))
    })
}

fn find<'a>(data: &'a [u8], path: &[&[u8; 4]]) -> Option<&'a [u8]> {
    let (first, rest) = path.split_first()?;
    let (_, body) = boxes(data).find(|(k, _)| k == *first)?;
    if rest.is_empty() { Some(body) } else { find(body, rest) }
}

/// Track timescale from an init segment.
pub fn timescale(init: &[u8]) -> Option<u32> {
    let mdhd = find(init, &[b"moov", b"trak", b"mdia", b"mdhd"])?;
    let at = if mdhd[0] == 1 { 20 } else { 12 };
    Some(u32::from_be_bytes(mdhd.get(at..at + 4)?.try_into().ok()?))
}

/// Base media decode time of the first fragment of a segment, in seconds.
pub fn first_decode_time(init: &[u8], segment: &[u8]) -> Option<f64> {
    let tfdt = find(segment, &[b"moof", b"traf", b"tfdt"])?;
    let t = if tfdt[0] == 1 {
        u64::from_be_bytes(tfdt.get(4..12)?.try_into().ok()?)
    } else {
        u64::from(u32::from_be_bytes(tfdt.get(4..8)?.try_into().ok()?))
    };
    Some(t as f64 / f64::from(timescale(init)?))
}
