//! `baton.toml`: the configuration file of `baton start`. Its keys are the long flags of
//! `baton start` (`port = 9090`, `postgres = "postgres://…"`, `no-fallback = true`; `_` may
//! stand for `-`). A flag on the command line or its environment variable wins over the
//! file, which wins over the default: the file's values are added to the command line for
//! the flags given neither way, so clap checks them exactly as it checks flags.

use anyhow::{bail, Context};
use clap::parser::ValueSource;
use clap::CommandFactory;
use std::ffi::OsString;
use std::path::PathBuf;

/// Read when `--config` (or `BATON_CONFIG`) is not given and the file exists.
pub(crate) const DEFAULT_PATH: &str = "baton.toml";

/// Largest configuration file read (it holds a few dozen settings).
const MAX_FILE_BYTES: u64 = 1024 * 1024;

/// `argv` with the settings of the configuration file of `baton start` added; unchanged for
/// other commands, or when the command line does not parse (clap then reports it).
pub(crate) fn with_config_file<C: CommandFactory>(
    argv: Vec<OsString>,
) -> anyhow::Result<Vec<OsString>> {
    let command = C::command();
    let Ok(matches) = command.clone().try_get_matches_from(&argv) else {
        return Ok(argv);
    };
    let Some(("start", given)) = matches.subcommand() else {
        return Ok(argv);
    };
    let (path, named) = match given.get_one::<PathBuf>("config") {
        Some(path) => (path.clone(), true),
        None => (PathBuf::from(DEFAULT_PATH), false),
    };
    if !named && !path.exists() {
        return Ok(argv);
    }
    let size = std::fs::metadata(&path)
        .with_context(|| format!("reading configuration file {}", path.display()))?
        .len();
    if size > MAX_FILE_BYTES {
        bail!(
            "configuration file {} is {size} bytes; the limit is {MAX_FILE_BYTES}",
            path.display()
        );
    }
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("reading configuration file {}", path.display()))?;
    let table: toml::Table =
        toml::from_str(&text).with_context(|| format!("configuration file {}", path.display()))?;
    let Some(start) = command.find_subcommand("start") else {
        return Ok(argv);
    };
    let mut argv = argv;
    for (key, value) in table {
        let long = key.replace('_', "-");
        let Some(arg) = start
            .get_arguments()
            .find(|a| a.get_long() == Some(long.as_str()) && long != "config")
        else {
            bail!(
                "configuration file {}: unknown key `{key}`; the keys are the long flags of `baton start` (see `baton start --help`)",
                path.display()
            );
        };
        let id = arg.get_id().as_str();
        if matches!(
            given.value_source(id),
            Some(ValueSource::CommandLine | ValueSource::EnvVariable)
        ) {
            continue;
        }
        let flag = OsString::from(format!("--{long}"));
        let takes_value = arg.get_action().takes_values();
        match (value, takes_value) {
            (toml::Value::Boolean(true), false) => argv.push(flag),
            (toml::Value::Boolean(false), false) => {}
            (toml::Value::String(s), true) => argv.extend([flag, s.into()]),
            (toml::Value::Integer(n), true) => argv.extend([flag, n.to_string().into()]),
            (toml::Value::Float(x), true) => argv.extend([flag, x.to_string().into()]),
            (toml::Value::Boolean(b), true) => argv.extend([flag, b.to_string().into()]),
            (other, _) => bail!(
                "configuration file {}: key `{key}` has a {} value; it takes {}",
                path.display(),
                other.type_str(),
                if takes_value {
                    "a string or a number"
                } else {
                    "true or false"
                }
            ),
        }
    }
    Ok(argv)
}
