//! Registry authentication: the `WWW-Authenticate` challenge (RFC 9110 §11.6.1 syntax),
//! the Docker token flow's request and answer, and cached tokens.

use std::fmt;
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde::Deserialize;

/// Longest challenge header looked at.
pub const MAX_CHALLENGE_LEN: usize = 4096;
/// Most parameters kept from one challenge.
const MAX_PARAMS: usize = 16;
/// Token lifetime when the token server gives none (the Docker token spec's default).
const DEFAULT_TOKEN_SECONDS: u64 = 60;
/// A cached token is dropped this long before the token server said it expires.
const TOKEN_EXPIRY_MARGIN: Duration = Duration::from_secs(10);
/// Longest token lifetime trusted, whatever the token server says.
const MAX_TOKEN_SECONDS: u64 = 3600;

/// One authentication challenge: a scheme and its parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    /// The scheme, lower-cased (`bearer`, `basic`).
    pub scheme: String,
    /// Parameters in order, names lower-cased.
    pub params: Vec<(String, String)>,
}

/// Why a `WWW-Authenticate` value could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChallengeError {
    Empty,
    TooLong,
    Malformed(String),
}

impl fmt::Display for ChallengeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ChallengeError::Empty => f.write_str("empty WWW-Authenticate header"),
            ChallengeError::TooLong => {
                write!(
                    f,
                    "WWW-Authenticate header longer than {MAX_CHALLENGE_LEN} bytes"
                )
            }
            ChallengeError::Malformed(reason) => {
                write!(f, "malformed WWW-Authenticate header: {reason}")
            }
        }
    }
}

impl std::error::Error for ChallengeError {}

impl Challenge {
    /// Parses the first challenge of a `WWW-Authenticate` value.
    pub fn parse(header: &str) -> Result<Challenge, ChallengeError> {
        if header.len() > MAX_CHALLENGE_LEN {
            return Err(ChallengeError::TooLong);
        }
        let header = header.trim_matches([' ', '\t']);
        let scheme_end = header.find([' ', '\t', ',']).unwrap_or(header.len());
        let scheme = header.get(..scheme_end).unwrap_or_default();
        if scheme.is_empty() {
            return Err(ChallengeError::Empty);
        }
        if !scheme.bytes().all(is_token_byte) {
            return Err(ChallengeError::Malformed(format!(
                "invalid scheme {scheme:?}"
            )));
        }
        let mut params = Vec::new();
        let mut rest = header.get(scheme_end..).unwrap_or_default();
        loop {
            rest = rest.trim_start_matches([' ', '\t', ',']);
            if rest.is_empty() {
                break;
            }
            let name_end = rest.find(|c: char| !is_token_char(c)).unwrap_or(rest.len());
            let name = rest.get(..name_end).unwrap_or_default();
            let after_name = rest
                .get(name_end..)
                .unwrap_or_default()
                .trim_start_matches([' ', '\t']);
            let Some(after_equals) = after_name.strip_prefix('=') else {
                // A bare token: the start of a second challenge, which is not needed.
                break;
            };
            if name.is_empty() {
                return Err(ChallengeError::Malformed(
                    "parameter without a name".to_string(),
                ));
            }
            let after_equals = after_equals.trim_start_matches([' ', '\t']);
            let (value, remainder) = match after_equals.strip_prefix('"') {
                Some(quoted) => parse_quoted(quoted)?,
                None => {
                    let end = after_equals
                        .find(|c: char| !is_token_char(c) && c != '/')
                        .unwrap_or(after_equals.len());
                    (
                        after_equals.get(..end).unwrap_or_default().to_string(),
                        after_equals.get(end..).unwrap_or_default(),
                    )
                }
            };
            let remainder = remainder.trim_start_matches([' ', '\t']);
            if !(remainder.is_empty() || remainder.starts_with(',')) {
                return Err(ChallengeError::Malformed(format!(
                    "unexpected text after parameter {name:?}"
                )));
            }
            if params.len() >= MAX_PARAMS {
                return Err(ChallengeError::Malformed("too many parameters".to_string()));
            }
            params.push((name.to_ascii_lowercase(), value));
            rest = remainder;
        }
        Ok(Challenge {
            scheme: scheme.to_ascii_lowercase(),
            params,
        })
    }

