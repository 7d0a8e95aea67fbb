//! JSON values and the text ZooKeeper's AdminServer writes for them: Jackson's
//! `ObjectMapper` with `INDENT_OUTPUT` (its `DefaultPrettyPrinter`).
//!
//! The layout, byte for byte: an object is `{` newline, each field on its own line as
//! `"key" : value` indented two spaces per enclosing object, then `}` on the parent's
//! indentation; an empty object is `{ }`. Arrays stay on one line, `[ a, b ]`, and do not
//! add indentation (an object inside one is indented as its parent's fields are); an
//! empty array is `[ ]`. No newline at the end.

use std::fmt::Write as _;

/// A JSON value. Objects keep their fields in insertion order, as the `LinkedHashMap`
/// behind a `CommandResponse` does.
#[derive(Debug, Clone, PartialEq)]
pub enum Json {
    Null,
    Bool(bool),
    Int(i64),
    /// A number already in Java's text form (`Double.toString`), e.g. `7.0`.
    Number(String),
    Str(String),
    Array(Vec<Json>),
    Object(Vec<(String, Json)>),
}

impl Json {
    pub fn str(s: impl Into<String>) -> Json {
        Json::Str(s.into())
    }

    /// A Java `double`, printed as Jackson prints it (`Double.toString`); NaN and the
    /// infinities, which JSON cannot hold, become strings.
    pub fn double(x: f64) -> Json {
        let text = crate::fourlw::java_double(x);
        if x.is_finite() {
            Json::Number(text)
        } else {
            Json::Str(text)
        }
    }

    /// Jackson's pretty-printed text of this value.
    pub fn pretty(&self) -> String {
        let mut out = String::new();
        self.write(&mut out, 0);
        out
    }

    fn write(&self, out: &mut String, depth: usize) {
        match self {
            Json::Null => out.push_str("null"),
            Json::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Json::Int(i) => {
                let _ = write!(out, "{i}");
            }
            Json::Number(n) => out.push_str(n),
            Json::Str(s) => write_string(out, s),
            Json::Array(items) if items.is_empty() => out.push_str("[ ]"),
            Json::Array(items) => {
                out.push_str("[ ");
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    item.write(out, depth);
                }
                out.push_str(" ]");
            }
            Json::Object(fields) if fields.is_empty() => out.push_str("{ }"),
            Json::Object(fields) => {
                out.push('{');
                for (i, (k, v)) in fields.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push('\n');
                    indent(out, depth + 1);
                    write_string(out, k);
                    out.push_str(" : ");
                    v.write(out, depth + 1);
                }
                out.push('\n');
                indent(out, depth);
                out.push('}');
            }
        }
    }
}

fn indent(out: &mut String, depth: usize) {
    for _ in 0..depth {
        out.push_str("  ");
    }
}

/// Jackson's string escaping: `"`, `\` and the control characters; everything else as
/// it is (the body is UTF-8).
fn write_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04X}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::Json;

    #[test]
    fn layout_is_jacksons() {
        let conn = Json::Object(vec![
            ("remote_socket_address".into(), Json::str("127.0.0.1:58486")),
            ("interest_ops".into(), Json::Int(1)),
        ]);
        let v = Json::Object(vec![
            ("avg".into(), Json::double(7.0)),
            ("connections".into(), Json::Array(vec![conn.clone(), conn])),
            ("secure_connections".into(), Json::Array(vec![])),
            ("ids".into(), Json::Array(vec![Json::Int(1), Json::Int(2)])),
            ("map".into(), Json::Object(vec![])),
            ("text".into(), Json::str("a\"b\\c\nd\u{1}")),
            ("command".into(), Json::str("stats")),
            ("error".into(), Json::Null),
        ]);
        let want = r#"{
  "avg" : 7.0,
  "connections" : [ {
    "remote_socket_address" : "127.0.0.1:58486",
    "interest_ops" : 1
  }, {
    "remote_socket_address" : "127.0.0.1:58486",
    "interest_ops" : 1
  } ],
  "secure_connections" : [ ],
  "ids" : [ 1, 2 ],
  "map" : { },
  "text" : "a\"b\\c\nd\u0001",
  "command" : "stats",
  "error" : null
}"#;
        assert_eq!(v.pretty(), want);
    }
}
