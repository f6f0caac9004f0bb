//! The desktop app (next issue).

pub fn run() -> Result<(), String> {
    Err(
        "the desktop app is not built yet; use `streamscope get` or `streamscope serve`"
            .to_string(),
    )
}