    /// The value of parameter `name` (lower-case).
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The challenge as a header value (every parameter quoted).
    pub fn render(&self) -> String {
        let mut out = self.scheme.clone();
        for (i, (name, value)) in self.params.iter().enumerate() {
            out.push_str(if i == 0 { " " } else { "," });
            out.push_str(name);
            out.push_str("=\"");
            for c in value.chars() {
                if c == '"' || c == '\\' {
                    out.push('\\');
                }
                out.push(c);
            }
            out.push('"');
        }
        out
    }
}

fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

fn is_token_char(c: char) -> bool {
    u8::try_from(c).is_ok_and(is_token_byte)
}

/// Reads a quoted string whose opening quote is already consumed; returns the value and
/// what follows the closing quote.
fn parse_quoted(input: &str) -> Result<(String, &str), ChallengeError> {
    let mut value = String::new();
    let mut chars = input.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Ok((value, input.get(i + 1..).unwrap_or_default())),
            // RFC 9110 quoted-pair: an escaped control character is as invalid as a bare one.
            '\\' => match chars.next() {
                Some((_, escaped)) if escaped.is_control() && escaped != '\t' => {
                    return Err(ChallengeError::Malformed(
                        "control character in a quoted value".to_string(),
                    ))
                }
                Some((_, escaped)) => value.push(escaped),
                None => break,
            },
            c if c.is_control() && c != '\t' => {
                return Err(ChallengeError::Malformed(
                    "control character in a quoted value".to_string(),
                ))
            }
            c => value.push(c),
        }
    }
    Err(ChallengeError::Malformed(
        "unterminated quoted value".to_string(),
    ))
}

/// A user name and password, as sent with Basic authentication.
#[derive(Clone, PartialEq, Eq)]
pub struct BasicAuth {
    pub username: String,
    pub password: String,
}

impl fmt::Debug for BasicAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BasicAuth")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

impl BasicAuth {
    /// The `Authorization` header value.
    pub fn header(&self) -> String {
        let pair = format!("{}:{}", self.username, self.password);
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(pair)
        )
    }
}

/// The token server's answer (Docker token spec: `token`, or OAuth2's `access_token`).
#[derive(Debug, Deserialize)]
struct TokenAnswer {
    token: Option<String>,
    access_token: Option<String>,
    expires_in: Option<u64>,
}

/// A bearer token and when to stop using it.
#[derive(Clone, PartialEq, Eq)]
pub struct Token {
    pub value: String,
    pub valid_until: Instant,
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Token")
            .field("valid_until", &self.valid_until)
            .finish_non_exhaustive()
    }
}

impl Token {
    /// Reads a token server's JSON answer received at `now`.
    pub fn from_answer(body: &[u8], now: Instant) -> Result<Token, String> {
        let answer: TokenAnswer =
            serde_json::from_slice(body).map_err(|e| format!("answer is not token JSON: {e}"))?;
        let value = answer
            .token
            .filter(|t| !t.is_empty())
            .or(answer.access_token.filter(|t| !t.is_empty()))
            .ok_or_else(|| "answer holds neither token nor access_token".to_string())?;
        if value.bytes().any(|b| b.is_ascii_control() || b == b' ') {
            return Err("token contains spaces or control characters".to_string());
        }
        let seconds = answer
            .expires_in
            .filter(|s| *s > 0)
            .unwrap_or(DEFAULT_TOKEN_SECONDS)
            .min(MAX_TOKEN_SECONDS);
        let lifetime = Duration::from_secs(seconds).saturating_sub(TOKEN_EXPIRY_MARGIN);
        Ok(Token {
            value,
            valid_until: now + lifetime,
        })
    }

    pub fn is_fresh(&self, now: Instant) -> bool {
        now < self.valid_until
    }
}

