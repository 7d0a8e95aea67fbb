//! A reader for JAAS login configuration files (`java.security.auth.login.config`), the
//! syntax of the JDK's `sun.security.provider.ConfigFile`:
//!
//! ```text
//! file    = { section }
//! section = name "{" { entry } "}" ";"
//! entry   = class flag { option } ";"
//! flag    = "required" | "requisite" | "sufficient" | "optional"   (any case)
//! option  = word "=" ( word | quoted )
//! quoted  = '"' { char | "\" char } '"'   (also with single quotes)
//! word    = 1*( letter | digit | "." | "_" | "-" | "$" | "*" )
//! ```
//!
//! Whitespace separates tokens; `// ...` and `/* ... */` are comments. A section name
//! may appear once. `${property}` expansion in values is not done (there are no Java
//! system properties to expand): the text is kept as written.

use std::collections::BTreeMap;

/// One login module line of a section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The login module's class name.
    pub class: String,
    /// The control flag, lower case.
    pub flag: String,
    /// Its options; a repeated option keeps the last value, as the JDK's map does.
    pub options: BTreeMap<String, String>,
}

/// A parsed file: each section's entries, by section name (case-sensitive).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JaasConfig {
    pub sections: BTreeMap<String, Vec<Entry>>,
}

/// Why a JAAS file could not be read; `line` is 1-based.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {reason}")]
pub struct JaasError {
    pub line: usize,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Word(String),
    Quoted(String),
    Punct(char),
}

/// Splits the text into tokens with their line numbers.
fn tokenize(text: &str) -> Result<Vec<(usize, Token)>, JaasError> {
    let mut out = Vec::new();
    let mut chars = text.chars().peekable();
    let mut line = 1;
    while let Some(c) = chars.next() {
        match c {
            '\n' => line += 1,
            c if c.is_whitespace() => {}
            '/' if chars.peek() == Some(&'/') => {
                if chars.by_ref().any(|c| c == '\n') {
                    line += 1;
                }
            }
            '/' if chars.peek() == Some(&'*') => {
                chars.next();
                skip_block_comment(&mut chars, &mut line)?;
            }
            '"' | '\'' => {
                let start = line;
                let s = read_quoted(&mut chars, c, &mut line)?;
                out.push((start, Token::Quoted(s)));
            }
            '{' | '}' | ';' | '=' => out.push((line, Token::Punct(c))),
            c if is_word_char(c) => {
                let mut s = String::from(c);
                while let Some(n) = chars.next_if(|&n| is_word_char(n)) {
                    s.push(n);
                }
                out.push((line, Token::Word(s)));
            }
            c => return Err(error(line, format!("unexpected character {c:?}"))),
        }
    }
    Ok(out)
}

type Chars<'a> = std::iter::Peekable<std::str::Chars<'a>>;

fn error(line: usize, reason: impl Into<String>) -> JaasError {
    JaasError {
        line,
        reason: reason.into(),
    }
}

/// Skips a `/* ... */` comment whose opening has been read.
fn skip_block_comment(chars: &mut Chars, line: &mut usize) -> Result<(), JaasError> {
    let start = *line;
    // The opening `*` does not count: `/*/` stays open.
    let mut prev = ' ';
    loop {
        match chars.next() {
            None => return Err(error(start, "unterminated /* comment")),
            Some('/') if prev == '*' => return Ok(()),
            Some(c) => {
                if c == '\n' {
                    *line += 1;
                }
                prev = c;
            }
        }
    }
}

/// Reads a string quoted with `quote`, whose opening quote has been read; `\` escapes
/// the next character (`\n`, `\t`, `\r` are control characters).
fn read_quoted(chars: &mut Chars, quote: char, line: &mut usize) -> Result<String, JaasError> {
    let start = *line;
    let mut s = String::new();
    loop {
        match chars.next() {
            None => return Err(error(start, "unterminated quoted string")),
            Some(q) if q == quote => return Ok(s),
            Some('\\') => match chars.next() {
                None => return Err(error(start, "unterminated quoted string")),
                Some('n') => s.push('\n'),
                Some('t') => s.push('\t'),
                Some('r') => s.push('\r'),
                Some(e) => s.push(e),
            },
            Some(ch) => {
                if ch == '\n' {
                    *line += 1;
                }
                s.push(ch);
            }
        }
    }
}

fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '.' | '_' | '-' | '$' | '*') || !c.is_ascii()
}

/// Parses the text of a JAAS configuration file.
pub fn parse(text: &str) -> Result<JaasConfig, JaasError> {
    let tokens = tokenize(text)?;
    let mut p = Cursor { tokens, at: 0 };
    let mut cfg = JaasConfig::default();
    while let Some(line) = p.line() {
        let name = p.word("a section name")?;
        p.punct('{')?;
        let mut entries = Vec::new();
        while !p.is_punct('}') {
            entries.push(p.entry()?);
        }
        p.punct('}')?;
        p.punct(';')?;
        if cfg.sections.insert(name.clone(), entries).is_some() {
            return Err(JaasError {
                line,
                reason: format!("section {name} appears more than once"),
            });
        }
    }
    Ok(cfg)
}

struct Cursor {
    tokens: Vec<(usize, Token)>,
    at: usize,
}

impl Cursor {
    fn line(&self) -> Option<usize> {
        self.tokens.get(self.at).map(|(l, _)| *l)
    }

    /// The line of the last token, for errors at the end of the file.
    fn end_line(&self) -> usize {
        self.tokens.last().map_or(1, |(l, _)| *l)
    }

