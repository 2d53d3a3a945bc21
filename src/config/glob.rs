//! Policy rule patterns: gobwas/glob syntax without separators, compiled once at load.
//!
//! `*` (and `**`) matches any run of characters including `/`; `?` one character;
//! `[abc]`, `[a-z]`, `[!abc]`, `[!a-z]` a character class; `{a,b}` alternatives (which may
//! nest and contain wildcards); `\` escapes the next character. Outside `{}`, `,` and `}`
//! are plain characters, and so is `]` outside `[]`.
//!
//! Alternatives are expanded at compile time into plain sequences, so matching is the
//! classic single-backtrack wildcard walk: linear memory, O(pattern × text) time, and no
//! allocation. Malformed patterns are refused here, at load, rather than crashing at
//! request time as Connaisseur does.

use std::fmt;

/// Longest pattern accepted; real ones are a few dozen characters.
pub const MAX_PATTERN_LEN: usize = 1024;
/// Most sequences `{…}` alternatives may expand into.
pub const MAX_ALTERNATIVES: usize = 64;
/// Expansion may make the compiled pattern at most this many times longer than the text
/// (plus [`EXPANSION_ALLOWANCE`]), so that memory stays proportional to the configuration.
pub const MAX_EXPANSION_FACTOR: usize = 4;
/// Tokens every pattern may use regardless of its length.
pub const EXPANSION_ALLOWANCE: usize = 64;

/// A compiled pattern.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Glob {
    alternatives: Vec<Vec<Token>>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Token {
    Literal(char),
    AnyChar,
    Star,
    Class(Box<Class>),
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Class {
    negated: bool,
    set: ClassSet,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum ClassSet {
    Range(char, char),
    Chars(Vec<char>),
}

/// Why a pattern does not compile.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GlobError {
    TooLong(usize),
    TrailingBackslash,
    UnclosedClass,
    EmptyClass,
    /// `[z-a]`: the low end of a range is above the high end.
    ReversedRange(char, char),
    /// `[a-b-c]` or `[a-bc]`: a range must be the only thing in its class.
    RangeNotAlone,
    UnclosedAlternatives,
    TooManyAlternatives,
}

impl fmt::Display for GlobError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooLong(len) => write!(
                f,
                "pattern is {len} bytes long, more than the {MAX_PATTERN_LEN} allowed"
            ),
            Self::TrailingBackslash => f.write_str("trailing backslash"),
            Self::UnclosedClass => f.write_str("'[' without a closing ']'"),
            Self::EmptyClass => f.write_str("empty character class '[]'"),
            Self::ReversedRange(lo, hi) => write!(f, "range {lo}-{hi} is reversed"),
            Self::RangeNotAlone => {
                f.write_str("a character range like [a-z] must be alone inside its brackets")
            }
            Self::UnclosedAlternatives => f.write_str("'{' without a closing '}'"),
            Self::TooManyAlternatives => write!(
                f,
                "'{{…}}' alternatives expand to more than {MAX_ALTERNATIVES} patterns or {MAX_EXPANSION_FACTOR} times the pattern's length"
            ),
        }
    }
}

impl std::error::Error for GlobError {}

impl Glob {
    /// Compiles `pattern` as written (anchored at both ends).
    pub fn compile(pattern: &str) -> Result<Glob, GlobError> {
        if pattern.len() > MAX_PATTERN_LEN {
            return Err(GlobError::TooLong(pattern.len()));
        }
        let mut parser = Parser {
            chars: pattern.chars().peekable(),
        };
        let alternatives = parser.sequence(false)?;
        let tokens: usize = alternatives.iter().map(Vec::len).sum();
        if tokens > MAX_EXPANSION_FACTOR * pattern.chars().count() + EXPANSION_ALLOWANCE {
            return Err(GlobError::TooManyAlternatives);
        }
        Ok(Glob { alternatives })
    }

    /// A glob matching every text, like `*`.
    pub fn everything() -> Glob {
        Glob {
            alternatives: vec![vec![Token::Star]],
        }
    }

