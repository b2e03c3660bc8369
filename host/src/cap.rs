//! Caps on the size of texts the server sends out: log lines and error replies. A plugin's
//! error, or a PDK error quoting a bad answer, can be any size; a line of 70 KB helps nobody
//! and fills Kong's error log and pipe.

use std::borrow::Cow;

/// Bytes of one log line or error text at most, before the mark of the cut.
pub const MAX_TEXT: usize = 4096;

/// `text`, or its first `max` bytes (at a character boundary) and a mark saying how much was
/// cut.
pub fn cap(text: &str, max: usize) -> Cow<'_, str> {
    if text.len() <= max {
        return Cow::Borrowed(text);
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    Cow::Owned(format!(
        "{}… [{} bytes cut]",
        &text[..end],
        text.len() - end
    ))
}

/// [`cap`] for a line of bytes ending in a newline, which the capped line keeps.
pub fn cap_line(line: &[u8], max: usize) -> Cow<'_, [u8]> {
    if line.len() <= max {
        return Cow::Borrowed(line);
    }
    let mut end = max;
    // Back to the start of a UTF-8 character.
    while end > 0 && line[end] & 0xc0 == 0x80 {
        end -= 1;
    }
    let mut capped = line[..end].to_vec();
    capped.extend_from_slice(format!("… [{} bytes cut]\n", line.len() - end).as_bytes());
    Cow::Owned(capped)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_texts_are_cut_at_a_character_and_say_so() {
        assert_eq!(cap("short", 10), "short");
        assert_eq!(cap("ééééé", 5), "éé… [6 bytes cut]");
        let line = format!("{}\n", "x".repeat(100));
        assert_eq!(
            cap_line(line.as_bytes(), 10).as_ref(),
            b"xxxxxxxxxx\xe2\x80\xa6 [91 bytes cut]\n"
        );
        assert_eq!(cap_line(b"ok\n", 10).as_ref(), b"ok\n");
    }
}
