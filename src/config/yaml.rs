//! A YAML document as a tree of located nodes, so that the schema reader can check every value
//! and report every problem with its line and column, instead of stopping at the first one as
//! a serde derive does.
//!
//! serde-saphyr parses (pure Rust, duplicate keys rejected, YAML 1.2 booleans only: `yes` and
//! `on` stay strings, numbers with leading zeros stay strings) and gives each node its location;
//! each scalar also keeps its source text, so an unquoted account ID keeps its leading zeros.

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::Spanned;

/// A position in the file, 1-based.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Position {
    /// The line.
    pub line: u64,
    /// The column (in characters).
    pub column: u64,
}

/// A located YAML node.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Node {
    pub value: Value,
    pub at: Position,
    /// A scalar's text as written (without quotes), when the parser could locate it.
    pub raw: Option<String>,
}

/// A YAML value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    Null,
    Bool(bool),
    Int(i128),
    Float(f64),
    String(String),
    Seq(Vec<Node>),
    Map(Vec<(Node, Node)>),
}

impl Value {
    /// What the value is, for messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Value::Null => "nothing",
            Value::Bool(_) => "a boolean",
            Value::Int(_) => "a number",
            Value::Float(_) => "a number",
            Value::String(_) => "a string",
            Value::Seq(_) => "a list",
            Value::Map(_) => "a mapping",
        }
    }
}

/// A YAML syntax error: the document could not be read at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    /// Where, when known.
    pub at: Option<Position>,
    /// What.
    pub message: String,
}

/// Parses a document into a located tree.
pub(crate) fn parse(source: &str) -> Result<Node, SyntaxError> {
    let options = serde_saphyr::options! {
        strict_booleans: true,
        leading_zero_numbers_as_strings: true,
    };
    let root: Spanned<RawValue> =
        serde_saphyr::from_str_with_options(source, options).map_err(|error| {
            let at = error.location().map(|location| Position {
                line: location.line(),
                column: location.column(),
            });
            let message = error.without_snippet().to_string();
            // serde-saphyr's own text may end with its location; ours is printed separately.
            let message = message.split(" at line ").next().unwrap_or(&message);
            // Its advice on duplicate keys is meant for programmers, not for this file's readers.
            let message = message
                .split(", set DuplicateKeyPolicy")
                .next()
                .unwrap_or(message)
                .trim()
                .to_owned();
            SyntaxError { at, message }
        })?;
    Ok(convert(root, source))
}

fn convert(spanned: Spanned<RawValue>, source: &str) -> Node {
    let location = spanned.referenced;
    let at = Position {
        line: location.line(),
        column: location.column(),
    };
    let span = location.span();
    let text = span
        .byte_offset()
        .zip(span.byte_len())
        .and_then(|(start, len)| source.get(start as usize..(start + len) as usize));
    let value = match spanned.value {
        RawValue::Null => Value::Null,
        RawValue::Bool(value) => Value::Bool(value),
        RawValue::Int(value) => Value::Int(value),
        RawValue::Float(value) => Value::Float(value),
        RawValue::String(value) => Value::String(value),
        RawValue::Seq(items) => Value::Seq(
            items
                .into_iter()
                .map(|item| convert(item, source))
                .collect(),
        ),
        RawValue::Map(entries) => Value::Map(
            entries
                .into_iter()
                .map(|(key, value)| (convert(key, source), convert(value, source)))
                .collect(),
        ),
    };
    let raw = match &value {
        Value::Seq(_) | Value::Map(_) => None,
        _ => text.map(|text| text.trim().trim_matches(['"', '\'']).to_owned()),
    };
    Node { value, at, raw }
}

/// The tree as serde hands it over, before locations are turned into [`Position`]s.
enum RawValue {
    Null,
    Bool(bool),
    Int(i128),
    Float(f64),
    String(String),
    Seq(Vec<Spanned<RawValue>>),
    Map(Vec<(Spanned<RawValue>, Spanned<RawValue>)>),
}