    /// Compiles a policy pattern. As in Connaisseur, `*` is added at the end unless already
    /// there, and at the start too, making the rule a substring match, with one
    /// difference: a pattern that begins with a registry (a first `/` component containing
    /// `.` or `:`, like `registry.k8s.io/*`) must match from the start of the image name,
    /// optionally after `index.` so that `docker.io/...` still matches Docker Hub's
    /// `index.docker.io/...`. Connaisseur lets such a rule also match look-alikes such as
    /// `index.docker.io/attacker/registry.k8s.io/x` or `evilregistry.k8s.io/x`, which turns
    /// an allow rule for one registry into an allow rule for anyone's images.
    pub fn compile_policy_pattern(pattern: &str) -> Result<Glob, GlobError> {
        let suffix = if pattern.ends_with('*') { "" } else { "*" };
        let prefix = if pattern.starts_with('*') {
            ""
        } else if starts_with_registry(pattern) {
            "{,index.}"
        } else {
            "*"
        };
        Self::compile(&format!("{prefix}{pattern}{suffix}"))
    }

    /// Whether the whole of `text` matches.
    pub fn is_match(&self, text: &str) -> bool {
        self.alternatives
            .iter()
            .any(|tokens| match_sequence(tokens, text))
    }
}

/// Whether the pattern's first `/` component names a registry, by the rule image
/// references use (see [`crate::image_ref`]).
fn starts_with_registry(pattern: &str) -> bool {
    pattern
        .split_once('/')
        .is_some_and(|(first, _)| first.contains(['.', ':']))
}

struct Parser<'a> {
    chars: std::iter::Peekable<std::str::Chars<'a>>,
}

impl Parser<'_> {
    /// Parses up to the end of input (top level) or up to an unconsumed `,`/`}` (inside
    /// alternatives) and returns every plain sequence the input expands to.
    fn sequence(&mut self, in_alternatives: bool) -> Result<Vec<Vec<Token>>, GlobError> {
        let mut expansions: Vec<Vec<Token>> = vec![Vec::new()];
        loop {
            let Some(&c) = self.chars.peek() else {
                return Ok(expansions);
            };
            if in_alternatives && (c == ',' || c == '}') {
                return Ok(expansions);
            }
            self.chars.next();
            let token = match c {
                '*' => {
                    if self.chars.peek() == Some(&'*') {
                        self.chars.next();
                    }
                    Token::Star
                }
                '?' => Token::AnyChar,
                '\\' => Token::Literal(self.chars.next().ok_or(GlobError::TrailingBackslash)?),
                '[' => Token::Class(Box::new(self.class()?)),
                '{' => {
                    let choices = self.alternatives()?;
                    expansions = combine(&expansions, &choices)?;
                    continue;
                }
                other => Token::Literal(other),
            };
            for expansion in &mut expansions {
                expansion.push(token.clone());
            }
        }
    }

    /// Parses the inside of `{…}` after the `{`, consuming the closing `}`.
    fn alternatives(&mut self) -> Result<Vec<Vec<Token>>, GlobError> {
        let mut choices = Vec::new();
        loop {
            choices.extend(self.sequence(true)?);
            if choices.len() > MAX_ALTERNATIVES {
                return Err(GlobError::TooManyAlternatives);
            }
            match self.chars.next() {
                Some(',') => continue,
                Some('}') => return Ok(choices),
                _ => return Err(GlobError::UnclosedAlternatives),
            }
        }
    }

    /// Parses a character class after its `[`, consuming the closing `]`.
    fn class(&mut self) -> Result<Class, GlobError> {
        let negated = self.chars.next_if_eq(&'!').is_some();
        let mut chars = Vec::new();
        loop {
            let c = match self.chars.next() {
                None => return Err(GlobError::UnclosedClass),
                Some(']') => break,
                Some('\\') => self.chars.next().ok_or(GlobError::TrailingBackslash)?,
                Some(c) => c,
            };
            if self.chars.next_if_eq(&'-').is_some() {
                let hi = match self.chars.next() {
                    None => return Err(GlobError::UnclosedClass),
                    Some('\\') => self.chars.next().ok_or(GlobError::TrailingBackslash)?,
                    Some(hi) => hi,
                };
                if !chars.is_empty() || self.chars.next() != Some(']') {
                    return Err(GlobError::RangeNotAlone);
                }
                if c > hi {
                    return Err(GlobError::ReversedRange(c, hi));
                }
                return Ok(Class {
                    negated,
                    set: ClassSet::Range(c, hi),
                });
            }
            chars.push(c);
        }
        if chars.is_empty() {
            return Err(GlobError::EmptyClass);
        }
        Ok(Class {
            negated,
            set: ClassSet::Chars(chars),
        })
    }
}

