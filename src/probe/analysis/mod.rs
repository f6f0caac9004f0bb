//! What a finished run means, computed from its [`crate::probe::RunResult`] alone: the
//! timeline's windows and splits ([`timeline`]), the figures every view shows ([`figures`]), and
//! the findings: which AWS failure signature the run matches ([`findings`]). Pure functions of plain
//! facts, with table tests.

pub mod figures;
pub mod findings;
pub mod thresholds;
pub mod timeline;
