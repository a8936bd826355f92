//! Keys generated once for the embedded default and kept under the data directory (mode 0600).
//! Production never generates keys: it must be given them.
use std::{fs, io::Write, path::Path};

use anyhow::Context;

/// Returns the content of `data_dir/name`, creating it with `generate()` if it does not exist.
pub fn load_or_create(
    data_dir: &Path,
    name: &str,
    generate: impl FnOnce() -> String,
) -> anyhow::Result<String> {
    let path = data_dir.join(name);
    if path.exists() {
        let value =
            fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
        return Ok(value.trim().to_string());
    }
    fs::create_dir_all(data_dir).with_context(|| format!("creating {}", data_dir.display()))?;
    let value = generate();
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options
        .open(&path)
        .with_context(|| format!("creating {}", path.display()))?;
    file.write_all(value.as_bytes())?;
    tracing::warn!(
        file = %path.display(),
        "generated a new key for the embedded default; back it up (losing it makes encrypted data unreadable) and configure keys explicitly in production"
    );
    Ok(value)
}
