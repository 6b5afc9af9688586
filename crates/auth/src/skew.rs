//! Clock-skew window.
//!
//! A signed request carries the client's idea of the current time. Accepting it only within a
//! window around our own clock limits how long a captured request stays replayable (the nonce
//! cache covers the window itself). Clients run slow as often as fast, so the window applies in
//! both directions.

/// True when `request_unix` is at most `window_secs` seconds away from `now_unix`, either way.
///
/// The boundary itself is inside the window. A negative window admits nothing. Works for any
/// `i64` inputs without overflow.
pub fn within_window(request_unix: i64, now_unix: i64, window_secs: i64) -> bool {
    // `abs_diff` yields the distance as u64, which cannot overflow even for i64::MIN vs MAX.
    match u64::try_from(window_secs) {
        Ok(window) => request_unix.abs_diff(now_unix) <= window,
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::within_window;

    #[test]
    fn both_directions_and_boundaries() {
        let now = 1_795_000_000;
        assert!(within_window(now, now, 900));
        assert!(within_window(now - 900, now, 900));
        assert!(within_window(now + 900, now, 900));
        assert!(!within_window(now - 901, now, 900));
        assert!(!within_window(now + 901, now, 900));
        assert!(within_window(now, now, 0));
        assert!(!within_window(now + 1, now, 0));
        assert!(!within_window(now, now, -1));
    }

    #[test]
    fn extremes_do_not_overflow() {
        assert!(!within_window(i64::MIN, i64::MAX, 900));
        assert!(!within_window(i64::MAX, i64::MIN, i64::MAX));
        assert!(within_window(i64::MAX, 0, i64::MAX));
        assert!(within_window(i64::MIN + 1, 0, i64::MAX));
    }
}
