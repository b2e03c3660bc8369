//! `panicky`: misbehaves on purpose, so that tests can check the host survives it. The
//! `mode` of its config picks the misbehaviour.

mod every;

use std::fs;

use plugin_abi::{HandlerResult, Kong, Plugin};

/// What the access handler does.
#[plugin_abi::config]
#[derive(Default, Clone, Copy, PartialEq)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Returns at once.
    #[default]
    Nothing,
    /// Panics.
    Panic,
    /// Returns an error.
    Error,
    /// Calls `kong.response.exit`, then another PDK function, and writes that call's error to
    /// `path`.
    ExitThenCall,
    /// Sends arguments that are not a MessagePack array, and writes the error to `path`.
    BadArgs,
    /// Reads `kong.ctx.shared.get("k")` and writes the answer (or the error) as JSON to `path`.
    Echo,
    /// Makes `count` calls to `kong.request.get_header("x-n")`, then sets `x-sum` to their sum.
    Sum,
    /// Reads a header, then aborts the whole process: a crash no server can catch.
    Abort,
    /// Calls every typed PDK function once, and writes what each gave as JSON to `path`.
    Every,
}

/// The plugin's configuration.
#[plugin_abi::config]
pub struct Config {
    /// The misbehaviour.
    #[serde(default)]
    pub mode: Mode,
    /// Where results are written.
    #[serde(default)]
    pub path: String,
    /// How many calls `sum` makes.
    #[serde(default)]
    pub count: u32,
}

/// A configured instance.
pub struct Panicky(Config);

impl Panicky {
    fn record(&self, text: &str) -> HandlerResult {
        fs::write(&self.0.path, text)?;
        Ok(())
    }
}

#[plugin_abi::plugin(name = "panicky", priority = 10, version = "1.2.3")]
impl Plugin for Panicky {
    type Config = Config;

    fn new(config: Config) -> Result<Self, String> {
        Ok(Panicky(config))
    }

    fn access(&self, kong: &Kong) -> HandlerResult {
        match self.0.mode {
            Mode::Nothing => Ok(()),
            Mode::Panic => panic!("panicky was asked to panic"),
            Mode::Abort => {
                kong.request().get_header("x-n")?;
                std::process::abort()
            }
            Mode::Error => Err("panicky was asked to fail".into()),
            Mode::ExitThenCall => {
                kong.response().exit(403, Some("forbidden"), None)?;
                match kong.request().get_header("host") {
                    Ok(_) => self.record("the call after exit succeeded"),
                    Err(e) => self.record(&e.to_string()),
                }
            }
            Mode::BadArgs => match kong.call_raw("kong.request.get_header", &[0x01]) {
                Ok(_) => self.record("bad arguments were accepted"),
                Err(e) => self.record(&e.to_string()),
            },
            Mode::Echo => {
                let answer = kong
                    .ctx()
                    .shared()
                    .get::<serde_json::Value>("k")
                    .map_err(|e| e.to_string());
                let text = match answer {
                    Ok(v) => serde_json::json!({ "ok": v }),
                    Err(e) => serde_json::json!({ "err": e }),
                };
                self.record(&text.to_string())
            }
            Mode::Every => {
                let seen = every::every_call(kong);
                self.record(&serde_json::to_string(&seen)?)
            }
            Mode::Sum => {
                let mut sum = 0i64;
                for _ in 0..self.0.count {
                    let n = kong.request().get_header("x-n")?.unwrap_or_default();
                    sum += n.parse::<i64>()?;
                }
                kong.response().set_header("x-sum", &sum.to_string())?;
                Ok(())
            }
        }
    }

    fn log(&self, kong: &Kong) -> HandlerResult {
        kong.log().notice("panicky log phase")?;
        Ok(())
    }
}
