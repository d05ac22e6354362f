//! Reading typed values out of YAML nodes while collecting diagnostics.

use crate::unit::file::{Node, Pos, Value};
use crate::unit::value::{self, did_you_mean};
use crate::unit::*;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Collects diagnostics and reads typed values out of nodes.
pub(super) struct Ctx<'a> {
    pub(super) path: &'a Path,
    pub(super) diags: Vec<Diagnostic>,
}

impl Ctx<'_> {
    pub(super) fn push(&mut self, pos: Pos, severity: Severity, message: String) {
        self.diags.push(Diagnostic {
            path: self.path.to_path_buf(),
            pos,
            severity,
            message,
        });
    }

    pub(super) fn error(&mut self, pos: Pos, message: impl Into<String>) {
        self.push(pos, Severity::Error, message.into());
    }

    pub(super) fn warn(&mut self, pos: Pos, message: impl Into<String>) {
        self.push(pos, Severity::Warning, message.into());
    }

    pub(super) fn expected<T>(&mut self, node: &Node, what: &str) -> Option<T> {
        self.error(
            node.pos,
            format!("expected {what}, found {}", node.value.kind()),
        );
        None
    }

    /// The unit's name as its file gives it.
    pub(super) fn unit_stem(&self) -> &str {
        self.path.file_stem().and_then(|s| s.to_str()).unwrap_or("")
    }

    /// A host path as written, relative ones taken from the unit file's directory.
    pub(super) fn resolve(&self, text: &str) -> PathBuf {
        match self.path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir.join(text),
            _ => PathBuf::from(text),
        }
    }

    /// A scalar as text. Integers are taken as their digits (`hostname: 1234`); other
    /// non-strings are refused so that `1.10` or `true` are not silently reformatted.
    pub(super) fn string(&mut self, node: &Node) -> Option<String> {
        match &node.value {
            Value::Str(s) => Some(s.clone()),
            Value::Int(i) => Some(i.to_string()),
            _ => self.expected(node, "a string"),
        }
    }

    /// Any scalar as text, for values Compose lets be numbers or booleans (environment, labels).
    pub(super) fn scalar_text(&mut self, node: &Node) -> Option<String> {
        match &node.value {
            Value::Str(s) => Some(s.clone()),
            Value::Int(i) => Some(i.to_string()),
            Value::Float(f) => Some(f.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            _ => self.expected(node, "a string"),
        }
    }

    pub(super) fn bool(&mut self, node: &Node) -> Option<bool> {
        match node.value {
            Value::Bool(b) => Some(b),
            _ => self.expected(node, "`true` or `false`"),
        }
    }

    pub(super) fn int<T: TryFrom<i64> + std::fmt::Display>(
        &mut self,
        node: &Node,
        min: T,
        max: T,
    ) -> Option<T>
    where
        i64: From<T>,
    {
        let (lo, hi) = (i64::from(min), i64::from(max));
        match node.value {
            Value::Int(i) if (lo..=hi).contains(&i) => T::try_from(i).ok(),
            Value::Int(i) => {
                self.error(node.pos, format!("{i} is out of range ({lo} to {hi})"));
                None
            }
            _ => self.expected(node, "a whole number"),
        }
    }

    /// A string value run through one of the parsers of [`value`].
    pub(super) fn parse<T>(
        &mut self,
        node: &Node,
        parser: impl Fn(&str) -> Result<T, String>,
    ) -> Option<T> {
        let text = self.string(node)?;
        parser(&text).map_err(|msg| self.error(node.pos, msg)).ok()
    }

    /// A size: a number of bytes, or a string such as `256m`.
    pub(super) fn size(&mut self, node: &Node) -> Option<u64> {
        match node.value {
            Value::Int(i) if i >= 0 => Some(i as u64),
            Value::Int(_) => {
                self.error(node.pos, "a size cannot be negative");
                None
            }
            _ => self.parse(node, value::parse_size),
        }
    }

    pub(super) fn duration(&mut self, node: &Node) -> Option<Duration> {
        match node.value {
            Value::Int(i) => {
                self.error(
                    node.pos,
                    format!("`{i}` is not a duration: it has no unit (write `{i}s` for seconds)"),
                );
                None
            }
            _ => self.parse(node, value::parse_duration),
        }
    }

    pub(super) fn list<'n>(&mut self, node: &'n Node) -> Option<&'n [Node]> {
        match &node.value {
            Value::Seq(items) => Some(items),
            _ => self.expected(node, "a list"),
        }
    }

    /// A value Compose allows as one string or a list of strings.
    pub(super) fn one_or_many<'n>(&mut self, node: &'n Node) -> Vec<&'n Node> {
        match &node.value {
            Value::Seq(items) => items.iter().collect(),
            Value::Str(_) => vec![node],
            _ => {
                self.expected::<()>(node, "a string or a list");
                Vec::new()
            }
        }
    }

    /// The entries of a mapping whose keys must come from `known`; reports unknown and repeated
    /// keys and returns the others in file order.
    pub(super) fn fields<'n>(
        &mut self,
        node: &'n Node,
        what: &str,
        known: &[&str],
    ) -> Vec<(&'n str, &'n Node)> {
        self.map_entries(node, what)
            .into_iter()
            .filter(|(key, key_pos, _)| {
                if known.contains(key) {
                    return true;
                }
                let hint = did_you_mean(key, known.iter().copied());
                self.error(*key_pos, format!("unknown key `{key}` in {what}{hint}"));
                false
            })
            .map(|(key, _, value)| (key, value))
            .collect()
    }

    /// The entries of a mapping with string keys, each key once.
    pub(super) fn map_entries<'n>(
        &mut self,
        node: &'n Node,
        what: &str,
    ) -> Vec<(&'n str, Pos, &'n Node)> {
        let Value::Map(entries) = &node.value else {
            self.expected::<()>(node, &format!("a mapping for {what}"));
            return Vec::new();
        };
        let mut seen: BTreeMap<&str, Pos> = BTreeMap::new();
        let mut out = Vec::new();
        for (key, value) in entries {
            let Value::Str(name) = &key.value else {
                self.error(
                    key.pos,
                    format!("keys in {what} must be strings, found {}", key.value.kind()),
                );
                continue;
            };
            if let Some(first) = seen.get(name.as_str()) {
                self.error(
                    key.pos,
                    format!("duplicate key `{name}` (first given at {first})"),
                );
                continue;
            }
            seen.insert(name, key.pos);
            out.push((name.as_str(), key.pos, value));
        }
        out
    }

    /// One of a fixed set of words; suggests the closest when it is none of them.
    pub(super) fn choice<T: Copy>(&mut self, node: &Node, choices: &[(&str, T)]) -> Option<T> {
        let text = self.string(node)?;
        if let Some((_, v)) = choices.iter().find(|(word, _)| *word == text) {
            return Some(*v);
        }
        let words: Vec<&str> = choices.iter().map(|(w, _)| *w).collect();
        let hint = did_you_mean(&text, words.iter().copied());
        self.error(
            node.pos,
            format!("`{text}` is not one of {}{hint}", quote_list(&words)),
        );
        None
    }

    /// A path that must be absolute (a path inside the service).
    pub(super) fn absolute_path(&mut self, node: &Node, what: &str) -> Option<PathBuf> {
        let text = self.string(node)?;
        if text.starts_with('/') {
            Some(PathBuf::from(text))
        } else {
            self.error(
                node.pos,
                format!("{what} `{text}` must be an absolute path"),
            );
            None
        }
    }

    /// A host path, relative ones taken from the unit file's directory.
    pub(super) fn host_path(&mut self, node: &Node) -> Option<PathBuf> {
        let text = self.string(node)?;
        if text.is_empty() {
            self.error(node.pos, "the path is empty");
            return None;
        }
        Some(self.resolve(&text))
    }

    /// A host file that svcd reads itself; it must exist.
    pub(super) fn existing_file(&mut self, node: &Node, what: &str) -> Option<PathBuf> {
        let path = self.host_path(node)?;
        if path.is_file() {
            Some(path)
        } else {
            self.error(
                node.pos,
                format!(
                    "{what} `{}` does not exist or is not a file",
                    path.display()
                ),
            );
            None
        }
    }
}

pub(super) fn quote_list(words: &[&str]) -> String {
    let quoted: Vec<String> = words.iter().map(|w| format!("`{w}`")).collect();
    match quoted.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
        _ => quoted.concat(),
    }
}
