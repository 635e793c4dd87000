//! `warden man`: the manual, generated from the same definitions as `--help`.

use super::Usage;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Print warden's page as roff, or with `dir` write one page per command
/// (warden.1, warden-call.1, warden-plugin-install.1, …) and list them.
pub fn man(cmd: clap::Command, dir: Option<&Path>) -> anyhow::Result<ExitCode> {
    let mut cmd = cmd.disable_help_subcommand(true);
    cmd.build();
    let Some(dir) = dir else {
        let mut page = Vec::new();
        clap_mangen::Man::new(cmd).render(&mut page)?;
        out!("{}", String::from_utf8_lossy(&page));
        return Ok(ExitCode::SUCCESS);
    };
    std::fs::create_dir_all(dir).map_err(|e| Usage {
        message: format!("cannot create {}: {e}", dir.display()),
        hint: "name a directory you can write with --dir".into(),
    })?;
    let mut written = Vec::new();
    pages(cmd, dir, &mut written)?;
    for path in &written {
        outln!("{}", path.display());
    }
    Ok(ExitCode::SUCCESS)
}

fn pages(cmd: clap::Command, dir: &Path, written: &mut Vec<PathBuf>) -> anyhow::Result<()> {
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        pages(sub.clone(), dir, written)?;
    }
    let page = clap_mangen::Man::new(cmd);
    let path = page.generate_to(dir).map_err(|e| {
        anyhow::anyhow!(
            "cannot write {}: {e}",
            dir.join(page.get_filename()).display()
        )
    })?;
    written.push(path);
    Ok(())
}