/// Every expansion so far followed by every choice.
fn combine(prefixes: &[Vec<Token>], choices: &[Vec<Token>]) -> Result<Vec<Vec<Token>>, GlobError> {
    if prefixes.len().saturating_mul(choices.len()) > MAX_ALTERNATIVES {
        return Err(GlobError::TooManyAlternatives);
    }
    Ok(prefixes
        .iter()
        .flat_map(|prefix| {
            choices.iter().map(move |choice| {
                let mut joined = prefix.clone();
                joined.extend(choice.iter().cloned());
                joined
            })
        })
        .collect())
}

impl Token {
    fn matches(&self, c: char) -> bool {
        match self {
            Token::Literal(literal) => *literal == c,
            Token::AnyChar => true,
            Token::Star => false,
            Token::Class(class) => {
                let inside = match &class.set {
                    ClassSet::Range(lo, hi) => (*lo..=*hi).contains(&c),
                    ClassSet::Chars(chars) => chars.contains(&c),
                };
                inside != class.negated
            }
        }
    }
}

/// Wildcard walk remembering only the last `*`: on a mismatch, let that star swallow one
/// more character and retry. Correct because a `*` can absorb anything an earlier `*`
/// could.
fn match_sequence(tokens: &[Token], text: &str) -> bool {
    let mut token_index = 0;
    let mut position = 0;
    let mut last_star: Option<(usize, usize)> = None;
    loop {
        let token = tokens.get(token_index);
        if token == Some(&Token::Star) {
            last_star = Some((token_index, position));
            token_index += 1;
            continue;
        }
        let Some(c) = text.get(position..).and_then(|rest| rest.chars().next()) else {
            break;
        };
        if token.is_some_and(|token| token.matches(c)) {
            token_index += 1;
            position += c.len_utf8();
            continue;
        }
        let Some((star_index, star_position)) = last_star else {
            return false;
        };
        let Some(swallowed) = text
            .get(star_position..)
            .and_then(|rest| rest.chars().next())
        else {
            return false;
        };
        let resume = star_position + swallowed.len_utf8();
        last_star = Some((star_index, resume));
        token_index = star_index + 1;
        position = resume;
    }
    tokens
        .get(token_index..)
        .is_some_and(|rest| rest.iter().all(|token| *token == Token::Star))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matches(pattern: &str, text: &str) -> bool {
        match Glob::compile(pattern) {
            Ok(glob) => glob.is_match(text),
            Err(e) => panic!("{pattern}: {e}"),
        }
    }

    #[test]
    fn star_crosses_slashes_and_matches_empty() {
        assert!(matches("*", ""));
        assert!(matches("a*b", "ab"));
        assert!(matches("a*b", "a/x/y/b"));
        assert!(matches("**", "a/b"));
        assert!(!matches("a*b", "a/x/y/bc"));
        assert!(matches("*a*a*a*", "xaxxaxxxa"));
        assert!(!matches("*a*a*a*b", "xaxxaxxxa"));
    }

    #[test]
    fn single_character_and_classes() {
        assert!(matches("v?", "v1"));
        assert!(!matches("v?", "v"));
        assert!(matches("v[0-9]", "v7"));
        assert!(!matches("v[!0-9]", "v7"));
        assert!(matches("v[!0-9]", "vx"));
        assert!(matches("[abc]x", "bx"));
        assert!(!matches("[!abc]x", "bx"));
        assert!(matches("[\\]]", "]"));
    }

    #[test]
    fn alternatives_expand_and_nest() {
        assert!(matches("{foo,bar}/x", "bar/x"));
        assert!(!matches("{foo,bar}/x", "baz/x"));
        assert!(matches("a{b,c{d,e}}f", "acef"));
        assert!(matches("{*.io,x}/app", "reg.io/app"));
        assert!(matches("a{,b}c", "ac"));
    }

    #[test]
    fn escapes_and_plain_specials() {
        assert!(matches("a\\*b", "a*b"));
        assert!(!matches("a\\*b", "axb"));
        assert!(matches("a,b}", "a,b}"));
        assert!(matches("a]", "a]"));
    }

    #[test]
    fn malformed_patterns_are_refused() {
        let cases = [
            ("abc\\", GlobError::TrailingBackslash),
            ("[abc", GlobError::UnclosedClass),
            ("[]", GlobError::EmptyClass),
            ("[z-a]", GlobError::ReversedRange('z', 'a')),
            ("[a-bc]", GlobError::RangeNotAlone),
            ("{a,b", GlobError::UnclosedAlternatives),
            (
                "{a,b}{c,d}{e,f}{g,h}{i,j}{k,l}{m,n}",
                GlobError::TooManyAlternatives,
            ),
        ];
        for (pattern, expected) in cases {
            assert_eq!(Glob::compile(pattern), Err(expected), "{pattern}");
        }
        // 64 expansions of 6 tokens from 30 characters: within the count, over the size.
        let six_groups = "{a,b}{c,d}{e,f}{g,h}{i,j}{k,l}";
        assert_eq!(
            Glob::compile(six_groups),
            Err(GlobError::TooManyAlternatives)
        );
        assert!(Glob::compile("{a,b}{c,d}{e,f}{g,h}{i,j}").is_ok());
        let long = "a".repeat(MAX_PATTERN_LEN + 1);
        assert_eq!(Glob::compile(&long), Err(GlobError::TooLong(long.len())));
    }

    #[test]
    fn registry_patterns_are_anchored_at_the_registry() {
        let glob = |p: &str| Glob::compile_policy_pattern(p).unwrap_or_else(|e| panic!("{e}"));
        let k8s = glob("registry.k8s.io/*:*");
        assert!(k8s.is_match("registry.k8s.io/pause:3.9"));
        assert!(!k8s.is_match("index.docker.io/attacker/registry.k8s.io/pause:3.9"));
        assert!(!k8s.is_match("evilregistry.k8s.io/pause:3.9"));
        assert!(!glob("docker.io/*:*").is_match("notdocker.io/x:1"));
        assert!(glob("localhost:5000/app").is_match("localhost:5000/app:1"));
        assert!(!glob("localhost:5000/app").is_match("evil.io/localhost:5000/app:1"));
        // Without a `/`, a pattern with a colon is a tag pattern, still a substring.
        assert!(glob("redis:7").is_match("index.docker.io/library/redis:7"));
    }

    #[test]
    fn policy_patterns_are_substring_matches() {
        let glob = |p: &str| Glob::compile_policy_pattern(p).unwrap_or_else(|e| panic!("{e}"));
        assert!(glob("redis").is_match("index.docker.io/library/redis:7"));
        assert!(glob("redis").is_match("ghcr.io/x/redis-exporter:1"));
        assert!(glob("docker.io/*:*").is_match("index.docker.io/library/image:tag"));
        assert!(glob("docker.i*/s*").is_match("index.docker.io/sec/sample:v1"));
        assert!(glob("securesystemsengineering/*:co*")
            .is_match("index.docker.io/securesystemsengineering/x:co-signed"));
        assert!(!glob("docker.io/redis:*").is_match("index.docker.io/library/redis:7"));
        assert!(glob("*:*").is_match("my.reg/app@sha256:abc"));
        assert!(!glob("*:*").is_match("my.reg/app"));
        assert!(glob("my.reg/team/app").is_match("my.reg/team/app-two:1"));
        // Like Connaisseur, an escaped final star counts as a final star: no `*` added.
        assert!(glob("app\\*").is_match("x/app*"));
        assert!(!glob("app\\*").is_match("x/app*y"));
    }
}
