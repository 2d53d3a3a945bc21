//! Prometheus text exposition format 0.0.4 encoder: `# HELP`/`# TYPE` headers, samples with
//! escaped label values, and numbers spelled so that Prometheus parses them back exactly.

use std::fmt::Write as _;

/// The metric types this encoder announces in `# TYPE` lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricType {
    Counter,
    Gauge,
    Histogram,
}

impl MetricType {
    fn as_str(self) -> &'static str {
        match self {
            MetricType::Counter => "counter",
            MetricType::Gauge => "gauge",
            MetricType::Histogram => "histogram",
        }
    }
}

/// A sample value: counts are written as integers, everything else as a float.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Value {
    Int(u64),
    Float(f64),
}

/// Appends exposition text to a `String`. Writing to a `String` cannot fail, so no method
/// returns an error.
pub struct Encoder<'a> {
    out: &'a mut String,
}

impl<'a> Encoder<'a> {
    pub fn new(out: &'a mut String) -> Encoder<'a> {
        Encoder { out }
    }

    /// Writes the `# HELP` and `# TYPE` lines of a family. Families are always announced,
    /// even before their first sample, so that dashboards and alerts can find them.
    pub fn family(&mut self, name: &str, help: &str, kind: MetricType) {
        self.out.push_str("# HELP ");
        self.out.push_str(name);
        self.out.push(' ');
        escape_help(self.out, help);
        self.out.push_str("\n# TYPE ");
        self.out.push_str(name);
        self.out.push(' ');
        self.out.push_str(kind.as_str());
        self.out.push('\n');
    }

    /// Writes one sample line: `name{n1="v1",...,le="..."} value`. `names` and `values` are
    /// paired by position; `le` is the histogram bucket bound, written last like the
    /// official clients do.
    pub fn sample<V: AsRef<str>>(
        &mut self,
        name: &str,
        names: &[&str],
        values: &[V],
        le: Option<f64>,
        value: Value,
    ) {
        self.out.push_str(name);
        let mut pairs = names.iter().zip(values).peekable();
        if pairs.peek().is_some() || le.is_some() {
            self.out.push('{');
            let mut first = true;
            for (label, label_value) in pairs {
                if !first {
                    self.out.push(',');
                }
                first = false;
                self.out.push_str(label);
                self.out.push_str("=\"");
                escape_label_value(self.out, label_value.as_ref());
                self.out.push('"');
            }
            if let Some(bound) = le {
                if !first {
                    self.out.push(',');
                }
                self.out.push_str("le=\"");
                write_float(self.out, bound);
                self.out.push('"');
            }
            self.out.push('}');
        }
        self.out.push(' ');
        match value {
            Value::Int(n) => {
                let _ = write!(self.out, "{n}");
            }
            Value::Float(x) => write_float(self.out, x),
        }
        self.out.push('\n');
    }
}

/// Label values escape backslash, double quote and line feed (and nothing else).
pub fn escape_label_value(out: &mut String, value: &str) {
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            other => out.push(other),
        }
    }
}

/// HELP texts escape backslash and line feed only.
fn escape_help(out: &mut String, help: &str) {
    for c in help.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            other => out.push(other),
        }
    }
}

/// Writes a float the way Prometheus parses it back to the same bits: `+Inf`, `-Inf`, `NaN`,
/// plain decimals (`0.0005`, `1`, `2.5`) in the usual range, and the shortest round-trip
/// scientific form (`1.5e-7`, `1e300`) outside it so huge or tiny values stay short.
pub fn write_float(out: &mut String, x: f64) {
    if x.is_nan() {
        out.push_str("NaN");
    } else if x == f64::INFINITY {
        out.push_str("+Inf");
    } else if x == f64::NEG_INFINITY {
        out.push_str("-Inf");
    } else if x == 0.0 || (1e-5..1e15).contains(&x.abs()) {
        let _ = write!(out, "{x}");
    } else {
        let _ = write!(out, "{x:e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn float(x: f64) -> String {
        let mut s = String::new();
        write_float(&mut s, x);
        s
    }

    /// Parses a float the way Prometheus does for the spellings we emit.
    fn parse_back(s: &str) -> f64 {
        match s {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            "NaN" => f64::NAN,
            other => other.parse().unwrap(),
        }
    }

    #[test]
    fn floats_are_spelled_as_prometheus_expects() {
        assert_eq!(float(f64::INFINITY), "+Inf");
        assert_eq!(float(f64::NEG_INFINITY), "-Inf");
        assert_eq!(float(f64::NAN), "NaN");
        assert_eq!(float(0.0), "0");
        assert_eq!(float(1.0), "1");
        assert_eq!(float(0.0005), "0.0005");
        assert_eq!(float(2.5), "2.5");
        assert_eq!(float(0.1 + 0.2), "0.30000000000000004");
        assert_eq!(float(1_700_000_000.25), "1700000000.25");
        assert_eq!(float(1.5e-7), "1.5e-7");
        assert_eq!(float(1e300), "1e300");
        assert_eq!(float(-3.0), "-3");
    }

    #[test]
    fn floats_round_trip_exactly() {
        // A deterministic spread of bit patterns (xorshift) plus edge cases.
        let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut samples = vec![
            f64::MIN_POSITIVE,
            f64::MAX,
            f64::MIN,
            f64::EPSILON,
            5e-324,
            1e-5,
            9.999_999_999_999_999e14,
            1e15,
            123_456_789_012_345.67,
        ];
        for _ in 0..20_000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            samples.push(f64::from_bits(state));
        }
        for x in samples {
            let text = float(x);
            let back = parse_back(&text);
            if x.is_nan() {
                assert!(back.is_nan(), "{x:?} written as {text}");
            } else {
                assert_eq!(back.to_bits(), x.to_bits(), "{x:?} written as {text}");
            }
            assert!(text.len() <= 24, "{x:?} written as long text {text}");
        }
    }

    #[test]
    fn label_values_escape_backslash_quote_and_newline() {
        let mut s = String::new();
        escape_label_value(&mut s, "a\"b\\c\nd\té");
        assert_eq!(s, "a\\\"b\\\\c\\nd\té");
    }

    #[test]
    fn samples_and_headers_have_the_expected_shape() {
        let mut s = String::new();
        let mut enc = Encoder::new(&mut s);
        enc.family("x_total", "Things\\counted\nhere", MetricType::Counter);
        enc.sample("x_total", &[], &[] as &[&str], None, Value::Int(3));
        enc.sample("x_total", &["a", "b"], &["1", "q\""], None, Value::Int(0));
        enc.sample("h_bucket", &["a"], &["1"], Some(0.25), Value::Int(7));
        enc.sample(
            "h_bucket",
            &[],
            &[] as &[&str],
            Some(f64::INFINITY),
            Value::Int(9),
        );
        enc.sample("g", &[], &[] as &[&str], None, Value::Float(0.5));
        assert_eq!(
            s,
            "# HELP x_total Things\\\\counted\\nhere\n\
             # TYPE x_total counter\n\
             x_total 3\n\
             x_total{a=\"1\",b=\"q\\\"\"} 0\n\
             h_bucket{a=\"1\",le=\"0.25\"} 7\n\
             h_bucket{le=\"+Inf\"} 9\n\
             g 0.5\n"
        );
    }
}
