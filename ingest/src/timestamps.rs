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
