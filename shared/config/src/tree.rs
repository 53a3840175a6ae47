//! Helpers over `serde_json::Value` trees: merging layers, assigning dotted paths,
//! remembering where each key came from, finding unknown keys and leaves.

use serde_json::{Map, Value};

use crate::error::Problem;

/// Where each key of the merged tree was set: (dotted path, origin) in layer order.
#[derive(Debug, Default)]
pub(crate) struct Origins(Vec<(String, String)>);

impl Origins {
    fn record(&mut self, path: &[String], origin: &str) {
        self.0.push((path.join("."), origin.to_owned()));
    }

    /// Every origin that set `key` or something below it, without repeats.
    pub(crate) fn of(&self, key: &str) -> Vec<&str> {
        let below = format!("{key}.");
        let mut found: Vec<&str> = Vec::new();
        for (path, origin) in &self.0 {
            if (path == key || path.starts_with(&below)) && !found.contains(&origin.as_str()) {
                found.push(origin);
            }
        }
        found
    }
}

/// The problem for a key that the configuration does not have.
pub(crate) fn unknown_key(key: &str, origins: &[&str]) -> Problem {
    if origins.is_empty() {
        Problem::new(key, "unknown key")
    } else {
        Problem::new(key, format!("unknown key (from {})", origins.join(", ")))
    }
}

/// Deep-merges `overlay` (a parsed file) into `base`, recording `origin` for every key.
pub(crate) fn merge_file(base: &mut Value, overlay: Value, origin: &str, origins: &mut Origins) {
    record_all(&overlay, &mut Vec::new(), origin, origins);
    merge(base, overlay);
}

fn record_all(value: &Value, path: &mut Vec<String>, origin: &str, origins: &mut Origins) {
    if let Value::Object(map) = value {
        for (key, child) in map {
            path.push(key.clone());
            origins.record(path, origin);
            record_all(child, path, origin, origins);
            path.pop();
        }
    }
}

fn merge(base: &mut Value, overlay: Value) {
    match (base, overlay) {
        (Value::Object(base), Value::Object(overlay)) => {
            for (key, value) in overlay {
                match base.get_mut(&key) {
                    // `bus:` with every key commented out parses as null: keep the section.
                    Some(existing) if existing.is_object() && value.is_null() => {}
                    Some(existing) => merge(existing, value),
                    None => {
                        base.insert(key, value);
                    }
                }
            }
        }
        (base, overlay) => *base = overlay,
    }
}

/// Sets the string `raw` at `path`, converting it to the type of the value already there
/// (see [`coerce`]); `reference` (the layer-free base) tells which values are optional. Missing sections are created (and later reported as unknown keys);
/// a path that goes through a plain value is reported as an unknown key right away.
pub(crate) fn assign(
    tree: &mut Value,
    reference: &Value,
    path: &[String],
    raw: &str,
    origin: &str,
    origins: &mut Origins,
) -> Result<(), Problem> {
    let Some((last, parents)) = path.split_last() else {
        return Err(Problem::new("", format!("empty key (from {origin})")));
    };
    let mut node = tree;
    for (depth, segment) in parents.iter().enumerate() {
        let Value::Object(map) = node else {
            return Err(unknown_key(&path[..=depth].join("."), &[origin]));
        };
        node = map
            .entry(segment.clone())
            .or_insert_with(|| Value::Object(Map::new()));
    }
    let Value::Object(map) = node else {
        return Err(unknown_key(&path.join("."), &[origin]));
    };
    let optional = get(reference, path).is_some_and(Value::is_null);
    let value = coerce(map.get(last), optional, raw);
    map.insert(last.clone(), value);
    for depth in 1..=path.len() {
        origins.record(&path[..depth], origin);
    }
    Ok(())
}

/// Turns an environment or `--set` string into a value shaped like `existing`:
/// numbers and booleans are parsed as YAML scalars, lists as a YAML flow sequence
/// (`[A, B]`) or a comma-separated list (`A,B`), an empty string clears an `optional`
/// value (null by default), and anything else stays a string. Unparsable input stays a string so
/// deserialization reports it against its key.
fn coerce(existing: Option<&Value>, optional: bool, raw: &str) -> Value {
    if optional && raw.trim().is_empty() {
        return Value::Null;
    }
    match existing {
        Some(Value::Number(_) | Value::Bool(_)) => {
            parse_yaml(raw).unwrap_or_else(|| Value::String(raw.to_owned()))
        }
        Some(Value::Array(_)) => {
            let trimmed = raw.trim();
            if trimmed.starts_with('[') {
                match parse_yaml(trimmed) {
                    Some(list @ Value::Array(_)) => list,
                    _ => Value::String(raw.to_owned()),
                }
            } else {
                Value::Array(
                    trimmed
                        .split(',')
                        .map(str::trim)
                        .filter(|item| !item.is_empty())
                        .map(|item| Value::String(item.to_owned()))
                        .collect(),
                )
            }
        }
        _ => Value::String(raw.to_owned()),
    }
}

fn parse_yaml(raw: &str) -> Option<Value> {
    serde_norway::from_str::<Value>(raw).ok()
}

