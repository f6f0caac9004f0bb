//! How a run is told: the JSON report ([`report`]), the printed summary both views word their
//! verdict with ([`printer`]), and the comparison of several runs ([`compare`]).

pub mod compare;
pub mod junit;
pub mod printer;
pub mod report;
pub mod schema;
