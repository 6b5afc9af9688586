//! `coffer serve --config FILE` (or `COFFER_CONFIG`): serve's settings in a TOML file.
//!
//! The file's keys are the long names of serve's flags (`listen`, `data-dir` or `data_dir`,
//! `limits`, ...). Every flag has a `COFFER_*` variable, so the file is applied by setting,
//! before the command line is parsed, the variable of each key it names that the environment
//! does not set already. Precedence then falls out of clap's own: a flag on the command line,
//! else its variable, else the file, else the default. The keys are looked up in the flags
//! clap knows, so a flag added to `serve` is a key of the file at once.
//!
//! Values: strings, integers, floats and booleans as written; an array for a repeatable flag
//! (`region = ["eu=eu-west-1", ...]`, `limit = [...]`); a table for a repeatable `NAME=VALUE`
//! flag, its dotted keys the names (`[limit]` then `"tencent.rate.CreateSecret" = "5/s"`, or
//! `[limit.tencent.rate]` then `CreateSecret = "5/s"`). A key that is no flag of serve, or a
//! value its flag's parser refuses, is an error naming the key and the file, before anything
//! starts.
//!
//! `coffer config check FILE` ([`check`]) reads the file alone: its settings become a command
//! line parsed by serve's command with every variable switched off, so neither the checker's
//! environment nor defaults hide a mistake, and then the checks serve makes of its settings
//! before it opens anything.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context};
use clap::{Arg, ArgAction, CommandFactory};

/// The flag and variable that name the file.
const FLAG: &str = "config";
const VARIABLE: &str = "COFFER_CONFIG";

