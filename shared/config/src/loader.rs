use std::fmt;
use std::path::PathBuf;

use serde_json::{Map, Value};

use crate::error::{ConfigError, Problem};
use crate::model::Config;
use crate::profile::LaunchProfile;
use crate::tree::{self, Origins};

/// Prefix of the environment variables the loader reads: `LEVIBOT__STORE__DATABASE_URL`
/// sets `store.database_url` (the rest of the name is split on `__` and lowercased).
pub const ENV_PREFIX: &str = "LEVIBOT__";

/// Builds a [`Config`] from layers, later layers winning:
///
/// 1. the embedded defaults ([`Config::default`]),
/// 2. the risk preset of the launch profile (the `profile` key as set by the layers below),
/// 3. a YAML file,
/// 4. `LEVIBOT__*` environment variables,
/// 5. `--set key=value` overrides,
///
/// then [`Config::validate`]. Unknown keys, values of the wrong type and failed checks are
/// all collected into one [`ConfigError::Invalid`].
///
/// Environment and `--set` values are strings: where the default is a number or boolean
/// they are parsed as YAML scalars, where it is a list they may be a flow sequence
/// (`[BTCUSDT, ETHUSDT]`) or a comma-separated list (`BTCUSDT,ETHUSDT`), and an empty
/// string unsets an optional value such as `bus.redis_url`.
#[derive(Clone, Default)]
pub struct ConfigLoader {
    file: Option<PathBuf>,
    env: Vec<(String, String)>,
    overrides: Vec<(String, String)>,
    pending: Vec<Problem>,
}

impl fmt::Debug for ConfigLoader {
    /// Shows variable and key names only: their values may be secrets.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let env: Vec<&str> = self.env.iter().map(|(name, _)| name.as_str()).collect();
        let overrides: Vec<&str> = self.overrides.iter().map(|(key, _)| key.as_str()).collect();
        f.debug_struct("ConfigLoader")
            .field("file", &self.file)
            .field("env", &env)
            .field("overrides", &overrides)
            .finish_non_exhaustive()
    }
}

/// One environment variable or `--set` override, parsed.
struct Assignment<'a> {
    path: Vec<String>,
    value: &'a str,
    origin: String,
}

impl ConfigLoader {
    /// A loader with no file, no environment and no overrides: [`load`](Self::load) gives
    /// the defaults.
    pub fn new() -> Self {
        Self::default()
    }

    /// Reads this YAML file on top of the defaults. A missing file is an error.
    #[must_use]
    pub fn file(mut self, path: impl Into<PathBuf>) -> Self {
        self.file = Some(path.into());
        self
    }

    /// Reads the `LEVIBOT__*` variables of this process.
    #[must_use]
    pub fn env_from_process(mut self) -> Self {
        let mut vars = Vec::new();
        for (name, value) in std::env::vars_os() {
            let Some(name) = name.to_str().filter(|name| name.starts_with(ENV_PREFIX)) else {
                continue;
            };
            match value.into_string() {
                Ok(value) => vars.push((name.to_owned(), value)),
                Err(_) => self.pending.push(Problem::new(
                    env_key(name),
                    format!("value is not valid utf-8 (from {name})"),
                )),
            }
        }
        vars.sort();
        self.env(vars)
    }

    /// Uses these variables as the environment layer (for tests). Names without the
    /// [`ENV_PREFIX`] are ignored.
    #[must_use]
    pub fn env<I: IntoIterator<Item = (String, String)>>(mut self, vars: I) -> Self {
        self.env.extend(vars);
        self
    }

    /// Overrides one dotted key, as `--set bus.redis_url=redis://cache:6379` does.
    #[must_use]
    pub fn set(mut self, dotted_key: &str, value: &str) -> Self {
        self.overrides
            .push((dotted_key.trim().to_owned(), value.to_owned()));
        self
    }

    /// Overrides one key from a raw `key=value` command-line argument; an argument
    /// without `=` is reported by [`load`](Self::load).
    #[must_use]
    pub fn set_arg(mut self, arg: &str) -> Self {
        match arg.split_once('=') {
            Some((key, value)) => self.set(key, value),
            None => {
                self.pending.push(Problem::new(
                    arg.trim(),
                    format!("expected key=value (from --set {arg})"),
                ));
                self
            }
        }
    }

    /// Merges the layers, checks for unknown keys and wrong types, deserializes and
    /// validates. Every problem found is reported at once.
    pub fn load(&self) -> Result<Config, ConfigError> {
        let mut problems = self.pending.clone();

        let defaults = to_tree(&Config::default())?;
        let file = self.read_file()?;
        let assignments = self.assignments(&mut problems);

        // First pass: only to learn which profile the layers ask for.
        let profile = {
            let (merged, _, _) = layer(defaults.clone(), file.as_ref(), &assignments);
            merged
                .get("profile")
                .and_then(Value::as_str)
                .and_then(|name| name.parse::<LaunchProfile>().ok())
                .unwrap_or_default()
        };

        // Second pass: the profile's preset under the file, env and overrides.
        let mut base = defaults;
        tree::replace(
            &mut base,
            &["risk".to_owned()],
            to_tree(&profile.risk_preset())?,
        );
        tree::replace(
            &mut base,
            &["profile".to_owned()],
            Value::String(profile.as_str().to_owned()),
        );
        let (mut merged, origins, layer_problems) =
            layer(base.clone(), file.as_ref(), &assignments);
        problems.extend(layer_problems);

        let mut unknown = tree::remove_unknown(&base, &mut merged);
        unknown.sort();
        problems.extend(
            unknown
                .iter()
                .map(|key| tree::unknown_key(key, &origins.of(key))),
        );

        let config = deserialize(&base, merged, &mut problems).map(|mut config| {
            normalize(&mut config);
            problems.extend(config.problems());
            config
        });
        match config {
            Some(config) if problems.is_empty() => Ok(config),
            Some(_) => Err(ConfigError::Invalid(problems)),
            None => {
                problems.push(Problem::new("", "configuration could not be deserialized"));
                Err(ConfigError::Invalid(problems))
            }
        }
    }

