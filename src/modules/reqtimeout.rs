//! mod_reqtimeout, whole: RequestReadTimeout (table, setter, typed per-server configuration)
//! and how long a client may take to send a request's head and its body, each as an initial
//! timeout that the data received extends (at MinRate bytes per second) up to a maximum.

use std::time::{Duration, Instant};

use rhttpd_directives::cmd::Cmd;
use rhttpd_directives::context::*;
use rhttpd_directives::model::{Config, DirConfig};
use rhttpd_directives::registry::{Args::*, DirectiveDef, ModuleDef, SetResult};
use rhttpd_directives::set::{next_word, strtol};

pub static MODULE: ModuleDef = ModuleDef {
    id: "reqtimeout_module",
    source: "mod_reqtimeout.c",
    builtin: false,
    has_dir_config: true,
    directives: DIRECTIVES,
};

const DIRECTIVES: &[DirectiveDef] = &[DirectiveDef::new(
    "RequestReadTimeout",
    Raw(request_read_timeout),
    RSRC_CONF,
    "Set various timeout parameters for TLS handshake and/or reading request headers and body",
)
.implemented()];

/// RequestReadTimeout: `stage=timeout[-maxtimeout][,MinRate=rate]` words; a stage a later
/// word or line names again takes the later value.
fn request_read_timeout(cmd: &mut Cmd, raw: &str) -> SetResult {
    let mut rest = raw;
    let mut stages = Vec::new();
    while !rest.is_empty() {
        let word = next_word(&mut rest);
        let Some((key, value)) = word.split_once('=') else {
            return Err(
                "Invalid RequestReadTimeout parameter. Parameter must be in the form 'key=value'"
                    .into(),
            );
        };
        let stage = timeout_stage(key, value)
            .map_err(|err| format!("RequestReadTimeout: {key}={value}: {err}"))?;
        stages.push((key.to_ascii_lowercase(), stage));
    }
    let config = cmd.server_config::<ServerConf>();
    for (key, stage) in stages {
        match key.as_str() {
            "handshake" => config.handshake = Some(stage),
            "header" => config.header = Some(stage),
            _ => config.body = Some(stage),
        }
    }
    Ok(())
}

/// One stage's value: `timeout[-max][,MinRate=rate]`.
fn timeout_stage(key: &str, value: &str) -> Result<Stage, String> {
    if !["handshake", "header", "body"]
        .iter()
        .any(|k| k.eq_ignore_ascii_case(key))
    {
        return Err("Unknown RequestReadTimeout parameter".into());
    }
    const MINRATE: &str = ",minrate=";
    let lower = value.to_ascii_lowercase();
    let (timeout, max_timeout, min_rate) = match lower.find(MINRATE) {
        Some(at) => {
            let rate = parse_int(&value[at + MINRATE.len()..])?;
            if rate == 0 {
                return Err("Minimum data rate must be larger than 0".into());
            }
            let initial = &value[..at];
            match initial.split_once('-') {
                Some((initial, max)) => {
                    let max = parse_int(max)?;
                    (parse_int(initial)?, max, rate)
                }
                None => (parse_int(initial)?, 0, rate),
            }
        }
        None => {
            if value.contains('-') {
                return Err("Must set MinRate option if using timeout range".into());
            }
            (parse_int(value)?, 0, 0)
        }
    };
    if max_timeout != 0 && timeout >= max_timeout {
        return Err("Maximum timeout must be larger than initial timeout".into());
    }
    Ok(Stage {
        timeout,
        max: max_timeout,
        min_rate,
    })
}

/// mod_reqtimeout's `parse_int`: `strtol` into an `int`, the whole text, not negative.
fn parse_int(text: &str) -> Result<u32, String> {
    let (value, rest) = strtol(text);
    if rest.len() == text.len() {
        return Err(format!("Value '{text}' not numerical"));
    }
    if !rest.is_empty() {
        return Err(format!("Cannot parse '{rest}'"));
    }
    // The long lands in an int, keeping its low 32 bits.
    let value = value as i32;
    u32::try_from(value).map_err(|_| "Value must be non-negative".to_string())
}

/// mod_reqtimeout's per-server configuration: the stages RequestReadTimeout named.
#[derive(Debug, Clone, Default)]
pub struct ServerConf {
    pub handshake: Option<Stage>,
    pub header: Option<Stage>,
    pub body: Option<Stage>,
}

