//! Policy rule selection (§2): which rule, and so which validator, decides about an image.
//!
//! Every rule whose pattern matches the normalised image name is a candidate; the most
//! specific one wins: more `/` components, then (component by component, from the left)
//! the longer common prefix with the image's component, then the longer component; on a
//! complete tie the later rule wins, as in Connaisseur v3. Patterns are compiled at load
//! ([`crate::config::Glob`]), and selection allocates nothing.

use std::cmp::Ordering;
use std::fmt::{self, Write as _};

use crate::config::{Config, Rule, Validator};
use crate::image_ref::ImageRef;

/// The rule chosen for an image and the validator it names.
#[derive(Clone, Copy, Debug)]
pub struct Selection<'a> {
    pub rule: &'a Rule,
    /// Position of the rule in `policy` (0-based).
    pub rule_index: usize,
    pub validator: &'a Validator,
}

/// Why no validator could be chosen; the text is what the cluster user sees.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SelectError {
    NoMatchingRule,
    ValidatorNotFound(String),
}

impl fmt::Display for SelectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoMatchingRule => f.write_str("no matching rule"),
            Self::ValidatorNotFound(name) => write!(f, "validator \"{name}\" not found"),
        }
    }
}

impl std::error::Error for SelectError {}

impl Config {
    /// Chooses the rule for `image` and resolves its validator (§2.3, §2.5).
    pub fn select(&self, image: &ImageRef) -> Result<Selection<'_>, SelectError> {
        let (rule_index, rule) =
            best_rule(self.rules(), image.normalised()).ok_or(SelectError::NoMatchingRule)?;
        let name = rule.validator_name();
        let validator = self
            .validator(name)
            .ok_or_else(|| SelectError::ValidatorNotFound(name.to_owned()))?;
        Ok(Selection {
            rule,
            rule_index,
            validator,
        })
    }
}

fn best_rule<'r>(rules: &'r [Rule], image: &str) -> Option<(usize, &'r Rule)> {
    let mut best: Option<(usize, &Rule)> = None;
    for (index, rule) in rules.iter().enumerate() {
        if !rule.matches(image) {
            continue;
        }
        best = match best {
            Some((_, current))
                if compare(&rule.pattern, &current.pattern, image).0 == Ordering::Less =>
            {
                best
            }
            _ => Some((index, rule)),
        };
    }
    best
}

/// Which criterion separated two patterns; `a` is the first pattern compared.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decider {
    /// Number of `/` components of `a` and `b`.
    Components(usize, usize),
    /// Common prefix with the image in this (0-based) component, for `a` and `b`.
    CommonPrefix {
        component: usize,
        a: usize,
        b: usize,
    },
    /// Byte length of this (0-based) component, for `a` and `b`.
    ComponentLength {
        component: usize,
        a: usize,
        b: usize,
    },
    /// Equally specific on every criterion.
    Identical,
}

/// Compares the specificity of pattern `a` with pattern `b` for `image` (both assumed to
/// match). `Greater` means `a` is more specific.
pub fn compare(a: &str, b: &str, image: &str) -> (Ordering, Decider) {
    let (a_count, b_count) = (a.split('/').count(), b.split('/').count());
    if a_count != b_count {
        return (a_count.cmp(&b_count), Decider::Components(a_count, b_count));
    }
    // A pattern can have more components than the image (`{a/b,c}`); the missing image
    // components count as empty instead of failing as in Connaisseur.
    let image_components = image.split('/').map(Some).chain(std::iter::repeat(None));
    for (component, ((a_part, b_part), image_part)) in a
        .split('/')
        .zip(b.split('/'))
        .zip(image_components)
        .enumerate()
    {
        let image_part = image_part.unwrap_or_default();
        let a_prefix = common_prefix(a_part, image_part);
        let b_prefix = common_prefix(b_part, image_part);
        if a_prefix != b_prefix {
            let decider = Decider::CommonPrefix {
                component,
                a: a_prefix,
                b: b_prefix,
            };
            return (a_prefix.cmp(&b_prefix), decider);
        }
    }
    for (component, (a_part, b_part)) in a.split('/').zip(b.split('/')).enumerate() {
        if a_part.len() != b_part.len() {
            let decider = Decider::ComponentLength {
                component,
                a: a_part.len(),
                b: b_part.len(),
            };
            return (a_part.len().cmp(&b_part.len()), decider);
        }
    }
    (Ordering::Equal, Decider::Identical)
}

/// Bytes two strings share at their start (`*` is an ordinary character here).
fn common_prefix(a: &str, b: &str) -> usize {
    a.bytes().zip(b.bytes()).take_while(|(x, y)| x == y).count()
}

