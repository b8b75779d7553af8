//! The `postern` binary as an operator uses it: commands, exit codes, signals, logs.

mod support;

mod commands;
mod serve;