impl DirConfig for ServerConf {
    fn merge(&self, vhost: &ServerConf) -> ServerConf {
        ServerConf {
            handshake: vhost.handshake.or(self.handshake),
            header: vhost.header.or(self.header),
            body: vhost.body.or(self.body),
        }
    }
}

/// One stage's limits (`header=20-40,MinRate=500`); a zero timeout switches the stage off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stage {
    pub timeout: u32,
    pub max: u32,
    pub min_rate: u32,
}

/// mod_reqtimeout's defaults for a stage the configuration does not name.
const DEFAULT_HEADER: Stage = Stage {
    timeout: 20,
    max: 40,
    min_rate: 500,
};
/// The TLS handshake has no limit of its own unless RequestReadTimeout names one.
const DEFAULT_HANDSHAKE: Stage = Stage {
    timeout: 0,
    max: 0,
    min_rate: 0,
};
const DEFAULT_BODY: Stage = Stage {
    timeout: 20,
    max: 0,
    min_rate: 500,
};

/// The stages in force (the main server's RequestReadTimeout).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    pub handshake: Stage,
    pub header: Stage,
    pub body: Stage,
}

impl Settings {
    /// The settings when mod_reqtimeout is loaded; `None` without it.
    pub fn from_config(config: &Config) -> Option<Settings> {
        if !config
            .read
            .modules
            .iter()
            .any(|m| m.id == "reqtimeout_module")
        {
            return None;
        }
        let named = config.main_server().modules.get::<ServerConf>();
        Some(Settings {
            handshake: named.and_then(|n| n.handshake).unwrap_or(DEFAULT_HANDSHAKE),
            header: named.and_then(|n| n.header).unwrap_or(DEFAULT_HEADER),
            body: named.and_then(|n| n.body).unwrap_or(DEFAULT_BODY),
        })
    }
}

/// A running stage: when it runs out, moved later by the data that arrives.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    pub deadline: Instant,
    limit: Option<Instant>,
    /// Time granted per byte received (1 / MinRate).
    per_byte: Option<Duration>,
}

impl Clock {
    /// Starts a stage now; `None` when it is switched off.
    pub fn start(stage: Stage) -> Option<Clock> {
        if stage.timeout == 0 {
            return None;
        }
        let now = Instant::now();
        Some(Clock {
            deadline: now + Duration::from_secs(stage.timeout.into()),
            limit: (stage.max > 0).then(|| now + Duration::from_secs(stage.max.into())),
            per_byte: (stage.min_rate > 0).then(|| Duration::from_secs(1) / stage.min_rate),
        })
    }

    /// Data arrived: the deadline moves by its worth at MinRate, up to the maximum.
    pub fn received(&mut self, bytes: usize) {
        let Some(per_byte) = self.per_byte else {
            return;
        };
        self.deadline += per_byte * bytes.min(u32::MAX as usize) as u32;
        if let Some(limit) = self.limit {
            self.deadline = self.deadline.min(limit);
        }
    }

    pub fn expired(&self) -> bool {
        Instant::now() >= self.deadline
    }
}

/// mod_reqtimeout's input filter: the connection keeps its clock (see [`Settings`]), so the
/// name is accepted and adds no stage.
static REQTIMEOUT_IN: crate::filters::InputFilter = crate::filters::InputFilter {
    name: "reqtimeout",
    start: |_| None,
};

pub fn register_hooks(hooks: &mut crate::hooks::Hooks) {
    hooks.input_filters.register(&REQTIMEOUT_IN);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stages_and_rates() {
        assert_eq!(
            timeout_stage("header", "20-40,MinRate=500"),
            Ok(Stage {
                timeout: 20,
                max: 40,
                min_rate: 500
            })
        );
        let off = timeout_stage("body", "0").unwrap();
        assert_eq!(off.timeout, 0);
        let mut clock = Clock::start(DEFAULT_HEADER).unwrap();
        let first = clock.deadline;
        clock.received(1000);
        assert_eq!(clock.deadline - first, Duration::from_secs(2));
        clock.received(1_000_000);
        assert!(clock.deadline - first <= Duration::from_secs(20));
        assert!(Clock::start(off).is_none());
    }
}