/// The file `serve` is to read: `--config FILE` / `--config=FILE` after `serve` on the command
/// line, else `COFFER_CONFIG`; `None` for other commands or without either.
pub fn requested(args: &[OsString]) -> Option<PathBuf> {
    if args.get(1).and_then(|a| a.to_str()) != Some("serve") {
        return None;
    }
    let flag = format!("--{FLAG}");
    let with_value = format!("--{FLAG}=");
    let mut it = args.iter().skip(2);
    while let Some(arg) = it.next() {
        let Some(text) = arg.to_str() else { continue };
        if text == "--" {
            break;
        }
        if text == flag {
            return it.next().map(PathBuf::from);
        }
        if let Some(value) = text.strip_prefix(&with_value) {
            return Some(PathBuf::from(value));
        }
    }
    std::env::var_os(VARIABLE)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

/// The variables the file sets: `(variable, value)` for each key whose variable `is_set`
/// does not report as set already.
pub fn variables(
    path: &Path,
    text: &str,
    is_set: impl Fn(&str) -> bool,
) -> anyhow::Result<Vec<(String, String)>> {
    let table: toml::Table = text
        .parse()
        .with_context(|| format!("{} is not valid TOML", path.display()))?;
    let cli = crate::config::Cli::command();
    let serve = cli
        .find_subcommand("serve")
        .ok_or_else(|| anyhow!("the serve command is missing"))?;
    let mut out = Vec::new();
    for (key, value) in &table {
        let long = key.replace('_', "-");
        let arg = serve
            .get_arguments()
            .find(|a| a.get_long() == Some(long.as_str()) && long != FLAG)
            .ok_or_else(|| {
                anyhow!(
                    "{}: unknown key {key:?} (keys are the long flag names of `coffer serve`; \
                     see `coffer serve --help`)",
                    path.display()
                )
            })?;
        let variable = arg
            .get_env()
            .and_then(|v| v.to_str())
            .ok_or_else(|| anyhow!("--{long} has no environment variable to set"))?;
        let text =
            flag_value(arg, value).with_context(|| format!("{}: key {key:?}", path.display()))?;
        // Checked here, so that a bad value is refused naming the file and its key rather
        // than as the COFFER_* variable it becomes.
        check_value(arg, &text).with_context(|| format!("{}: key {key:?}", path.display()))?;
        if is_set(variable) {
            continue;
        }
        out.push((variable.to_string(), text));
    }
    Ok(out)
}

/// Reads the file `args` ask for, if any, and sets the variables it names that are unset.
/// Call it before the command line is parsed and before any thread starts (it changes the
/// environment). Returns the file applied.
pub fn apply(args: &[OsString]) -> anyhow::Result<Option<PathBuf>> {
    let Some(path) = requested(args) else {
        return Ok(None);
    };
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let vars = variables(&path, &text, |v| std::env::var_os(v).is_some())?;
    for (variable, value) in vars {
        // The process has one thread yet (see `main`), so nothing reads the environment
        // while it changes.
        std::env::set_var(variable, value);
    }
    Ok(Some(path))
}

/// Whether `text` is a value the flag takes (each item, for a flag whose variable lists
/// several), by the flag's own parser: a command of that one flag parses it.
fn check_value(arg: &Arg, text: &str) -> anyhow::Result<()> {
    if matches!(arg.get_action(), ArgAction::SetTrue) {
        return match text {
            "true" | "false" => Ok(()),
            _ => bail!("{text:?} is not a switch value (true or false)"),
        };
    }
    // Alone: what it requires or conflicts with is checked with the whole file.
    let alone = arg
        .clone()
        .env(None::<&str>)
        .requires(clap::builder::Resettable::Reset)
        .conflicts_with(clap::builder::Resettable::Reset)
        .required(false);
    let result = clap::Command::new("coffer")
        .no_binary_name(true)
        .disable_help_flag(true)
        .arg(alone)
        .try_get_matches_from([format!("--{}={text}", long(arg))]);
    if let Err(e) = result {
        // clap words it for a command line ("error: invalid value ... for '--x'"); the
        // first line is the reason.
        let why = e.to_string();
        let why = why.lines().next().unwrap_or_default();
        let why = why.strip_prefix("error: ").unwrap_or(why);
        bail!("{why}");
    }
    Ok(())
}

/// The command line that gives serve the same settings as `vars` (variables as
/// [`variables`] makes them): `--long=value` per variable, a switch alone when true.
fn command_line(vars: &[(String, String)]) -> anyhow::Result<Vec<OsString>> {
    let cli = crate::config::Cli::command();
    let serve = cli
        .find_subcommand("serve")
        .ok_or_else(|| anyhow!("the serve command is missing"))?;
    let mut args: Vec<OsString> = vec!["coffer".into(), "serve".into()];
    for (variable, value) in vars {
        let arg = serve
            .get_arguments()
            .find(|a| a.get_env().and_then(|e| e.to_str()) == Some(variable.as_str()))
            .ok_or_else(|| anyhow!("{variable} is no variable of serve"))?;
        let long = long(arg);
        match arg.get_action() {
            ArgAction::SetTrue => {
                let on = matches!(
                    value.to_ascii_lowercase().as_str(),
                    "true" | "1" | "yes" | "on"
                );
                if on {
                    args.push(format!("--{long}").into());
                }
            }
            _ => args.push(format!("--{long}={value}").into()),
        }
    }
    Ok(args)
}

/// Serve's settings from the file alone (defaults for the rest), without the environment.
pub fn serve_args(path: &Path, text: &str) -> anyhow::Result<crate::config::ServeArgs> {
    let vars = variables(path, text, |_| false)?;
    let line = command_line(&vars)?;
    parse_without_env(line).map_err(|e| anyhow!("{}: {e:#}", path.display()))
}

/// Parses a serve command line with no `COFFER_*` variable filling in what it leaves out.
fn parse_without_env(line: Vec<OsString>) -> anyhow::Result<crate::config::ServeArgs> {
    let cli = crate::config::Cli::command().mut_subcommand("serve", |serve| {
        let ids: Vec<String> = serve
            .get_arguments()
            .map(|a| a.get_id().to_string())
            .collect();
        ids.iter().fold(serve, |serve, id| {
            serve.mut_arg(id, |a| a.env(None::<&str>))
        })
    });
    let matches = cli
        .try_get_matches_from(line)
        .map_err(|e| anyhow!("{}", e.to_string().trim_end()))?;
    let cli = <crate::config::Cli as clap::FromArgMatches>::from_arg_matches(&matches)
        .map_err(|e| anyhow!("{e}"))?;
    match cli.command {
        crate::config::Command::Serve(args) => Ok(args),
        _ => bail!("not the serve command"),
    }
}

/// `coffer config check FILE`: the file's settings as serve would take them, checked like
/// a start checks them before it opens anything. Returns the lines to print.
pub fn check(path: &Path) -> anyhow::Result<Vec<String>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let args = serve_args(path, &text)?;
    // What serve checks of its settings before it touches anything.
    crate::limits::resolve(args.limits, &args.limit, args.max_secrets_per_region)
        .with_context(|| format!("{}: key \"limit\"", path.display()))?;
    let mut regions = coffer_core::RegionMap::new(args.default_region.clone());
    for spec in &args.regions {
        regions
            .add_spec(spec)
            .map_err(|e| anyhow!("{}: key \"region\": {e}", path.display()))?;
    }
    coffer_dialect_native::DbHostAllowList::parse(&args.db_hosts_allowed)
        .map_err(|e| anyhow!("{}: key \"db-hosts-allowed\": {e}", path.display()))?;
    tracing_subscriber::EnvFilter::try_new(&args.log)
        .map_err(|e| anyhow!("{}: key \"log\": {e}", path.display()))?;
    let table: toml::Table = text.parse()?;
    let cli = crate::config::Cli::command();
    let serve = cli
        .find_subcommand("serve")
        .ok_or_else(|| anyhow!("the serve command is missing"))?;
    let mut lines = vec![format!(
        "{}: {} key(s), all valid",
        path.display(),
        table.len()
    )];
    for (key, value) in &table {
        let long = key.replace('_', "-");
        let hidden = serve
            .get_arguments()
            .find(|a| a.get_long() == Some(long.as_str()))
            .is_some_and(|a| a.is_hide_env_values_set());
        let shown = if hidden {
            "(hidden)".to_string()
        } else {
            value.to_string()
        };
        lines.push(format!("  {long} = {shown}"));
    }
    Ok(lines)
}