/// A human explanation of the rule choice for `image`, for `review --explain`.
pub fn explain(config: &Config, image: &ImageRef) -> String {
    let name = image.normalised();
    let mut text = String::new();
    let _ = writeln!(text, "image {name}");
    let _ = writeln!(text, "rules, in configuration order:");
    for (index, rule) in config.rules().iter().enumerate() {
        if rule.matches(name) {
            let _ = writeln!(
                text,
                "  policy[{index}] {:?}: matches; {}",
                rule.pattern,
                statistics(&rule.pattern, name)
            );
        } else {
            let _ = writeln!(text, "  policy[{index}] {:?}: does not match", rule.pattern);
        }
    }
    let Some((chosen_index, chosen)) = best_rule(config.rules(), name) else {
        let _ = writeln!(text, "result: {}", SelectError::NoMatchingRule);
        return text;
    };
    let _ = writeln!(
        text,
        "chosen: policy[{chosen_index}] {:?}, validator {:?}",
        chosen.pattern,
        chosen.validator_name()
    );
    for (index, rule) in config.rules().iter().enumerate() {
        if index == chosen_index || !rule.matches(name) {
            continue;
        }
        let (_, decider) = compare(&chosen.pattern, &rule.pattern, name);
        let _ = writeln!(
            text,
            "  beats policy[{index}] {:?}: {}",
            rule.pattern,
            describe(decider, index < chosen_index)
        );
    }
    match config.validator(chosen.validator_name()) {
        Some(validator) => {
            let _ = writeln!(
                text,
                "result: validator {:?} of type {}",
                validator.name,
                validator.kind.type_name()
            );
        }
        None => {
            let error = SelectError::ValidatorNotFound(chosen.validator_name().to_owned());
            let _ = writeln!(text, "result: {error}");
        }
    }
    text
}

/// `components 2, common prefixes [6, 0], lengths [9, 3]`.
fn statistics(pattern: &str, image: &str) -> String {
    let mut image_parts = image.split('/');
    let prefixes: Vec<String> = pattern
        .split('/')
        .map(|part| common_prefix(part, image_parts.next().unwrap_or_default()).to_string())
        .collect();
    let lengths: Vec<String> = pattern
        .split('/')
        .map(|part| part.len().to_string())
        .collect();
    format!(
        "components {}, common prefixes [{}], lengths [{}]",
        lengths.len(),
        prefixes.join(", "),
        lengths.join(", ")
    )
}

