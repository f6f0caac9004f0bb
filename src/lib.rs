//! streamscope: does a streamed HTTP download really stream? See README.md.

// Table tests are long by nature; production functions stay within clippy.toml's limit.
#![cfg_attr(test, allow(clippy::too_many_lines))]

// Linux is the one platform streamscope is built and tested on: the writer preallocates and
// starts write-back with Linux calls, hosted functions die with their owner by Linux's
// parent-death signal, their memory is read from /proc.
#[cfg(not(target_os = "linux"))]
compile_error!("streamscope supports Linux only (see README.md, Platform)");

#[cfg(feature = "gui")]
pub mod app;
pub mod aws;
pub mod backend;
pub mod calibrate;
pub mod chart;
pub mod cli;
pub mod demo;
pub mod disk;
pub mod emulator;
pub mod lint;
pub mod probe;
pub mod units;
