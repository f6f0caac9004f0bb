//! `streamscope man DIR` (hidden): writes the man pages the packages install, rendered by
//! clap_mangen from the same definitions as `--help`, so they cannot drift apart.

use clap::{Args, CommandFactory};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Args, Debug)]
pub struct ManArgs {
    /// Directory to write streamscope.1 and streamscope-COMMAND.1 into (created if missing)
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
}

pub fn man(args: ManArgs) -> ExitCode {
    match write_pages(&args.dir) {
        Ok(n) => {
            println!("wrote {n} man pages to {}", args.dir.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("streamscope: {}: {e}", args.dir.display());
            ExitCode::FAILURE
        }
    }
}

fn write_pages(dir: &Path) -> std::io::Result<usize> {
    std::fs::create_dir_all(dir)?;
    let mut cmd = super::Cli::command();
    // Building names each subcommand as man pages want it: "streamscope-get" for the page's
    // title, "streamscope get" for its synopsis.
    cmd.build();
    let source = format!("streamscope {}", env!("CARGO_PKG_VERSION"));
    let pages = std::iter::once(&cmd).chain(
        cmd.get_subcommands()
            .filter(|s| !s.is_hide_set() && s.get_name() != "help"),
    );
    let mut n = 0;
    for page in pages {
        let name = page.get_display_name().unwrap_or(page.get_name());
        let mut roff = Vec::new();
        clap_mangen::Man::new(page.clone())
            .source(source.clone())
            .render(&mut roff)?;
        std::fs::write(dir.join(format!("{name}.1")), roff)?;
        n += 1;
    }
    Ok(n)
}
