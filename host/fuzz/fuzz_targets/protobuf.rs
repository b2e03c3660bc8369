//! Any bytes, read in pieces of any size, as one ProtoBuf:1 client's connection: the framer,
//! the `RpcCall` decoder and every PDK answer decoder must neither panic nor disagree with
//! themselves, under the server's default limit and under a small one.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pluginhost::wire::protobuf::incoming::read_calls;

fuzz_target!(|data: &[u8]| {
    // The first byte picks the size of the reads, the rest is the stream.
    let Some((&chunk, stream)) = data.split_first() else {
        return;
    };
    let chunk = usize::from(chunk) * 17 + 1;
    read_calls(stream, chunk, 64 * 1024 * 1024);
    read_calls(stream, chunk, 4096);
});
