//! Getting the bytes: a [`request::ProbeRequest`] validated once into a
//! [`request::ValidRequest`], then [`engine::run`]: the request goes out ([`session`]: redirects,
//! signing, timing), the body is read by the one body loop ([`body`]) into the writer ([`sink`]),
//! as one stream or as parallel ranges ([`ranges`]), continuing a `.part` ([`resume`]) or a failed
//! attempt; how it ended is decided by [`classify`] from plain facts ([`expect`]: what the headers
//! promised), and everything lands in one [`result::RunResult`].

pub mod auth;
pub mod body;
pub mod classify;
pub mod engine;
pub mod event;
pub mod expect;
pub mod function_log;
pub mod net;
pub mod outcome;
pub mod phases;
pub mod range;
pub mod ranges;
pub mod request;
pub mod result;
pub mod resume;
pub mod session;
pub mod sink;
pub mod throttle;
pub mod waits;
