//! streamscope: does a streamed HTTP download really stream? See README.md.

// Table tests are long by nature; production functions stay within clippy.toml's limit.
#![cfg_attr(test, allow(clippy::too_many_lines))]

#[cfg(feature = "gui")]
pub mod app;
pub mod aws;
pub mod backend;
pub mod chart;
pub mod cli;
pub mod demo;
pub mod emulator;
pub mod lint;
pub mod probe;
pub mod units;
