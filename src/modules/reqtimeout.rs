//! mod_reqtimeout at run time: how long a client may take to send a request's head and its
//! body, each as an initial timeout that the data received extends (at MinRate bytes per
//! second) up to a maximum.

use std::time::{Duration, Instant};

use rhttpd_directives::model::Config;

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
const DEFAULT_BODY: Stage = Stage {
    timeout: 20,
    max: 0,
    min_rate: 500,
};

/// The stages in force (the main server's RequestReadTimeout).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
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
        let mut settings = Settings {
            header: DEFAULT_HEADER,
            body: DEFAULT_BODY,
        };
        for setting in config
            .main_server()
            .settings
            .iter()
            .filter(|s| s.directive == "RequestReadTimeout")
        {
            for word in setting.words() {
                let Some((key, value)) = word.split_once('=') else {
                    continue;
                };
                let stage = parse_stage(value);
                match key.to_ascii_lowercase().as_str() {
                    "header" => settings.header = stage,
                    "body" => settings.body = stage,
                    // The TLS handshake stage: rhttpd serves no TLS.
                    _ => {}
                }
            }
        }
        Some(settings)
    }
}

/// `timeout[-max][,MinRate=rate]`, already validated when the configuration was read.
fn parse_stage(value: &str) -> Stage {
    let lower = value.to_ascii_lowercase();
    let (times, rate) = match lower.split_once(",minrate=") {
        Some((times, rate)) => (times.to_string(), rate.trim().parse().unwrap_or(0)),
        None => (lower.clone(), 0),
    };
    let (timeout, max) = match times.split_once('-') {
        Some((t, m)) => (t.trim().parse().unwrap_or(0), m.trim().parse().unwrap_or(0)),
        None => (times.trim().parse().unwrap_or(0), 0),
    };
    Stage {
        timeout,
        max,
        min_rate: rate,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stages_and_rates() {
        assert_eq!(
            parse_stage("20-40,MinRate=500"),
            Stage {
                timeout: 20,
                max: 40,
                min_rate: 500
            }
        );
        assert_eq!(parse_stage("0").timeout, 0);
        let mut clock = Clock::start(DEFAULT_HEADER).unwrap();
        let first = clock.deadline;
        clock.received(1000);
        assert_eq!(clock.deadline - first, Duration::from_secs(2));
        clock.received(1_000_000);
        assert!(clock.deadline - first <= Duration::from_secs(20));
        assert!(Clock::start(parse_stage("0")).is_none());
    }
}
