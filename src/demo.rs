//! The local demo: the backend Router started in-process on 127.0.0.1, once per gateway emulation
//! mode, and presets that show each verdict.

use crate::emulator::gateway::{GatewayMode, GatewaySettings};
use crate::emulator::{self, LocalSettings};
use std::net::SocketAddr;

#[derive(Debug, Clone, Copy)]
pub struct Preset {
    pub name: &'static str,
    pub gateway: GatewayMode,
    /// Query string for `/download`.
    pub query: &'static str,
    /// Idle timeout the preset needs to show its verdict (the stall preset), else the form's.
    pub idle_timeout_s: Option<f64>,
    pub note: &'static str,
}

pub const PRESETS: &[Preset] = &[
    Preset {
        name: "50 MiB stream",
        gateway: GatewayMode::Stream,
        query: "size=50MiB&length=0",
        idle_timeout_s: None,
        note: "API Gateway STREAM: 10 MiB at full speed, then 2 MiB/s (~20 s)",
    },
    Preset {
        name: "200 MiB throttled like API Gateway",
        gateway: GatewayMode::Stream,
        query: "size=200MiB&length=0",
        idle_timeout_s: None,
        note: "10 MiB at full speed, then 2 MiB/s (~95 s): watch the knee",
    },
    Preset {
        name: "50 MiB buffered (over 10 MB)",
        gateway: GatewayMode::Buffered,
        query: "size=50MiB",
        idle_timeout_s: None,
        note: "API Gateway BUFFERED refuses a response over 10 MB",
    },
    Preset {
        name: "5 MiB buffered (one burst)",
        gateway: GatewayMode::Buffered,
        query: "size=5MiB&rate=2MiB",
        idle_timeout_s: None,
        note: "2.5 s of silence, then all 5 MiB at once: the gateway held it",
    },
    Preset {
        name: "100 MiB, no gateway",
        gateway: GatewayMode::Off,
        query: "size=100MiB",
        idle_timeout_s: None,
        note: "the backend alone, at loopback speed",
    },
    Preset {
        name: "truncated at 20 MiB",
        gateway: GatewayMode::Off,
        query: "size=50MiB&rate=20MiB&fail_after=20MiB",
        idle_timeout_s: None,
        note: "the connection drops after 20 MiB of 50",
    },
    Preset {
        name: "stalls for 5 s",
        gateway: GatewayMode::Off,
        query: "size=20MiB&rate=10MiB&stall_after=5MiB&stall_ms=5000",
        idle_timeout_s: Some(3.0),
        note: "silence after 5 MiB; the idle timeout is 3 s",
    },
    Preset {
        name: "Lambda stream error",
        gateway: GatewayMode::Off,
        query: "size=20MiB&rate=10MiB&lambda_error_after=8MiB",
        idle_timeout_s: None,
        note: "the body ends with the Lambda Rust runtime's error text",
    },
    Preset {
        name: "404",
        gateway: GatewayMode::Off,
        query: "status=404",
        idle_timeout_s: None,
        note: "an HTTP error with a JSON body",
    },
];

/// The preset called `name` (case-insensitive).
pub fn preset_named(name: &str) -> Option<usize> {
    PRESETS
        .iter()
        .position(|p| p.name.eq_ignore_ascii_case(name))
}

#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error("{0}")]
    Config(#[from] crate::backend::ConfigError),
    #[error("cannot listen on 127.0.0.1: {0}")]
    Bind(#[from] std::io::Error),
}

/// One in-process server per gateway mode, alive as long as the app's runtime.
#[derive(Debug, Clone, Copy)]
pub struct DemoServers {
    pub off: SocketAddr,
    pub stream: SocketAddr,
    pub buffered: SocketAddr,
}

impl DemoServers {
    pub fn start(rt: &tokio::runtime::Runtime) -> Result<DemoServers, DemoError> {
        Self::start_with(rt, GatewaySettings::with_mode)
    }

    /// [`DemoServers::start`] with each mode's gateway settings from `settings` (tests scale
    /// AWS's limits down with it).
    pub fn start_with(
        rt: &tokio::runtime::Runtime,
        settings: impl Fn(GatewayMode) -> GatewaySettings,
    ) -> Result<DemoServers, DemoError> {
        rt.block_on(async {
            let start = |mode| {
                let gateway = settings(mode);
                async move {
                    let config = LocalSettings {
                        gateway,
                        ..LocalSettings::default()
                    }
                    .build()
                    .await?;
                    Ok::<_, DemoError>(emulator::spawn_local_with(config).await?)
                }
            };
            Ok(DemoServers {
                off: start(GatewayMode::Off).await?,
                stream: start(GatewayMode::Stream).await?,
                buffered: start(GatewayMode::Buffered).await?,
            })
        })
    }

    pub fn addr(&self, mode: GatewayMode) -> SocketAddr {
        match mode {
            GatewayMode::Off => self.off,
            GatewayMode::Stream => self.stream,
            GatewayMode::Buffered => self.buffered,
        }
    }

    pub fn url(&self, mode: GatewayMode, preset: &Preset) -> String {
        format!("http://{}/download?{}", self.addr(mode), preset.query)
    }
}
