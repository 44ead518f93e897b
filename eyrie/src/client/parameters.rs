//! A deployment's parameters on the command line: `--param KEY=VALUE`, `--param KEY-` and
//! `--params-file FILE`, merged into the map the deployment already has.

use std::{collections::HashMap, path::Path};

use super::error::CliError;

/// One `--param` flag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Edit {
    /// `KEY=VALUE`: set the key (the value may itself contain `=`).
    Set(String, String),
    /// `KEY-`: remove the key.
    Remove(String),
}

/// Clap value parser of `--param`: `KEY=VALUE` or `KEY-`.
pub fn edit(input: &str) -> Result<Edit, String> {
    // The first `=` ends the key, so `a=b-` sets `a` to `b-` rather than removing anything.
    if let Some((key, value)) = input.split_once('=') {
        return Ok(Edit::Set(key_of(key)?, value.to_owned()));
    }
    if let Some(key) = input.strip_suffix('-') {
        return Ok(Edit::Remove(key_of(key)?));
    }
    Err("--param expects KEY=VALUE to set a parameter or KEY- to remove one".to_owned())
}

fn key_of(key: &str) -> Result<String, String> {
    if key.is_empty() {
        return Err("--param needs a key before `=` or `-`".to_owned());
    }
    Ok(key.to_owned())
}

/// Reads a `--params-file`: a YAML or JSON map of strings (JSON when the name ends in `.json`).
pub fn read_file(path: &Path) -> Result<HashMap<String, String>, CliError> {
    let text = std::fs::read_to_string(path).map_err(|err| {
        CliError::Usage(format!(
            "--params-file: cannot read {}: {err}",
            path.display()
        ))
    })?;
    let is_json = path
        .extension()
        .is_some_and(|ext| ext.eq_ignore_ascii_case("json"));
    let parsed = if is_json {
        serde_json::from_str(&text).map_err(|err| err.to_string())
    } else {
        serde_saphyr::from_str(&text).map_err(|err| err.to_string())
    };
    parsed.map_err(|err| {
        CliError::Usage(format!(
            "--params-file: {} is not a map of strings: {err}",
            path.display()
        ))
    })
}

/// The parameters after the file's entries and then the flags' edits, in that order (a flag
/// wins over the file).
pub fn merge(
    mut parameters: HashMap<String, String>,
    file: Option<HashMap<String, String>>,
    edits: &[Edit],
) -> HashMap<String, String> {
    parameters.extend(file.unwrap_or_default());
    for edit in edits {
        match edit {
            Edit::Set(key, value) => {
                parameters.insert(key.clone(), value.clone());
            }
            Edit::Remove(key) => {
                parameters.remove(key);
            }
        }
    }
    parameters
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn set_and_remove_flags_parse_and_a_value_may_hold_equals_signs() {
        assert_eq!(
            edit("host=a").unwrap(),
            Edit::Set("host".into(), "a".into())
        );
        assert_eq!(
            edit("url=postgres://u@h/db?sslmode=require").unwrap(),
            Edit::Set("url".into(), "postgres://u@h/db?sslmode=require".into())
        );
        assert_eq!(
            edit("empty=").unwrap(),
            Edit::Set("empty".into(), String::new())
        );
        assert_eq!(edit("a=b-").unwrap(), Edit::Set("a".into(), "b-".into()));
        assert_eq!(edit("host-").unwrap(), Edit::Remove("host".into()));
        assert_eq!(edit("db-host-").unwrap(), Edit::Remove("db-host".into()));
    }

    #[test]
    fn an_empty_key_or_no_operator_is_refused_naming_the_flag() {
        for input in ["=value", "-", "=", "host", ""] {
            let message = edit(input).unwrap_err();
            assert!(message.starts_with("--param "), "{input:?}: {message}");
        }
    }

    #[test]
    fn the_file_then_the_flags_apply_over_the_current_parameters() {
        let current = map(&[("a", "1"), ("b", "2"), ("c", "3")]);
        let file = map(&[("b", "file"), ("d", "file")]);
        let edits = [
            Edit::Set("d".into(), "flag".into()),
            Edit::Remove("c".into()),
            Edit::Remove("missing".into()),
        ];
        assert_eq!(
            merge(current, Some(file), &edits),
            map(&[("a", "1"), ("b", "file"), ("d", "flag")])
        );
    }

    #[test]
    fn a_params_file_is_read_as_yaml_or_json() {
        let dir = std::env::temp_dir().join(format!("eyrie-params-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let yaml = dir.join("params.yaml");
        std::fs::write(&yaml, "host: db.internal\nurl: \"a=b\"\n").unwrap();
        assert_eq!(
            read_file(&yaml).unwrap(),
            map(&[("host", "db.internal"), ("url", "a=b")])
        );
        let json = dir.join("params.json");
        std::fs::write(&json, r#"{"host": "db.internal"}"#).unwrap();
        assert_eq!(read_file(&json).unwrap(), map(&[("host", "db.internal")]));
        let list = dir.join("list.yaml");
        std::fs::write(&list, "- a\n- b\n").unwrap();
        let CliError::Usage(message) = read_file(&list).unwrap_err() else {
            panic!("not a usage error");
        };
        assert!(message.contains("is not a map of strings"), "{message}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
