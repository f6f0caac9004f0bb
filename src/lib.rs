//! streamscope: does a streamed HTTP download really stream? See README.md.

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
