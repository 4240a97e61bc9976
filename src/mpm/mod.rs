//! The Multi-Processing Modules: how processes and threads are arranged to serve connections,
//! chosen from the configuration's `LoadModule mpm_*_module` line as Apache chooses.

pub mod prefork;
pub mod scoreboard;
