//! streamscope: does a streamed HTTP download really stream? See README.md.

#[cfg(feature = "gui")]
pub mod app;
pub mod backend;
pub mod cli;
pub mod lint;
pub mod probe;
pub mod units;