impl<'de> Deserialize<'de> for RawValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(RawVisitor)
    }
}

struct RawVisitor;

impl<'de> Visitor<'de> for RawVisitor {
    type Value = RawValue;

    fn expecting(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("any YAML value")
    }

    fn visit_bool<E: de::Error>(self, value: bool) -> Result<RawValue, E> {
        Ok(RawValue::Bool(value))
    }

    fn visit_i64<E: de::Error>(self, value: i64) -> Result<RawValue, E> {
        Ok(RawValue::Int(value.into()))
    }

    fn visit_u64<E: de::Error>(self, value: u64) -> Result<RawValue, E> {
        Ok(RawValue::Int(value.into()))
    }

    fn visit_i128<E: de::Error>(self, value: i128) -> Result<RawValue, E> {
        Ok(RawValue::Int(value))
    }

    fn visit_f64<E: de::Error>(self, value: f64) -> Result<RawValue, E> {
        Ok(RawValue::Float(value))
    }

    fn visit_str<E: de::Error>(self, value: &str) -> Result<RawValue, E> {
        Ok(RawValue::String(value.to_owned()))
    }

    fn visit_string<E: de::Error>(self, value: String) -> Result<RawValue, E> {
        Ok(RawValue::String(value))
    }

    fn visit_unit<E: de::Error>(self) -> Result<RawValue, E> {
        Ok(RawValue::Null)
    }

    fn visit_none<E: de::Error>(self) -> Result<RawValue, E> {
        Ok(RawValue::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<RawValue, D::Error> {
        RawValue::deserialize(deserializer)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<RawValue, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Spanned<RawValue>>()? {
            items.push(item);
        }
        Ok(RawValue::Seq(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawValue, A::Error> {
        let mut entries = Vec::new();
        while let Some(key) = map.next_key::<Spanned<RawValue>>()? {
            let value = map.next_value::<Spanned<RawValue>>()?;
            entries.push((key, value));
        }
        Ok(RawValue::Map(entries))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(node: &Node) -> &[(Node, Node)] {
        match &node.value {
            Value::Map(entries) => entries,
            other => panic!("not a map: {other:?}"),
        }
    }

    #[test]
    fn scalars_keep_their_text_and_position() {
        let root = parse("a: 012345678901\nb: yes\nc: 123456789012\nd: 'quoted'\ne: true\n")
            .expect("parses");
        let entries = map(&root);
        assert_eq!(entries[0].1.value, Value::String("012345678901".to_owned()));
        assert_eq!(entries[0].1.at, Position { line: 1, column: 4 });
        // YAML 1.1 booleans are strings here: the schema reader rejects them where a boolean goes.
        assert_eq!(entries[1].1.value, Value::String("yes".to_owned()));
        assert_eq!(entries[2].1.value, Value::Int(123_456_789_012));
        assert_eq!(entries[2].1.raw.as_deref(), Some("123456789012"));
        assert_eq!(entries[3].1.value, Value::String("quoted".to_owned()));
        assert_eq!(entries[4].1.value, Value::Bool(true));
        assert_eq!(entries[4].0.at, Position { line: 5, column: 1 });
    }

    #[test]
    fn nested_lists_and_maps_are_located() {
        let root = parse("accounts:\n  - account_id: '1'\n    name: x\n").expect("parses");
        let Value::Seq(items) = &map(&root)[0].1.value else {
            panic!("a list");
        };
        let entry = map(&items[0]);
        assert_eq!(entry[1].0.at, Position { line: 3, column: 5 });
    }

    #[test]
    fn syntax_errors_and_duplicate_keys_have_a_position() {
        let error = parse("a: 1\na: 2\n").expect_err("duplicate key");
        assert!(error.at.is_some(), "{error:?}");
        let error = parse("a: [1, 2\n").expect_err("unclosed");
        assert!(!error.message.is_empty());
    }
}
