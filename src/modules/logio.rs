//! mod_logio's configuration: LogIOTrackTTFB (table, setter, typed per-directory
//! configuration). Its log items (%I, %O, %S, %^FB) are rendered by `log_config`, and the
//! connection measures the time to first byte where the request's directory asks for it.

use rhttpd_directives::cmd::Cmd;
use rhttpd_directives::context::*;
use rhttpd_directives::model::DirConfig;
use rhttpd_directives::registry::{Args::*, DirectiveDef, ModuleDef, SetResult};

pub static MODULE: ModuleDef = ModuleDef {
    id: "logio_module",
    source: "mod_logio.c",
    builtin: true,
    has_dir_config: true,
    directives: DIRECTIVES,
};

const DIRECTIVES: &[DirectiveDef] = &[DirectiveDef::new(
    "LogIOTrackTTFB",
    Flag(track_ttfb),
    OR_ALL,
    "Set to 'ON' to enable tracking time to first byte",
)
.implemented()];

fn track_ttfb(cmd: &mut Cmd, on: bool) -> SetResult {
    cmd.dir_config::<Dir>().track_ttfb = Some(on);
    Ok(())
}

/// Per-directory: whether to measure the time to the response's first byte (`%^FB`).
#[derive(Debug, Clone, Default)]
pub struct Dir {
    pub track_ttfb: Option<bool>,
}

impl DirConfig for Dir {
    fn merge(&self, child: &Dir) -> Dir {
        Dir {
            track_ttfb: child.track_ttfb.or(self.track_ttfb),
        }
    }
}