    fn fail<T>(&self, expected: &str) -> Result<T, JaasError> {
        let (line, found) = match self.tokens.get(self.at) {
            Some((l, Token::Word(w))) => (*l, format!("{w:?}")),
            Some((l, Token::Quoted(q))) => (*l, format!("the quoted string {q:?}")),
            Some((l, Token::Punct(c))) => (*l, format!("'{c}'")),
            None => (self.end_line(), "the end of the file".to_owned()),
        };
        Err(JaasError {
            line,
            reason: format!("expected {expected}, found {found}"),
        })
    }

    fn is_punct(&self, c: char) -> bool {
        matches!(self.tokens.get(self.at), Some((_, Token::Punct(p))) if *p == c)
    }

    fn punct(&mut self, c: char) -> Result<(), JaasError> {
        if self.is_punct(c) {
            self.at += 1;
            Ok(())
        } else {
            self.fail(&format!("'{c}'"))
        }
    }

    fn word(&mut self, what: &str) -> Result<String, JaasError> {
        match self.tokens.get(self.at) {
            Some((_, Token::Word(w))) => {
                let w = w.clone();
                self.at += 1;
                Ok(w)
            }
            _ => self.fail(what),
        }
    }

    fn value(&mut self) -> Result<String, JaasError> {
        match self.tokens.get(self.at) {
            Some((_, Token::Word(w) | Token::Quoted(w))) => {
                let w = w.clone();
                self.at += 1;
                Ok(w)
            }
            _ => self.fail("an option value"),
        }
    }

    fn entry(&mut self) -> Result<Entry, JaasError> {
        let class = self.word("a login module class name or '}'")?;
        let flag_line = self.line().unwrap_or_else(|| self.end_line());
        let flag = self.word("a control flag")?.to_ascii_lowercase();
        if !matches!(
            flag.as_str(),
            "required" | "requisite" | "sufficient" | "optional"
        ) {
            return Err(JaasError {
                line: flag_line,
                reason: format!(
                    "invalid control flag {flag:?} (required, requisite, sufficient or optional)"
                ),
            });
        }
        let mut options = BTreeMap::new();
        while !self.is_punct(';') {
            let key = self.word("an option name or ';'")?;
            self.punct('=')?;
            options.insert(key, self.value()?);
        }
        self.punct(';')?;
        Ok(Entry {
            class,
            flag,
            options,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_zookeeper_server_section() {
        let text = r#"
// The section ZooKeeper reads by default.
Server {
  org.apache.zookeeper.server.auth.DigestLoginModule required
  user_super="adminsecret"
  /* a comment
     over lines */
  user_bob="bob\"secret" debug=true;
};
Client { org.apache.zookeeper.server.auth.DigestLoginModule Optional
  username='bob' password="bobsecret"; };
"#;
        let cfg = parse(text).unwrap();
        let server = &cfg.sections["Server"];
        assert_eq!(server.len(), 1);
        assert_eq!(
            server[0].class,
            "org.apache.zookeeper.server.auth.DigestLoginModule"
        );
        assert_eq!(server[0].flag, "required");
        let opts: Vec<(&str, &str)> = server[0]
            .options
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(
            opts,
            [
                ("debug", "true"),
                ("user_bob", "bob\"secret"),
                ("user_super", "adminsecret")
            ]
        );
        let client = &cfg.sections["Client"];
        assert_eq!(client[0].flag, "optional");
        assert_eq!(client[0].options["username"], "bob");
    }

    #[test]
    fn empty_file_and_empty_section() {
        assert_eq!(parse("").unwrap(), JaasConfig::default());
        assert_eq!(parse("  // nothing\n").unwrap(), JaasConfig::default());
        let cfg = parse("Server { };").unwrap();
        assert!(cfg.sections["Server"].is_empty());
    }

    #[test]
    fn bad_files_name_the_line() {
        let cases = [
            ("Server {\n  M required a=\"b\";\n};", None),
            (
                "Server {\n  M required a=\"b\";\n}",
                Some("line 3: expected ';', found the end of the file"),
            ),
            (
                "Server {\n  M required a=\"b\"\n};",
                Some("line 3: expected an option name or ';', found '}'"),
            ),
            (
                "Server {\n  M mandatory;\n};",
                Some("line 2: invalid control flag \"mandatory\" (required, requisite, sufficient or optional)"),
            ),
            (
                "Server {\n  M required a=;\n};",
                Some("line 2: expected an option value, found ';'"),
            ),
            (
                "Server {\n  M required a=\"b;\n};",
                Some("line 2: unterminated quoted string"),
            ),
            ("/* open", Some("line 1: unterminated /* comment")),
            (
                "Server { M required; };\nServer { M required; };",
                Some("line 2: section Server appears more than once"),
            ),
            ("Server { M required a=b c };", Some("line 1: expected '=', found '}'")),
            ("{ };", Some("line 1: expected a section name, found '{'")),
            (
                "// c\n/* a\n b */ Server {\n M required x='a\nb';\n M bad; };",
                Some("line 6: invalid control flag \"bad\" (required, requisite, sufficient or optional)"),
            ),
            ("Server { M required a=b; } ;\n@", Some("line 2: unexpected character '@'")),
        ];
        for (text, want) in cases {
            let got = parse(text).map(|_| ()).map_err(|e| e.to_string());
            assert_eq!(got.err().as_deref(), want, "{text}");
        }
    }
}