/// Walks `tree` against `reference` and removes every key `reference` lacks, returning
/// their dotted paths. An empty object in `reference` is a free-form map and keeps all.
pub(crate) fn remove_unknown(reference: &Value, tree: &mut Value) -> Vec<String> {
    let mut found = Vec::new();
    remove_unknown_at(reference, tree, &mut Vec::new(), &mut found);
    found
}

fn remove_unknown_at(
    reference: &Value,
    tree: &mut Value,
    path: &mut Vec<String>,
    found: &mut Vec<String>,
) {
    let (Value::Object(reference), Value::Object(tree)) = (reference, tree) else {
        return;
    };
    if reference.is_empty() {
        return;
    }
    tree.retain(|key, _| {
        let known = reference.contains_key(key);
        if !known {
            path.push(key.clone());
            found.push(path.join("."));
            path.pop();
        }
        known
    });
    for (key, child) in tree.iter_mut() {
        if let Some(reference_child) = reference.get(key) {
            path.push(key.clone());
            remove_unknown_at(reference_child, child, path, found);
            path.pop();
        }
    }
}

/// Paths of the leaves of `tree` (walking the sections of `reference`) whose value
/// differs from `reference`. `tree` must have no unknown keys.
pub(crate) fn changed_leaves(reference: &Value, tree: &Value) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    changed_leaves_at(reference, tree, &mut Vec::new(), &mut out);
    out
}

fn changed_leaves_at(
    reference: &Value,
    tree: &Value,
    path: &mut Vec<String>,
    out: &mut Vec<Vec<String>>,
) {
    if reference == tree {
        return;
    }
    match (reference, tree) {
        (Value::Object(reference), Value::Object(tree)) if !reference.is_empty() => {
            for (key, child) in tree {
                if let Some(reference_child) = reference.get(key) {
                    path.push(key.clone());
                    changed_leaves_at(reference_child, child, path, out);
                    path.pop();
                }
            }
        }
        _ => out.push(path.clone()),
    }
}

/// The value at `path`.
pub(crate) fn get<'a>(tree: &'a Value, path: &[String]) -> Option<&'a Value> {
    path.iter()
        .try_fold(tree, |node, segment| node.as_object()?.get(segment))
}

/// Replaces the value at `path` if its parent exists.
pub(crate) fn replace(tree: &mut Value, path: &[String], value: Value) {
    let Some((last, parents)) = path.split_last() else {
        *tree = value;
        return;
    };
    let parent = parents
        .iter()
        .try_fold(tree, |node, segment| node.as_object_mut()?.get_mut(segment));
    if let Some(Value::Object(map)) = parent {
        map.insert(last.clone(), value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;
    use serde_json::json;

    #[rstest]
    #[case(json!(5), "7", json!(7))]
    #[case(json!(0.5), "0.75", json!(0.75))]
    #[case(json!(true), "false", json!(false))]
    #[case(json!(5), "lots", json!("lots"))]
    #[case(json!(["A"]), "[B, C]", json!(["B", "C"]))]
    #[case(json!(["A"]), "B, C,", json!(["B", "C"]))]
    #[case(json!(["A"]), "", json!([]))]
    #[case(json!(["A"]), "[B", json!("[B"))]
    #[case(json!("3.0"), "4", json!("4"))]
    #[case(json!("info"), "", json!(""))]
    fn coerces_like_the_existing_value(
        #[case] existing: Value,
        #[case] raw: &str,
        #[case] expected: Value,
    ) {
        assert_eq!(coerce(Some(&existing), false, raw), expected);
    }

    #[rstest]
    #[case(Some(json!(null)), "redis://x", json!("redis://x"))]
    #[case(Some(json!(null)), "", json!(null))]
    #[case(Some(json!("redis://file")), " ", json!(null))]
    #[case(None, "", json!(null))]
    fn empty_clears_optional_values(
        #[case] existing: Option<Value>,
        #[case] raw: &str,
        #[case] expected: Value,
    ) {
        assert_eq!(coerce(existing.as_ref(), true, raw), expected);
    }

    #[test]
    fn merge_keeps_sections_overridden_by_null() {
        let mut base = json!({"bus": {"redis_url": null, "buffer_dir": "x"}, "a": 1});
        let mut origins = Origins::default();
        merge_file(
            &mut base,
            json!({"bus": null, "a": 2, "new": {"k": 1}}),
            "f.yaml",
            &mut origins,
        );
        assert_eq!(
            base,
            json!({"bus": {"redis_url": null, "buffer_dir": "x"}, "a": 2, "new": {"k": 1}})
        );
        assert_eq!(origins.of("new"), vec!["f.yaml"]);
    }

    #[test]
    fn unknown_keys_are_removed_and_listed() {
        let reference = json!({"a": {"b": 1}, "free": {}});
        let mut tree = json!({"a": {"b": 2, "c": 3}, "free": {"x": 1}, "d": {"e": 1}});
        let found = remove_unknown(&reference, &mut tree);
        assert_eq!(found, vec!["d".to_owned(), "a.c".to_owned()]);
        assert_eq!(tree, json!({"a": {"b": 2}, "free": {"x": 1}}));
    }
}
