//! `loadgen`: drives a plugin server the way Kong does and reports what it sustains.
//!
//! `make bench` runs `loadgen bench`; the other subcommands run one part by hand.

use std::{path::PathBuf, time::Duration};

use anyhow::Context;
use clap::{Parser, Subcommand};
use kong_sim::load::{
    bench::{self, Bench},
    client::{self, Exchange, KONG_POOL_SIZE, Load},
    echo, memory,
    mock::{self, Script},
};

#[derive(Parser)]
#[command(about = "Kong-like load for plugin servers, and the baselines to compare with")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

// Parsed once per run: the size of the largest variant costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
enum Command {
    /// The whole benchmark (`make bench`): echo, mock and pluginhost at each load, memory under
    /// abandoned events, the 50-plugin dump; writes report.md and plot.png.
    Bench {
        /// The pluginhost binary.
        #[arg(long)]
        pluginhost: PathBuf,
        /// The built hello plugin (libhello.so).
        #[arg(long)]
        hello: PathBuf,
        /// The built request-transformer plugin (librequest_transformer.so).
        #[arg(long)]
        transformer: PathBuf,
        /// The built blocker test plugin (libblocker.so).
        #[arg(long)]
        blocker: PathBuf,
        /// The built sleeper test plugin (libsleeper.so).
        #[arg(long)]
        sleeper: PathBuf,
        /// The built rate-limit plugin (librate_limit.so); its redis policy needs redis-server.
        #[arg(long)]
        rate_limit: PathBuf,
        /// The built token-introspection plugin (libtoken_introspection.so).
        #[arg(long)]
        token_introspection: PathBuf,
        /// The built panicky test plugin (libpanicky.so), for the crash.
        #[arg(long)]
        panicky: PathBuf,
        /// Where report.md and plot.png go.
        #[arg(long, default_value = "bench/results")]
        out: PathBuf,
        /// Events in flight, comma-separated.
        #[arg(long, value_delimiter = ',', default_value = "1,4,16,64")]
        in_flight: Vec<usize>,
        /// Rounds per point; the median is reported.
        #[arg(long, default_value_t = 5)]
        rounds: usize,
        /// Seconds measured per round and server.
        #[arg(long, default_value_t = 1.0)]
        seconds: f64,
        /// Events abandoned per memory round.
        #[arg(long, default_value_t = 10_000)]
        abandoned: usize,
        /// Plugins in the dump directory.
        #[arg(long, default_value_t = 50)]
        dump_plugins: usize,
        /// Another pluginhost build to compare with (the commit before, say).
        #[arg(long)]
        baseline: Option<PathBuf>,
        /// hello's own executable (built with its `embedded` feature).
        #[arg(long)]
        hello_embedded: Option<PathBuf>,
    },
    /// Runs hello at 16 in flight for a long time, reporting RSS as it goes (`make soak`).
    Soak {
        #[arg(long)]
        pluginhost: PathBuf,
        #[arg(long)]
        hello: PathBuf,
        /// Minutes to run.
        #[arg(long, default_value_t = 5.0)]
        minutes: f64,
        /// Where soak.md goes.
        #[arg(long, default_value = "bench/results")]
        out: PathBuf,
    },
    /// Serves the echo baseline on SOCKET.
    EchoServer { socket: PathBuf },
    /// Serves the mock baseline on SOCKET (`hello` or `ten-calls` exchange).
    MockServer {
        socket: PathBuf,
        #[arg(long, default_value = "hello")]
        script: String,
    },
    /// Runs events of the blocker plugin's `where` mode from this process, as one Kong worker
    /// does, and prints the server thread that ran each event, one per line.
    Threads {
        /// The server's socket.
        socket: PathBuf,
        /// Events to run.
        #[arg(long, default_value_t = 100)]
        events: usize,
        /// Events running at once, each on a connection of its own.
        #[arg(long, default_value_t = 4)]
        concurrency: usize,
    },
    /// Measures one load against a running server.
    Run {
        /// The server's socket.
        socket: PathBuf,
        /// The server's pid, for its CPU time.
        #[arg(long)]
        pid: Option<u32>,
        /// Events in flight.
        #[arg(long, default_value_t = 16)]
        in_flight: usize,
        /// Plugin to start an instance of; none: echo round trips.
        #[arg(long)]
        plugin: Option<String>,
        /// The instance's config, as JSON.
        #[arg(long, default_value = "{}")]
        config: String,
        /// Seconds measured.
        #[arg(long, default_value_t = 3.0)]
        seconds: f64,
        /// Prints the figures as one JSON object (for `make bench`'s client processes).
        #[arg(long)]
        json: bool,
        /// Seconds of load before measuring.
        #[arg(long, default_value_t = 0.5)]
        warmup: f64,
    },
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Bench {
            pluginhost,
            hello,
            transformer,
            blocker,
            sleeper,
            rate_limit,
            token_introspection,
            panicky,
            out,
            in_flight,
            rounds,
            seconds,
            abandoned,
            dump_plugins,
            baseline,
            hello_embedded,
        } => {
            let report = bench::run(&Bench {
                pluginhost,
                hello,
                transformer,
                blocker,
                sleeper,
                rate_limit,
                token_introspection,
                panicky,
                out: out.clone(),
                in_flight,
                rounds,
                measure: Duration::from_secs_f64(seconds),
                abandoned,
                dump_plugins,
                baseline,
                hello_embedded,
            })?;
            print!("{report}");
            eprintln!(
                "loadgen: wrote {0}/report.md and {0}/plot.png",
                out.display()
            );
            Ok(())
        }
        Command::Soak {
            pluginhost,
            hello,
            minutes,
            out,
        } => {
            let report = memory::soak(
                &pluginhost,
                &hello,
                Duration::from_secs_f64(minutes * 60.0),
                Duration::from_secs(10),
            )?;
            std::fs::create_dir_all(&out)?;
            std::fs::write(out.join("soak.md"), &report)?;
            print!("{report}");
            Ok(())
        }
        Command::EchoServer { socket } => echo::serve(&socket).context("echo server"),
        Command::MockServer { socket, script } => {
            let script = match script.as_str() {
                "hello" => Script::hello(),
                "ten-calls" => Script::ten_calls(),
                other => anyhow::bail!("unknown script {other}: hello or ten-calls"),
            };
            mock::serve(&socket, script).context("mock server")
        }
        Command::Threads {
            socket,
            events,
            concurrency,
        } => {
            for thread in kong_sim::load::spread::threads_of_events(&socket, events, concurrency)? {
                println!("{thread}");
            }
            Ok(())
        }
        Command::Run {
            socket,
            pid,
            in_flight,
            plugin,
            config,
            seconds,
            json,
            warmup,
        } => {
            let exchange = match plugin {
                Some(name) => {
                    let config: serde_json::Value =
                        serde_json::from_str(&config).context("--config is not JSON")?;
                    Exchange::Event {
                        instance: client::start_instance(&socket, &name, &config)?,
                        phase: "access".into(),
                    }
                }
                None => Exchange::Echo {
                    frame: vec![0x94, 0, 1, 0xa1, b'x', 0x90],
                },
            };
            let figures = client::run(&Load {
                socket,
                in_flight,
                pool_size: KONG_POOL_SIZE,
                warmup: Duration::from_secs_f64(warmup),
                measure: Duration::from_secs_f64(seconds),
                server_pid: pid,
                authorization: None,
                exchange,
            })?;
            if json {
                println!("{}", kong_sim::load::spread::figures_json(&figures));
                return Ok(());
            }
            println!("{figures:?}");
            println!(
                "events/s {:.0}  rpc/s {:.0}  p50 {:?}  p99 {:?}",
                figures.events_per_s(),
                figures.rpcs_per_s(),
                figures.p50,
                figures.p99
            );
            Ok(())
        }
    }
}
