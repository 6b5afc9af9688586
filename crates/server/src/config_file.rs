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
//! `[limit.tencent.rate]` then `CreateSecret = "5/s"`). A key that is no flag of serve is an
//! error naming the key and the file.

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
        if is_set(variable) {
            continue;
        }
        let text =
            flag_value(arg, value).with_context(|| format!("{}: key {key:?}", path.display()))?;
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
