//! Any bytes, read in pieces of any size, as one client's connection: the framer and the
//! decoder must neither panic nor disagree with themselves, under the server's default limits
//! and under small ones.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pluginhost::wire::msgpack::{
    frame::{Limits, MAX_VALUES},
    incoming::read_requests,
};

fuzz_target!(|data: &[u8]| {
    // The first byte picks the size of the reads, the rest is the stream.
    let Some((&chunk, stream)) = data.split_first() else {
        return;
    };
    let chunk = usize::from(chunk) * 17 + 1;
    read_requests(
        stream,
        chunk,
        Limits {
            max_bytes: 64 * 1024 * 1024,
            max_values: MAX_VALUES,
        },
    );
    read_requests(
        stream,
        chunk,
        Limits {
            max_bytes: 4096,
            max_values: 256,
        },
    );
});