/// The token request URL: the realm with `service` and `scope` added to its query.
pub fn token_url(realm: &str, service: Option<&str>, scope: &str) -> String {
    let mut url = realm.to_string();
    let mut separator = if realm.contains('?') { '&' } else { '?' };
    if let Some(service) = service {
        url.push(separator);
        url.push_str("service=");
        url.push_str(&percent_encode(service));
        separator = '&';
    }
    url.push(separator);
    url.push_str("scope=");
    url.push_str(&percent_encode(scope));
    url
}

/// Percent-encodes everything but RFC 3986 unreserved characters.
fn percent_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_challenge_parameters() {
        let c = Challenge::parse(
            r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/nginx:pull""#,
        )
        .unwrap();
        assert_eq!(c.scheme, "bearer");
        assert_eq!(c.param("realm"), Some("https://auth.docker.io/token"));
        assert_eq!(c.param("service"), Some("registry.docker.io"));
        assert_eq!(c.param("scope"), Some("repository:library/nginx:pull"));
    }

    #[test]
    fn basic_challenge_tokens_escapes_and_second_challenges() {
        let c = Challenge::parse(r#"Basic realm="a \"b\" c", charset=UTF-8, Bearer realm="x""#)
            .unwrap();
        assert_eq!(c.scheme, "basic");
        assert_eq!(
            c.params,
            vec![
                ("realm".to_string(), r#"a "b" c"#.to_string()),
                ("charset".to_string(), "UTF-8".to_string())
            ]
        );
        assert_eq!(Challenge::parse("Basic").unwrap().params, vec![]);
    }

    #[test]
    fn malformed_challenges_are_errors() {
        assert_eq!(Challenge::parse("  "), Err(ChallengeError::Empty));
        assert!(Challenge::parse(r#"Bearer realm="open"#).is_err());
        assert!(Challenge::parse(r#"Bearer realm="a"x"#).is_err());
        assert!(Challenge::parse("Bearer realm=\"a\\\u{19}\"").is_err());
        assert!(Challenge::parse(&"a".repeat(MAX_CHALLENGE_LEN + 1)).is_err());
    }

    #[test]
    fn render_parses_back() {
        let c = Challenge {
            scheme: "bearer".to_string(),
            params: vec![
                ("realm".to_string(), "https://x/t?a=\"b\"\\".to_string()),
                ("error".to_string(), "insufficient_scope".to_string()),
            ],
        };
        assert_eq!(Challenge::parse(&c.render()).unwrap(), c);
    }

    #[test]
    fn token_answers() {
        let now = Instant::now();
        let t = Token::from_answer(br#"{"token":"abc","expires_in":300}"#, now).unwrap();
        assert_eq!(t.value, "abc");
        assert_eq!(t.valid_until, now + Duration::from_secs(290));
        let t = Token::from_answer(br#"{"access_token":"def"}"#, now).unwrap();
        assert_eq!(t.value, "def");
        assert_eq!(t.valid_until, now + Duration::from_secs(50));
        assert!(Token::from_answer(br#"{"token":""}"#, now).is_err());
        assert!(Token::from_answer(b"<html>", now).is_err());
    }

    #[test]
    fn token_url_encodes_parameters() {
        assert_eq!(
            token_url("https://a/token", Some("reg svc"), "repository:x/y:pull"),
            "https://a/token?service=reg%20svc&scope=repository%3Ax%2Fy%3Apull"
        );
        assert_eq!(
            token_url("https://a/token?x=1", None, "s"),
            "https://a/token?x=1&scope=s"
        );
    }

    #[test]
    fn basic_header_and_redacted_debug() {
        let auth = BasicAuth {
            username: "u".to_string(),
            password: "p".to_string(),
        };
        assert_eq!(auth.header(), "Basic dTpw");
        let secret = BasicAuth {
            username: "u".to_string(),
            password: "hunter2".to_string(),
        };
        assert!(!format!("{secret:?}").contains("hunter2"));
        assert!(format!("{auth:?}").contains("<redacted>"));
    }
}