/// The text of `value` as the flag's variable carries it.
fn flag_value(arg: &Arg, value: &toml::Value) -> anyhow::Result<String> {
    let repeatable = matches!(arg.get_action(), ArgAction::Append);
    let items = match value {
        toml::Value::Array(items) => {
            if !repeatable {
                bail!("--{} takes one value, not a list", long(arg));
            }
            items
                .iter()
                .map(scalar)
                .collect::<anyhow::Result<Vec<_>>>()?
        }
        toml::Value::Table(table) => {
            if !repeatable {
                bail!("--{} takes one value, not a table", long(arg));
            }
            let mut pairs = Vec::new();
            flatten("", table, &mut pairs)?;
            pairs
        }
        other => return scalar(other),
    };
    let Some(delimiter) = arg.get_value_delimiter() else {
        match items.as_slice() {
            [one] => return Ok(one.clone()),
            _ => bail!("--{} takes one value per variable", long(arg)),
        }
    };
    if let Some(item) = items.iter().find(|i| i.contains(delimiter)) {
        bail!(
            "{item:?}: a value of --{} cannot contain {delimiter:?}",
            long(arg)
        );
    }
    Ok(items.join(&delimiter.to_string()))
}

fn long(arg: &Arg) -> &str {
    arg.get_long().unwrap_or_default()
}

fn scalar(value: &toml::Value) -> anyhow::Result<String> {
    Ok(match value {
        toml::Value::String(s) => s.clone(),
        toml::Value::Integer(i) => i.to_string(),
        toml::Value::Float(f) => f.to_string(),
        toml::Value::Boolean(b) => b.to_string(),
        toml::Value::Datetime(d) => d.to_string(),
        toml::Value::Array(_) | toml::Value::Table(_) => {
            bail!("a list or table cannot be nested here")
        }
    })
}

