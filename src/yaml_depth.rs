//! A cheap bound on the nesting depth of a YAML document, checked before the document is
//! handed to serde_norway. The YAML scanner under serde_norway does work proportional to the
//! flow nesting depth for every token, so 100,000 nested `[` take it tens of seconds before
//! its own recursion limit is reached; this linear pre-scan refuses such input at once.
//!
//! The scan over-estimates rather than under-estimates: it counts open flow collections
//! (`[`, `{`) outside quoted scalars, comments and block scalars, plus the block
//! indentation levels and compact `- `/`? ` entries of the current line, plus one for the
//! node the line starts. A real document is never deeper than the count, so a document
//! the scan accepts at [`MAX_DEPTH`] stays inside the decoder's own limit of 128.

use std::fmt;

/// Deepest nesting accepted: far beyond any Kubernetes object or configuration, and below
/// serde_norway's and serde_json's recursion limit of 128.
pub const MAX_DEPTH: usize = 100;

/// The document nests deeper than [`MAX_DEPTH`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TooDeep {
    /// 1-based line where the limit was passed.
    pub line: usize,
}

impl fmt::Display for TooDeep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the document nests collections deeper than {MAX_DEPTH} levels (line {})",
            self.line
        )
    }
}

impl std::error::Error for TooDeep {}

/// Refuses `text` when its nesting may exceed [`MAX_DEPTH`]; linear in its length.
pub fn check(text: &str) -> Result<(), TooDeep> {
    let mut scan = Scan::default();
    for (index, line) in text.split('\n').enumerate() {
        scan.line(line.as_bytes())
            .map_err(|()| TooDeep { line: index + 1 })?;
    }
    Ok(())
}

#[derive(Default)]
struct Scan {
    /// Columns of the open block collections, innermost last.
    indents: Vec<usize>,
    /// Open flow collections.
    flow: usize,
    /// Inside a quoted scalar that goes on over lines: its quote.
    quote: Option<u8>,
    /// Inside a block scalar (`|`, `>`): the indentation of the line that started it; its
    /// content is every following line indented further (or blank).
    block_scalar: Option<usize>,
}

impl Scan {
    fn line(&mut self, line: &[u8]) -> Result<(), ()> {
        let indent = line.iter().take_while(|byte| **byte == b' ').count();
        let rest = line.get(indent..).unwrap_or_default();
        let blank = rest.iter().all(u8::is_ascii_whitespace);
        if let Some(parent) = self.block_scalar {
            if blank || indent > parent {
                return Ok(());
            }
            self.block_scalar = None;
        }
        let mut start = 0;
        if self.quote.is_none() && self.flow == 0 {
            if blank || rest.first() == Some(&b'#') {
                return Ok(());
            }
            if indent == 0 && (rest.starts_with(b"---") || rest.starts_with(b"...")) {
                self.indents.clear();
            }
            while self.indents.last().is_some_and(|top| *top > indent) {
                self.indents.pop();
            }
            // Compact entries (`- - x`, `? - x`) each open a collection on this line.
            let mut column = indent;
            loop {
                self.open(column)?;
                match line.get(column..) {
                    Some([b'-' | b'?', b' ', ..]) => {
                        column += 1;
                        column += line
                            .get(column..)
                            .unwrap_or_default()
                            .iter()
                            .take_while(|byte| **byte == b' ')
                            .count();
                    }
                    _ => break,
                }
            }
            start = column;
        }
        self.rest(line, start, indent)
    }

    /// A block node starts at `column`: a level unless one already opened there.
    fn open(&mut self, column: usize) -> Result<(), ()> {
        if self.indents.last().is_none_or(|top| *top < column) {
            self.indents.push(column);
        }
        self.within_limit()
    }

    fn within_limit(&self) -> Result<(), ()> {
        if self.indents.len() + self.flow > MAX_DEPTH {
            Err(())
        } else {
            Ok(())
        }
    }

