//! mod_deflate: the DEFLATE output filter and its tuning directives.
//!
//! Table first drafted from Apache 2.4's command table and `apache2 -L`; maintained by hand.

use crate::context::*;
use crate::registry::{Args::*, DirectiveDef, ModuleDef};
use crate::set::*;

pub static MODULE: ModuleDef = ModuleDef {
    id: "deflate_module",
    source: "mod_deflate.c",
    builtin: false,
    has_dir_config: true,
    directives: DIRECTIVES,
};

const DIRECTIVES: &[DirectiveDef] = &[
    DirectiveDef::new("DeflateFilterNote", Take12(raw12), RSRC_CONF, "Set a note to report on compression ratio"),
    DirectiveDef::new("DeflateWindowSize", Take1(raw1), RSRC_CONF, "Set the Deflate window size (1-15)"),
    DirectiveDef::new("DeflateBufferSize", Take1(raw1), RSRC_CONF, "Set the Deflate Buffer Size"),
    DirectiveDef::new("DeflateMemLevel", Take1(raw1), RSRC_CONF, "Set the Deflate Memory Level (1-9)"),
    DirectiveDef::new("DeflateCompressionLevel", Take1(raw1), RSRC_CONF, "Set the Deflate Compression Level (1-9)"),
    DirectiveDef::new("DeflateInflateLimitRequestBody", Take1(raw1), OR_ALL, "Set a limit on size of inflated input"),
    DirectiveDef::new("DeflateInflateRatioLimit", Take1(raw1), OR_ALL, "Set the inflate ratio limit above which inflation is aborted (default: 200)"),
    DirectiveDef::new("DeflateInflateRatioBurst", Take1(raw1), OR_ALL, "Set the maximum number of following inflate ratios above limit (default: 3)"),
    DirectiveDef::new("DeflateAlterEtag", Take1(raw1), RSRC_CONF, "Set how mod_deflate should modify ETAG response headers: 'AddSuffix' (default), 'NoChange' (2.2.x behavior), 'Remove'"),
];
