//! The fuzz target's corpus (`fuzz/corpus/requests`, grown by `make fuzz`) replayed through
//! what the target runs, so that every input it ever found interesting stays covered in CI.

use std::path::Path;

use pluginhost::wire::msgpack::{
    frame::{Limits, MAX_VALUES},
    incoming::read_requests,
    message::Incoming,
};

/// The methods the seeds must cover: every one the server answers.
const METHODS: [&str; 15] = [
    "SetPluginDir",
    "GetStatus",
    "GetPluginInfo",
    "StartInstance",
    "InstanceStatus",
    "CloseInstance",
    "HandleEvent",
    "Step",
    "StepError",
    "StepMultiMap",
    "StepCredential",
    "StepConsumer",
    "StepRoute",
    "StepService",
    "StepMemoryStats",
];

/// The inputs of the corpus `name`: the size of the reads each one picks (its first byte, as
/// the fuzz targets read it), and the stream.
fn corpus(name: &str) -> Vec<(usize, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(name);
    let mut inputs = Vec::new();
    for entry in std::fs::read_dir(&dir).expect("the corpus is in the repository") {
        let data = std::fs::read(entry.unwrap().path()).unwrap();
        if let Some((&chunk, stream)) = data.split_first() {
            inputs.push((usize::from(chunk) * 17 + 1, stream.to_vec()));
        }
    }
    inputs
}

#[test]
fn the_corpus_replays_and_covers_every_method() {
    let mut methods = std::collections::HashSet::new();
    let inputs = corpus("requests");
    for (chunk, stream) in &inputs {
        for limits in [
            Limits {
                max_bytes: 64 * 1024 * 1024,
                max_values: MAX_VALUES,
            },
            Limits {
                max_bytes: 4096,
                max_values: 256,
            },
        ] {
            let (requests, _) = read_requests(stream, *chunk, limits);
            for request in requests {
                if let Incoming::Request(request) = request {
                    methods.insert(request.method.trim_start_matches("plugin.").to_owned());
                }
            }
        }
    }
    assert!(inputs.len() >= METHODS.len(), "{} inputs", inputs.len());
    for method in METHODS {
        assert!(methods.contains(method), "no seed calls {method}");
    }
}

#[test]
fn the_protobuf_corpus_replays_and_covers_every_command() {
    use pluginhost::wire::protobuf::{incoming::read_calls, messages::Call};
    let mut commands = std::collections::HashSet::new();
    let inputs = corpus("protobuf");
    for (chunk, stream) in &inputs {
        for limit in [64 * 1024 * 1024, 4096] {
            let (calls, _) = read_calls(stream, *chunk, limit);
            for call in calls.into_iter().flatten() {
                let command = match call.call {
                    Some(Call::CmdGetPluginNames(_)) => "names",
                    Some(Call::CmdGetPluginInfo(_)) => "info",
                    Some(Call::CmdStartInstance(_)) => "start",
                    Some(Call::CmdGetInstanceStatus(_)) => "status",
                    Some(Call::CmdCloseInstance(_)) => "close",
                    Some(Call::CmdHandleEvent(_)) => "event",
                    None => continue,
                };
                commands.insert(command);
            }
        }
    }
    assert!(inputs.len() >= 6, "{} inputs", inputs.len());
    assert_eq!(commands.len(), 6, "seeds call only {commands:?}");
}

/// A fixed-seed xorshift generator: the same inputs every run.
struct Xorshift(u64);

impl Xorshift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// Not a fuzzer (that needs nightly: `make fuzz`), but on stable, in every `make test`: the
/// corpora's inputs with random bytes flipped, cut or repeated go through both dialects'
/// readers, which must neither panic nor disagree with themselves.
#[test]
fn mutated_corpus_inputs_never_break_the_readers() {
    use pluginhost::wire::protobuf::incoming::read_calls;
    let mut rng = Xorshift(0x9e37_79b9_7f4a_7c15);
    let inputs: Vec<(usize, Vec<u8>)> = corpus("protobuf")
        .into_iter()
        .chain(corpus("requests").into_iter().take(200))
        .collect();
    let mut runs = 0;
    for (chunk, stream) in &inputs {
        for _ in 0..40 {
            let mut data = stream.clone();
            match rng.next() % 3 {
                0 if !data.is_empty() => {
                    for _ in 0..=rng.next() % 4 {
                        let at = (rng.next() as usize) % data.len();
                        data[at] = rng.next() as u8;
                    }
                }
                1 if !data.is_empty() => data.truncate((rng.next() as usize) % data.len()),
                _ => data.extend_from_within(..data.len() / 2),
            }
            read_calls(&data, *chunk, 4096);
            read_requests(
                &data,
                *chunk,
                Limits {
                    max_bytes: 4096,
                    max_values: 256,
                },
            );
            runs += 1;
        }
    }
    assert!(runs >= 1000, "{runs} runs");
}