    /// Quotes, comments, flow brackets and block scalar headers from `start` on.
    fn rest(&mut self, line: &[u8], start: usize, indent: usize) -> Result<(), ()> {
        let mut previous = if start == 0 { None } else { Some(b' ') };
        let mut bytes = line.iter().skip(start).copied().peekable();
        while let Some(byte) = bytes.next() {
            // A token starts after whitespace or an indicator; elsewhere `[`, `#` or a
            // quote is part of a plain scalar (`a[0]`, `it's`, `x#y`).
            let token_start = previous.is_none_or(|p| b" \t[{,:".contains(&p));
            match (self.quote, byte) {
                (Some(b'"'), b'\\') => {
                    bytes.next();
                }
                (Some(b'\''), b'\'') if bytes.peek() == Some(&b'\'') => {
                    bytes.next();
                }
                (Some(quote), _) if byte == quote => self.quote = None,
                (Some(_), _) => {}
                (None, b'#') if previous.is_none_or(|p| p == b' ' || p == b'\t') => {
                    return Ok(());
                }
                (None, b'"' | b'\'') if token_start => self.quote = Some(byte),
                (None, b'[' | b'{') if token_start || self.flow > 0 => {
                    self.flow += 1;
                    self.within_limit()?;
                }
                (None, b']' | b'}') if self.flow > 0 => self.flow -= 1,
                (None, b'|' | b'>') if token_start && self.flow == 0 => {
                    self.block_scalar = Some(indent);
                    return Ok(());
                }
                _ => {}
            }
            previous = Some(byte);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_documents_pass() {
        for text in [
            "",
            "a: 1\n",
            "apiVersion: v1\nkind: Pod\nspec:\n  containers:\n    - name: c\n      image: x\n      args: [\"[\", '{', a[0]]\n",
            "key: |\n  [[[[[[\n  {{{{\nother: >\n  ]]]\n",
            "# [[[[ comment\na: \"[[[ \\\" [[[\"\nb: 'it''s [[['\nc: it's x#[[\n",
            "{\"kind\": \"AdmissionReview\", \"request\": {\"object\": {\"a\": [1, [2, {\"b\": []}]]}}}",
            "---\na: 1\n---\nb: 2\n",
        ] {
            assert_eq!(check(text), Ok(()), "{text}");
        }
    }

    #[test]
    fn a_hundred_levels_pass_and_deeper_is_refused() {
        let flow = |depth: usize| format!("{}{}", "[".repeat(depth), "]".repeat(depth));
        // One level for the line's node, one per bracket.
        assert_eq!(check(&flow(MAX_DEPTH - 1)), Ok(()));
        assert_eq!(check(&flow(100_000)), Err(TooDeep { line: 1 }));
        let compact = format!("a: 1\n{}x\n", "- ".repeat(100_000));
        assert_eq!(check(&compact), Err(TooDeep { line: 2 }));
        let indented: String = (0..200)
            .map(|level| format!("{}k:\n", " ".repeat(level)))
            .collect();
        assert_eq!(
            check(&indented),
            Err(TooDeep {
                line: MAX_DEPTH + 1
            })
        );
        let multi_line = format!("a:\n{}\n", "[\n".repeat(200));
        assert!(check(&multi_line).is_err());
        let in_object = format!("{{\"request\": {{\"object\": {}}}}}", flow(100_000));
        assert!(check(&in_object).is_err());
    }

    #[test]
    fn whatever_the_scan_accepts_the_decoder_does_not_refuse_for_depth() {
        for depth in [50, MAX_DEPTH - 1, MAX_DEPTH, 127, 200] {
            for text in [
                format!("{}{}", "[".repeat(depth), "]".repeat(depth)),
                (0..depth)
                    .map(|level| format!("{}k:\n", " ".repeat(level)))
                    .collect(),
                format!("{}x\n", "- ".repeat(depth)),
            ] {
                if check(&text).is_ok() {
                    let decoded = serde_norway::from_str::<serde_norway::Value>(&text);
                    assert!(decoded.is_ok(), "depth {depth}: {decoded:?}");
                }
            }
        }
    }
}