fn describe(decider: Decider, other_is_earlier: bool) -> String {
    match decider {
        Decider::Components(a, b) => format!("more path components ({a} > {b})"),
        Decider::CommonPrefix { component, a, b } => format!(
            "longer common prefix with the image in component {} ({a} > {b})",
            component + 1
        ),
        Decider::ComponentLength { component, a, b } => {
            format!("longer component {} ({a} > {b})", component + 1)
        }
        Decider::Identical if other_is_earlier => {
            "equally specific; the later rule wins (Connaisseur warns \"identical rules\")"
                .to_owned()
        }
        Decider::Identical => "equally specific".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const IMAGE: &str = "docker.io/securesystemsengineering/sample:v1";

    /// §2.4 match_test: r1 then r2 in configuration order → the winner.
    #[test]
    fn specificity_examples() {
        let cases = [
            ("", "*", "*"),
            ("*:*", "*/*", "*/*"),
            ("docker*/*", "*/*/*", "*/*/*"),
            ("*", "*:*", "*:*"),
            ("*/*", "docker*/*", "docker*/*"),
            ("*/*/image:v1", "*/sam*/*", "*/sam*/*"),
            ("docker.i*/s*", "docker.io/*", "docker.io/*"),
            ("*:test", "*/*", "*/*"),
            (
                "securesystemsengineering/sample:*",
                "securesystemsengineering/sample:v*",
                "securesystemsengineering/sample:v*",
            ),
            ("*", "", "*"),
        ];
        for (first, second, winner) in cases {
            // `second` is the candidate visited after `first`; it wins unless less specific.
            let (ordering, _) = compare(second, first, IMAGE);
            let chosen = if ordering == Ordering::Less {
                first
            } else {
                second
            };
            assert_eq!(chosen, winner, "{first:?} vs {second:?}");
        }
        assert_eq!(
            compare("*", "*", IMAGE),
            (Ordering::Equal, Decider::Identical)
        );
    }

    #[test]
    fn component_statistics() {
        assert_eq!(
            statistics("doc*/*", IMAGE),
            "components 2, common prefixes [3, 0], lengths [4, 1]"
        );
        assert_eq!(
            statistics("*/sec*/*:*", IMAGE),
            "components 3, common prefixes [0, 3, 0], lengths [1, 4, 3]"
        );
    }

    #[test]
    fn more_pattern_components_than_image_do_not_panic() {
        let (ordering, _) = compare("a/b/c/d/e", "a/b/c/d/f", "x/y");
        assert_eq!(ordering, Ordering::Equal);
    }

    fn config(rules: &[&str]) -> Config {
        let mut text = String::from(
            "validators:\n  - name: default\n    type: static\n    approve: true\npolicy:\n",
        );
        for pattern in rules {
            text.push_str(&format!("  - pattern: {pattern:?}\n"));
        }
        Config::from_yaml(&text).unwrap_or_else(|e| panic!("{e:?}"))
    }

    fn chosen(config: &Config, raw: &str) -> Result<String, String> {
        let image = ImageRef::parse(raw).map_err(|e| e.to_string())?;
        config
            .select(&image)
            .map(|selection| selection.rule.pattern.clone())
            .map_err(|e| e.to_string())
    }

    /// §2.4 config_test table.
    #[test]
    fn connaisseur_config_examples() {
        let config = config(&[
            "*:*",
            "securesystemsengineering/*:co*",
            "docker.io/*:*",
            "registry.k8s.io/*:*",
            "docker.io/securesystemsengineering/sample",
            "docker.io/securesystemsengineering/sample:v1",
            "docker.io/library/allow-me",
            "docker.io/library/deny-me",
            "my.registry/*",
            "my.registry/test",
            "docker.io/test:*",
        ]);
        let cases = [
            ("image:tag", "docker.io/*:*"),
            ("registry.io/image:tag", "*:*"),
            ("registry.k8s.io/image", "registry.k8s.io/*:*"),
            ("image", "docker.io/*:*"),
            (
                "docker.io/securesystemsengineering/sample:v1",
                "docker.io/securesystemsengineering/sample:v1",
            ),
            (
                "docker.io/securesystemsengineering/sample:v2",
                "docker.io/securesystemsengineering/sample",
            ),
            ("my.registry/test:tag", "my.registry/test"),
            ("my.registry/abc:tag", "my.registry/*"),
            ("docker.io/test:tag", "docker.io/*:*"),
            (
                "securesystemsengineering/alice:co-signed",
                "securesystemsengineering/*:co*",
            ),
        ];
        for (raw, expected) in cases {
            assert_eq!(chosen(&config, raw).as_deref(), Ok(expected), "{raw}");
        }
    }

    #[test]
    fn integration_and_documentation_examples() {
        let config_a = config(&[
            "securesystemsengineering/testimage:*",
            "securesystemsengineering/testimage:co-*",
        ]);
        assert_eq!(
            chosen(&config_a, "securesystemsengineering/testimage:co-signed").as_deref(),
            Ok("securesystemsengineering/testimage:co-*")
        );
        let config_b = config(&["*:*", "securesystemsengineering/testimage"]);
        assert_eq!(
            chosen(&config_b, "securesystemsengineering/testimage:co-signed").as_deref(),
            Ok("securesystemsengineering/testimage")
        );
        let docs = config(&["*:*", "docker.io/myrepo/*:*", "docker.io/myrepo/myimg:*"]);
        assert_eq!(
            chosen(&docs, "docker.io/superrepo/myimg:v1").as_deref(),
            Ok("*:*")
        );
        assert_eq!(
            chosen(&docs, "docker.io/myrepo/superimg:v1").as_deref(),
            Ok("docker.io/myrepo/*:*")
        );
        assert_eq!(
            chosen(&docs, "docker.io/myrepo/myimg:v1").as_deref(),
            Ok("docker.io/myrepo/myimg:*")
        );
    }

    #[test]
    fn ties_go_to_the_later_rule() {
        let config = config(&["*:*", "*:*"]);
        let image = ImageRef::parse("nginx").map_err(|e| e.to_string());
        let index = image.and_then(|image| {
            config
                .select(&image)
                .map(|s| s.rule_index)
                .map_err(|e| e.to_string())
        });
        assert_eq!(index, Ok(1));
    }

    #[test]
    fn no_rule_and_unknown_validator() {
        let config = config(&["my.registry/*"]);
        assert_eq!(chosen(&config, "nginx"), Err("no matching rule".to_owned()));
        let text = "validators: [{name: allow, type: static, approve: true}]\npolicy: [{pattern: '*', validator: x}, {pattern: 'ng'}]\n";
        let config = Config::from_yaml(text).unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(
            chosen(&config, "reg.io/app"),
            Err("validator \"x\" not found".to_owned())
        );
        assert_eq!(
            chosen(&config, "nginx"),
            Err("validator \"default\" not found".to_owned())
        );
    }

    #[test]
    fn explanation_names_the_winner_and_why() {
        let config = config(&["*:*", "docker.io/*:*", "registry.k8s.io/*:*"]);
        let image = ImageRef::parse("nginx").unwrap_or_else(|e| panic!("{e}"));
        let text = explain(&config, &image);
        assert!(
            text.contains("image index.docker.io/library/nginx:latest"),
            "{text}"
        );
        assert!(
            text.contains("policy[2] \"registry.k8s.io/*:*\": does not match"),
            "{text}"
        );
        assert!(
            text.contains("chosen: policy[1] \"docker.io/*:*\""),
            "{text}"
        );
        assert!(
            text.contains("beats policy[0] \"*:*\": more path components (2 > 1)"),
            "{text}"
        );
        assert!(
            text.contains("result: validator \"default\" of type static"),
            "{text}"
        );
    }
}
