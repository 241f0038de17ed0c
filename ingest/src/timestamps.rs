//! Turns a wrapping 32-bit wire clock into a monotonic-enough 64-bit one.

/// Extends a wrapping `u32` clock. Each step is read as a signed 32-bit delta, so both the
/// wrap-around (RTMP's millisecond clock wraps after 49.7 days) and small backward steps
/// (interleaving jitter) come out right.
#[derive(Debug, Default)]
pub(crate) struct Unwrapper {
    last: Option<(u32, i64)>,
}

impl Unwrapper {
    pub(crate) fn unwrap(&mut self, raw: u32) -> i64 {
        let extended = match self.last {
            None => i64::from(raw),
            Some((last_raw, last_ext)) => last_ext + i64::from(raw.wrapping_sub(last_raw) as i32),
        };
        self.last = Some((raw, extended));
        extended
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn survives_wraparound_and_small_backsteps() {
        let mut u = Unwrapper::default();
        assert_eq!(u.unwrap(u32::MAX - 10), i64::from(u32::MAX - 10));
        assert_eq!(u.unwrap(5), i64::from(u32::MAX) + 6);
        assert_eq!(u.unwrap(3), i64::from(u32::MAX) + 4);
    }
}

/// `to - from` on MPEG-TS's wrapping 33-bit clock, as the nearest signed step.
pub(crate) fn delta_33(from: u64, to: u64) -> i64 {
    const MASK: u64 = (1 << 33) - 1;
    let delta = to.wrapping_sub(from) & MASK;
    if delta >= 1 << 32 { delta as i64 - (1 << 33) } else { delta as i64 }
}

/// Extends MPEG-TS's 33-bit 90 kHz clock (it wraps after 26.5 hours), the same way.
#[derive(Debug, Default)]
pub(crate) struct Unwrapper33 {
    last: Option<(u64, i64)>,
}

impl Unwrapper33 {
    const MASK: u64 = (1 << 33) - 1;

    pub(crate) fn unwrap(&mut self, raw: u64) -> i64 {
        let raw = raw & Self::MASK;
        let extended = match self.last {
            None => raw as i64,
            Some((last_raw, last_ext)) => last_ext + delta_33(last_raw, raw),
        };
        self.last = Some((raw, extended));
        extended
    }
}

#[cfg(test)]
mod tests33 {
    use super::*;

    #[test]
    fn survives_the_33_bit_wrap() {
        let mut u = Unwrapper33::default();
        let top = (1i64 << 33) - 90;
        assert_eq!(u.unwrap(top as u64), top);
        assert_eq!(u.unwrap(0), 1 << 33);
        assert_eq!(u.unwrap((1 << 33) - 10), (1 << 33) - 10, "a small step back across the wrap");
    }
}