/// `NAME=VALUE` for every leaf of `table`, names joined with dots.
fn flatten(prefix: &str, table: &toml::Table, out: &mut Vec<String>) -> anyhow::Result<()> {
    for (key, value) in table {
        let name = if prefix.is_empty() {
            key.clone()
        } else {
            format!("{prefix}.{key}")
        };
        match value {
            toml::Value::Table(inner) => flatten(&name, inner, out)?,
            other => out.push(format!("{name}={}", scalar(other)?)),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<OsString> {
        list.iter().map(OsString::from).collect()
    }

    fn vars(text: &str) -> anyhow::Result<Vec<(String, String)>> {
        variables(Path::new("coffer.toml"), text, |_| false)
    }

    #[test]
    fn every_serve_flag_has_a_variable() {
        let cli = crate::config::Cli::command();
        let serve = cli
            .find_subcommand("serve")
            .unwrap_or_else(|| panic!("no serve"));
        for arg in serve.get_arguments() {
            let Some(long) = arg.get_long() else { continue };
            if matches!(arg.get_action(), ArgAction::Help | ArgAction::Version) {
                continue;
            }
            let env = arg.get_env().and_then(|e| e.to_str());
            assert!(
                env.is_some_and(|e| e.starts_with("COFFER_")),
                "--{long} has no COFFER_* variable, so the config file cannot set it"
            );
        }
    }

    /// TOML keys with their values, and the same settings as command line arguments.
    type Sample = (Vec<(&'static str, &'static str)>, Vec<&'static str>);

    /// A value for each flag of serve (other than the default), as a TOML value and as the
    /// command line gives it; flags that need another flag name it too.
    fn sample(long: &str) -> Option<Sample> {
        Some(match long {
            "data-dir" => (
                vec![("data-dir", "\"/srv/coffer\"")],
                vec!["--data-dir", "/srv/coffer"],
            ),
            "database-url" => (
                vec![("database_url", "\"postgres://c@db:5432/coffer\"")],
                vec!["--database-url", "postgres://c@db:5432/coffer"],
            ),
            "listen" => (
                vec![("listen", "\"0.0.0.0:9000\"")],
                vec!["--listen", "0.0.0.0:9000"],
            ),
            "metrics-listen" => (
                vec![("metrics-listen", "\"127.0.0.1:9100\"")],
                vec!["--metrics-listen", "127.0.0.1:9100"],
            ),
            "root-key-file" => (
                vec![("root-key-file", "\"/k\"")],
                vec!["--root-key-file", "/k"],
            ),
            "region" => (
                vec![(
                    "region",
                    "[\"eu=eu-west-1,eu-central-1\", \"us=us-east-1\"]",
                )],
                vec![
                    "--region",
                    "eu=eu-west-1,eu-central-1",
                    "--region",
                    "us=us-east-1",
                ],
            ),
            "default-region" => (
                vec![("default-region", "\"main\"")],
                vec!["--default-region", "main"],
            ),
            "purge-interval-secs" => (
                vec![("purge-interval-secs", "7")],
                vec!["--purge-interval-secs", "7"],
            ),
            "rotation-check-secs" => (
                vec![("rotation-check-secs", "9")],
                vec!["--rotation-check-secs", "9"],
            ),
            "lease-secs" => (vec![("lease-secs", "20")], vec!["--lease-secs", "20"]),
            "console-session-secs" => (
                vec![("console-session-secs", "600")],
                vec!["--console-session-secs", "600"],
            ),
            "console-public-origin" => (
                vec![("console-public-origin", "\"https://secrets.example.com\"")],
                vec!["--console-public-origin", "https://secrets.example.com"],
            ),
            "node-name" => (vec![("node-name", "\"n1\"")], vec!["--node-name", "n1"]),
            "max-body-bytes" => (
                vec![("max-body-bytes", "4096")],
                vec!["--max-body-bytes", "4096"],
            ),
            "max-uri-bytes" => (
                vec![("max-uri-bytes", "2048")],
                vec!["--max-uri-bytes", "2048"],
            ),
            "max-headers" => (vec![("max-headers", "50")], vec!["--max-headers", "50"]),
            "audit-unauthenticated-per-sec" => (
                vec![("audit-unauthenticated-per-sec", "2.5")],
                vec!["--audit-unauthenticated-per-sec", "2.5"],
            ),
            "audit-unauthenticated-burst" => (
                vec![("audit-unauthenticated-burst", "3")],
                vec!["--audit-unauthenticated-burst", "3"],
            ),
            "max-secrets-per-region" => (
                vec![("max-secrets-per-region", "100")],
                vec!["--max-secrets-per-region", "100"],
            ),
            "limit" => (
                vec![(
                    "limit",
                    "{ \"tencent.rate.CreateSecret\" = \"5/s\", value-bytes = 100 }",
                )],
                vec![
                    "--limit",
                    "tencent.rate.CreateSecret=5/s",
                    "--limit",
                    "value-bytes=100",
                ],
            ),
            "replay-cache-entries" => (
                vec![("replay-cache-entries", "1000")],
                vec!["--replay-cache-entries", "1000"],
            ),
            "db-hosts-allowed" => (
                vec![("db-hosts-allowed", "\"10.0.0.0/8,db.internal\"")],
                vec!["--db-hosts-allowed", "10.0.0.0/8,db.internal"],
            ),
            "log" => (
                vec![("log", "\"coffer=debug\"")],
                vec!["--log", "coffer=debug"],
            ),
            "max-connections" => (
                vec![("max-connections", "300")],
                vec!["--max-connections", "300"],
            ),
            "max-connections-per-address" => (
                vec![("max-connections-per-address", "12")],
                vec!["--max-connections-per-address", "12"],
            ),
            "header-read-timeout-secs" => (
                vec![("header-read-timeout-secs", "0.5")],
                vec!["--header-read-timeout-secs", "0.5"],
            ),
            "idle-timeout-secs" => (
                vec![("idle-timeout-secs", "5")],
                vec!["--idle-timeout-secs", "5"],
            ),
            "body-read-timeout-secs" => (
                vec![("body-read-timeout-secs", "3")],
                vec!["--body-read-timeout-secs", "3"],
            ),
            "tls-cert" | "tls-key" => (
                vec![("tls-cert", "\"/c.pem\""), ("tls-key", "\"/k.pem\"")],
                vec!["--tls-cert", "/c.pem", "--tls-key", "/k.pem"],
            ),
            _ => return None,
        })
    }

    #[test]
    fn every_serve_flag_round_trips_as_a_key() {
        let cli = crate::config::Cli::command();
        let serve = cli
            .find_subcommand("serve")
            .unwrap_or_else(|| panic!("no serve"));
        let line = |extra: &[&str]| -> Vec<OsString> {
            ["coffer", "serve"]
                .iter()
                .chain(extra)
                .map(OsString::from)
                .collect()
        };
        let defaults = format!(
            "{:?}",
            parse_without_env(line(&[])).unwrap_or_else(|e| panic!("{e:#}"))
        );
        let mut tried = 0;
        for arg in serve.get_arguments() {
            let Some(long) = arg.get_long() else { continue };
            if long == FLAG || matches!(arg.get_action(), ArgAction::Help | ArgAction::Version) {
                continue;
            }
            // Switches and value enums need no table entry: `true`, and a possible value
            // other than the default.
            let owned;
            let (keys, flags): (Vec<(String, String)>, Vec<String>) =
                if matches!(arg.get_action(), ArgAction::SetTrue) {
                    (
                        vec![(long.to_string(), "true".to_string())],
                        vec![format!("--{long}")],
                    )
                } else if let Some((keys, flags)) = sample(long) {
                    (
                        keys.iter()
                            .map(|(k, v)| (k.to_string(), v.to_string()))
                            .collect(),
                        flags.iter().map(|f| f.to_string()).collect(),
                    )
                } else {
                    let default = arg
                        .get_default_values()
                        .first()
                        .and_then(|d| d.to_str())
                        .unwrap_or_default();
                    owned = arg
                        .get_possible_values()
                        .into_iter()
                        .map(|p| p.get_name().to_string())
                        .find(|p| p != default)
                        .unwrap_or_else(|| {
                            panic!("--{long}: add a sample value to `sample` in this test")
                        });
                    (
                        vec![(long.to_string(), format!("{owned:?}"))],
                        vec![format!("--{long}"), owned.clone()],
                    )
                };
            let text: String = keys.iter().map(|(k, v)| format!("{k} = {v}\n")).collect();
            let from_file = serve_args(Path::new("coffer.toml"), &text)
                .unwrap_or_else(|e| panic!("--{long} as a key: {e:#}\n{text}"));
            let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
            let from_flags =
                parse_without_env(line(&flags)).unwrap_or_else(|e| panic!("--{long}: {e:#}"));
            let (file, flag) = (format!("{from_file:?}"), format!("{from_flags:?}"));
            assert_eq!(file, flag, "--{long}: the key and the flag differ\n{text}");
            assert_ne!(file, defaults, "--{long}: the key changed nothing\n{text}");
            tried += 1;
        }
        assert!(tried >= 30, "only {tried} flags");
    }

    #[test]
    fn bad_values_name_the_key() {
        for (text, needle) in [
            ("listen = \"nowhere\"", "key \"listen\""),
            ("lease-secs = 0", "key \"lease-secs\""),
            ("limits = \"cheap\"", "key \"limits\""),
            ("max-uri-bytes = 70000", "key \"max-uri-bytes\""),
            ("tls-self-signed = \"maybe\"", "key \"tls-self-signed\""),
            (
                "header-read-timeout-secs = -1",
                "key \"header-read-timeout-secs\"",
            ),
        ] {
            let e = vars(text).expect_err(text);
            let e = format!("{e:#}");
            assert!(
                e.contains(needle) && e.contains("coffer.toml"),
                "{text}: {e}"
            );
        }
    }

    #[test]
    fn the_check_reads_the_file_alone() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let good = dir.path().join("good.toml");
        std::fs::write(
            &good,
            "listen = \"127.0.0.1:9000\"\ndatabase-url = \"postgres://u:Hunter2Password@db/c\"\nlimits = \"cloud\"\n",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let lines = check(&good).unwrap_or_else(|e| panic!("{e:#}"));
        assert!(lines[0].contains("3 key(s), all valid"), "{lines:?}");
        assert!(lines.iter().any(|l| l == "  listen = \"127.0.0.1:9000\""));
        // The database URL may carry a password.
        // (A word no temporary directory's random name can contain.)
        assert!(
            lines.iter().all(|l| !l.contains("Hunter2Password")),
            "{lines:?}"
        );
        for (text, needle) in [
            ("tls-cert = \"/c.pem\"", "--tls-key"),
            ("limit = [\"value-bytes=lots\"]", "key \"limit\""),
            ("region = [\"nonsense\"]", "key \"region\""),
            (
                "db-hosts-allowed = \"10.0.0.0/99\"",
                "key \"db-hosts-allowed\"",
            ),
        ] {
            let bad = dir.path().join("bad.toml");
            std::fs::write(&bad, text).unwrap_or_else(|e| panic!("{e}"));
            let e = format!("{:#}", check(&bad).expect_err(text));
            assert!(e.contains(needle), "{text}: {e}");
        }
    }

    #[test]
    fn the_file_is_found_after_serve_only() {
        assert_eq!(
            requested(&args(&["coffer", "serve", "--config", "a.toml"])),
            Some(PathBuf::from("a.toml"))
        );
        assert_eq!(
            requested(&args(&[
                "coffer",
                "serve",
                "--listen",
                "x",
                "--config=b.toml"
            ])),
            Some(PathBuf::from("b.toml"))
        );
        assert_eq!(
            requested(&args(&["coffer", "backup", "--config", "a.toml"])),
            None
        );
        // After `--` nothing is a flag.
        assert_ne!(
            requested(&args(&["coffer", "serve", "--", "--config", "x9.toml"])),
            Some(PathBuf::from("x9.toml"))
        );
    }

    #[test]
    fn keys_become_variables() {
        let v = vars(
            r#"
            listen = "127.0.0.1:9000"
            data_dir = "/srv/coffer"
            lease-secs = 20
            limits = "cloud"
            region = ["eu=eu-west-1,eu-central-1", "us=us-east-1"]
            [limit]
            "tencent.rate.CreateSecret" = "5/s"
            [limit.huawei]
            secrets-per-region = 3
            "#,
        )
        .unwrap_or_else(|e| panic!("{e:#}"));
        let get = |k: &str| v.iter().find(|(n, _)| n == k).map(|(_, x)| x.as_str());
        assert_eq!(get("COFFER_LISTEN"), Some("127.0.0.1:9000"));
        assert_eq!(get("COFFER_DATA_DIR"), Some("/srv/coffer"));
        assert_eq!(get("COFFER_LEASE_SECS"), Some("20"));
        assert_eq!(get("COFFER_LIMITS"), Some("cloud"));
        assert_eq!(
            get("COFFER_REGIONS"),
            Some("eu=eu-west-1,eu-central-1;us=us-east-1")
        );
        assert_eq!(
            get("COFFER_LIMIT"),
            Some("huawei.secrets-per-region=3,tencent.rate.CreateSecret=5/s")
        );
    }

    #[test]
    fn set_variables_are_left_alone() {
        let v = variables(
            Path::new("c.toml"),
            "listen = \"127.0.0.1:1\"\nlimits = \"cloud\"",
            |name| name == "COFFER_LISTEN",
        )
        .unwrap_or_else(|e| panic!("{e:#}"));
        assert_eq!(v, vec![("COFFER_LIMITS".to_string(), "cloud".to_string())]);
    }

    #[test]
    fn mistakes_name_the_key_and_the_file() {
        for (text, needle) in [
            ("lisen = \"x\"", "coffer.toml: unknown key \"lisen\""),
            ("config = \"other.toml\"", "unknown key \"config\""),
            ("listen = [\"a\", \"b\"]", "takes one value, not a list"),
            ("limits = { a = 1 }", "takes one value, not a table"),
            ("limit = [\"a=1,b=2\"]", "cannot contain ','"),
            ("limit = [[\"a\"]]", "cannot be nested"),
            ("listen = ", "not valid TOML"),
        ] {
            let e = vars(text).expect_err(text);
            assert!(format!("{e:#}").contains(needle), "{text}: {e:#}");
        }
    }
}
