//! YAML plumbing shared by the configuration types: booleans the way Go's yaml.v3 reads
//! them, and finding the line of a YAML path for errors found after decoding.

use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;

/// A boolean as Connaisseur (Go yaml.v3) accepts it when decoding into a typed bool:
/// YAML `true`/`false` plus the YAML 1.1 spellings `y/Y/yes/Yes/YES/on/On/ON` and
/// `n/N/no/No/NO/off/Off/OFF`, so that configurations written for Connaisseur, such as
/// `approve: yes`, load unchanged and mean the same thing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Yaml11Bool(pub bool);

impl<'de> Deserialize<'de> for Yaml11Bool {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct BoolVisitor;
        impl Visitor<'_> for BoolVisitor {
            type Value = Yaml11Bool;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a boolean (true/false, yes/no, on/off)")
            }
            fn visit_bool<E: de::Error>(self, value: bool) -> Result<Yaml11Bool, E> {
                Ok(Yaml11Bool(value))
            }
            fn visit_str<E: de::Error>(self, value: &str) -> Result<Yaml11Bool, E> {
                match value {
                    "y" | "Y" | "yes" | "Yes" | "YES" | "on" | "On" | "ON" => Ok(Yaml11Bool(true)),
                    "n" | "N" | "no" | "No" | "NO" | "off" | "Off" | "OFF" => Ok(Yaml11Bool(false)),
                    _ => Err(E::invalid_value(de::Unexpected::Str(value), &self)),
                }
            }
        }
        deserializer.deserialize_any(BoolVisitor)
    }
}

/// Marker put in the probe's error so that it is told apart from real decoding errors.
const PROBE_MARKER: &str = "\u{0}tastevin line probe\u{0}";

/// The 1-based line where the node at `path` (as written by [`crate::config`], e.g.
/// `validators[2].trustRoots[0]`) starts in `text`, found by decoding the document again
/// and failing on purpose at that node: the decoder then reports its position.
pub fn line_of(text: &str, path: &str) -> Option<usize> {
    let segments = parse_path(path)?;
    let deserializer = serde_norway::Deserializer::from_str(text);
    match (Probe { path: &segments }).deserialize(deserializer) {
        Err(error) if error.to_string().contains(PROBE_MARKER) => {
            error.location().map(|location| location.line())
        }
        _ => None,
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Segment<'a> {
    Key(&'a str),
    Index(usize),
}

fn parse_path(path: &str) -> Option<Vec<Segment<'_>>> {
    let mut segments = Vec::new();
    if path.is_empty() {
        return Some(segments);
    }
    for part in path.split('.') {
        let (key, mut indexes) = match part.split_once('[') {
            Some((key, rest)) => (key, Some(rest)),
            None => (part, None),
        };
        if !key.is_empty() {
            segments.push(Segment::Key(key));
        }
        while let Some(rest) = indexes {
            let (index, after) = rest.split_once(']')?;
            segments.push(Segment::Index(index.parse().ok()?));
            indexes = after.strip_prefix('[');
        }
    }
    Some(segments)
}

struct Probe<'p, 'a> {
    path: &'p [Segment<'a>],
}

impl<'de> DeserializeSeed<'de> for Probe<'_, '_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        match self.path.split_first() {
            None => deserializer.deserialize_any(Target),
            Some((segment, rest)) => deserializer.deserialize_any(Walker { segment, rest }),
        }
    }
}

/// Fails on whatever node it is given; the error message carries the marker through
/// `expecting`, and the decoder adds the node's position.
struct Target;

impl Visitor<'_> for Target {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(PROBE_MARKER)
    }
}

struct Walker<'p, 'a> {
    segment: &'p Segment<'a>,
    rest: &'p [Segment<'a>],
}

impl<'de> Visitor<'de> for Walker<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any node")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<serde_norway::Value>()? {
            match (self.segment, key.as_str()) {
                (Segment::Key(wanted), Some(key)) if *wanted == key => {
                    return map.next_value_seed(Probe { path: self.rest });
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut index = 0;
        loop {
            if *self.segment == Segment::Index(index) {
                return seq.next_element_seed(Probe { path: self.rest }).map(drop);
            }
            if seq.next_element::<IgnoredAny>()?.is_none() {
                return Ok(());
            }
            index += 1;
        }
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml11_booleans_are_accepted_like_go() {
        let parse = |text: &str| serde_norway::from_str::<Yaml11Bool>(text).map(|b| b.0).ok();
        assert_eq!(parse("yes"), Some(true));
        assert_eq!(parse("On"), Some(true));
        assert_eq!(parse("true"), Some(true));
        assert_eq!(parse("OFF"), Some(false));
        assert_eq!(parse("n"), Some(false));
        assert_eq!(parse("maybe"), None);
        assert_eq!(parse("1"), None);
        assert_eq!(parse("{}"), None);
    }

    #[test]
    fn line_of_finds_nested_nodes() {
        let text = "a:\n  - x: 1\n  - x: 2\n    y:\n      - z\n      - w\nb: 3\n";
        assert_eq!(line_of(text, "a[1]"), Some(3));
        assert_eq!(line_of(text, "a[1].y[1]"), Some(6));
        assert_eq!(line_of(text, "b"), Some(7));
        assert_eq!(line_of(text, "a[5]"), None);
        assert_eq!(line_of(text, "c"), None);
    }

    #[test]
    fn paths_are_split_into_keys_and_indexes() {
        let segments = parse_path("validators[2].trustRoots[0]");
        assert_eq!(
            segments,
            Some(vec![
                Segment::Key("validators"),
                Segment::Index(2),
                Segment::Key("trustRoots"),
                Segment::Index(0)
            ])
        );
        assert_eq!(parse_path("a[x]"), None);
    }
}
