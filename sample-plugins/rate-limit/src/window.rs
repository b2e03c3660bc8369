//! Fixed windows: a window of `seconds` starts at every multiple of `seconds` since the epoch,
//! so every node and every worker agrees on which window a request falls in, with no state.

/// The window a moment falls in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// When it started, unix seconds.
    pub start: u64,
    /// Seconds until the next one starts (at least 1).
    pub reset: u64,
}

impl Window {
    /// The window of `seconds` that `now` (unix seconds) falls in.
    pub fn of(now: u64, seconds: u32) -> Window {
        let seconds = u64::from(seconds.max(1));
        let start = now - now % seconds;
        Window {
            start,
            reset: start + seconds - now,
        }
    }
}

/// What the counter said about one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    /// Whether the request is let through.
    pub allowed: bool,
    /// Requests left in the window.
    pub remaining: u32,
    /// Seconds until the window resets.
    pub reset: u64,
}

impl Decision {
    /// The decision for the `count`th request (counting this one) of a window with `limit`.
    pub fn for_count(count: u64, limit: u32, window: Window) -> Decision {
        let limit64 = u64::from(limit);
        Decision {
            allowed: count <= limit64,
            remaining: u32::try_from(limit64.saturating_sub(count)).unwrap_or(limit),
            reset: window.reset,
        }
    }
}
