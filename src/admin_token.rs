//! The bootstrap admin token: the configured one, or one generated into the data directory on
//! first start (mode 0600) and read back on later starts.

use std::path::Path;

use anyhow::Context;

use crate::config::Config;

/// The configured admin token, or the one kept in `DATA_DIR/admin-token`.
pub fn admin_token(config: &Config) -> anyhow::Result<String> {
    if let Some(token) = &config.admin_token {
        return Ok(token.clone());
    }
    let path = config.data_dir.join("admin-token");
    if let Ok(token) = std::fs::read_to_string(&path) {
        return Ok(token.trim().to_owned());
    }
    let token = oxcast_store::Secret::admin_token();
    write_private(&path, token.as_str())?;
    Ok(token.as_str().to_owned())
}

fn write_private(path: &Path, contents: &str) -> anyhow::Result<()> {
    use std::io::Write;
    #[cfg(unix)]
    use std::os::unix::fs::OpenOptionsExt;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    options.mode(0o600);
    let mut file = options.open(path).with_context(|| format!("writing {}", path.display()))?;
    file.write_all(contents.as_bytes())?;
    Ok(())
}