    /// The file as a tree and its origin label; an empty file is an empty mapping.
    fn read_file(&self) -> Result<Option<(Value, String)>, ConfigError> {
        let Some(path) = &self.file else {
            return Ok(None);
        };
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
            path: path.clone(),
            source,
        })?;
        let value: Value = serde_norway::from_str(&text).map_err(|err| ConfigError::Yaml {
            path: path.clone(),
            message: err.to_string(),
        })?;
        let value = match value {
            Value::Null => Value::Object(Map::new()),
            Value::Object(_) => value,
            _ => {
                return Err(ConfigError::Yaml {
                    path: path.clone(),
                    message: "the top level must be a mapping of sections".to_owned(),
                });
            }
        };
        Ok(Some((value, path.display().to_string())))
    }

    /// Environment variables, then `--set` overrides, as paths to assign in order.
    fn assignments(&self, problems: &mut Vec<Problem>) -> Vec<Assignment<'_>> {
        let mut out = Vec::new();
        for (name, value) in &self.env {
            let Some(rest) = name.strip_prefix(ENV_PREFIX) else {
                continue;
            };
            let path: Vec<String> = rest.split("__").map(str::to_lowercase).collect();
            if path.iter().any(String::is_empty) {
                problems.push(Problem::new(
                    env_key(name),
                    format!("malformed variable name {name}: expected {ENV_PREFIX}SECTION__KEY"),
                ));
                continue;
            }
            out.push(Assignment {
                path,
                value,
                origin: name.clone(),
            });
        }
        for (key, value) in &self.overrides {
            let path: Vec<String> = key.split('.').map(|s| s.trim().to_owned()).collect();
            if path.iter().any(String::is_empty) {
                problems.push(Problem::new(
                    key.clone(),
                    format!("malformed key: expected dotted path like risk.max_positions (from --set {key})"),
                ));
                continue;
            }
            out.push(Assignment {
                path,
                value,
                origin: format!("--set {key}"),
            });
        }
        out
    }
}

/// The dotted key an environment variable name maps to.
fn env_key(name: &str) -> String {
    name.strip_prefix(ENV_PREFIX)
        .unwrap_or(name)
        .split("__")
        .map(str::to_lowercase)
        .collect::<Vec<_>>()
        .join(".")
}

fn to_tree<T: serde::Serialize>(value: &T) -> Result<Value, ConfigError> {
    serde_json::to_value(value).map_err(|err| {
        ConfigError::Invalid(vec![Problem::new(
            "",
            format!("cannot serialize the defaults: {err}"),
        )])
    })
}

/// Applies the file, then the assignments, over `base`.
fn layer(
    mut base: Value,
    file: Option<&(Value, String)>,
    assignments: &[Assignment<'_>],
) -> (Value, Origins, Vec<Problem>) {
    let mut origins = Origins::default();
    let mut problems = Vec::new();
    let reference = base.clone();
    if let Some((overlay, origin)) = file {
        tree::merge_file(&mut base, overlay.clone(), origin, &mut origins);
    }
    for assignment in assignments {
        if let Err(problem) = tree::assign(
            &mut base,
            &reference,
            &assignment.path,
            assignment.value,
            &assignment.origin,
            &mut origins,
        ) {
            problems.push(problem);
        }
    }
    (base, origins, problems)
}

/// Deserializes `merged` (already stripped of unknown keys). On failure, finds each leaf
/// that does not deserialize on its own, reports it under its dotted key and puts the
/// `base` value back, so the rest can still be validated.
fn deserialize(base: &Value, mut merged: Value, problems: &mut Vec<Problem>) -> Option<Config> {
    if let Ok(config) = serde_json::from_value::<Config>(merged.clone()) {
        return Some(config);
    }
    for path in tree::changed_leaves(base, &merged) {
        let Some(value) = tree::get(&merged, &path).cloned() else {
            continue;
        };
        let mut candidate = base.clone();
        tree::replace(&mut candidate, &path, value);
        if let Err(err) = serde_json::from_value::<Config>(candidate) {
            problems.push(Problem::new(path.join("."), err.to_string()));
            if let Some(original) = tree::get(base, &path).cloned() {
                tree::replace(&mut merged, &path, original);
            }
        }
    }
    serde_json::from_value::<Config>(merged).ok()
}

/// Canonical forms: symbols upper case.
fn normalize(config: &mut Config) {
    for symbol in &mut config.risk.symbols {
        *symbol = symbol.to_ascii_uppercase();
    }
}
