//! Write lines to the host's log, tagged with the bot's name.
//!
//! Printing to stdout or stderr also reaches the log; these functions add a level.

use crate::bindings::poe::bot::logging::{Level, log};

/// Log at debug level.
pub fn debug(message: &str) {
    log(Level::Debug, message);
}

/// Log at info level.
///
/// ```no_run
/// poe_bot::log::info("answering");
/// ```
pub fn info(message: &str) {
    log(Level::Info, message);
}

/// Log at warn level.
pub fn warn(message: &str) {
    log(Level::Warn, message);
}

/// Log at error level.
pub fn error(message: &str) {
    log(Level::Error, message);
}
