//! Splitting a shell line into words, parsing a command's flags the way Apache Commons CLI's
//! `DefaultParser` does for zkCli, and ZooKeeper's client-side path check (`PathUtils`).

use super::CliError;

/// Splits a line like zkCli's `ARGS_PATTERN` (`\s*([^"']\S*|"[^"]*"|'[^']*')\s*`): words
/// end at whitespace, a quoted word keeps its spaces and loses its quotes, and a quote that
/// is never closed is skipped.
pub fn tokenize(line: &str) -> Vec<String> {
    let chars: Vec<char> = line.chars().collect();
    let mut words = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if is_java_space(c) {
            i += 1;
        } else if c == '"' || c == '\'' {
            match chars[i + 1..].iter().position(|&d| d == c) {
                Some(len) => {
                    words.push(chars[i + 1..i + 1 + len].iter().collect());
                    i += len + 2;
                }
                None => i += 1,
            }
        } else {
            let start = i;
            while i < chars.len() && !is_java_space(chars[i]) {
                i += 1;
            }
            words.push(chars[start..i].iter().collect());
        }
    }
    words
}

/// Java regex `\s`: space, tab, newline, vertical tab, form feed, carriage return.
fn is_java_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\x0b' | '\x0c' | '\r')
}

/// The flags a command accepts: each a letter and whether it takes a value.
pub type Spec = &'static [(char, bool)];

/// A parsed command: positional words (the command name first) and the flags given.
#[derive(Debug, Default)]
pub struct CommandLine {
    pub args: Vec<String>,
    flags: Vec<(char, Option<String>)>,
}

impl CommandLine {
    pub fn has(&self, flag: char) -> bool {
        self.flags.iter().any(|(f, _)| *f == flag)
    }

    pub fn value(&self, flag: char) -> Option<&str> {
        self.flags
            .iter()
            .find(|(f, _)| *f == flag)
            .and_then(|(_, v)| v.as_deref())
    }
}

/// Parses like Commons CLI's `DefaultParser` without stopping at the first positional word:
/// flags may come anywhere, `-se` bursts into `-s -e`, `-v5` carries its value, and a value
/// may be a negative number. Errors read as zkCli prints the `ParseException`.
pub fn parse(spec: Spec, words: &[String]) -> Result<CommandLine, CliError> {
    let mut cl = CommandLine::default();
    let mut pending: Option<char> = None;
    let mut rest_are_args = false;
    for word in words {
        if rest_are_args {
            cl.args.push(word.clone());
            continue;
        }
        if let Some(flag) = pending {
            if !is_option(spec, word) || is_negative_number(word) {
                cl.flags.push((flag, Some(word.clone())));
                pending = None;
                continue;
            }
            return Err(missing_argument(flag));
        }
        if word == "--" {
            rest_are_args = true;
        } else if word == "-" || !word.starts_with('-') {
            cl.args.push(word.clone());
        } else if word.starts_with("--") {
            return Err(unrecognized(word));
        } else {
            pending = short_options(spec, word, &mut cl)?;
        }
    }
    match pending {
        Some(flag) => Err(missing_argument(flag)),
        None => Ok(cl),
    }
}

/// Handles one `-x...` word; returns the flag still waiting for its value.
fn short_options(spec: Spec, word: &str, cl: &mut CommandLine) -> Result<Option<char>, CliError> {
    let body: Vec<char> = word.chars().skip(1).collect();
    for (i, c) in body.iter().enumerate() {
        let Some(&(_, takes_value)) = spec.iter().find(|(f, _)| f == c) else {
            return Err(unrecognized(word));
        };
        if takes_value {
            if i + 1 < body.len() {
                cl.flags.push((*c, Some(body[i + 1..].iter().collect())));
                return Ok(None);
            }
            return Ok(Some(*c));
        }
        cl.flags.push((*c, None));
    }
    Ok(None)
}

fn is_option(spec: Spec, word: &str) -> bool {
    let mut chars = word.chars();
    chars.next() == Some('-')
        && chars
            .next()
            .is_some_and(|c| spec.iter().any(|(f, _)| *f == c))
}

fn is_negative_number(word: &str) -> bool {
    word.starts_with('-') && word[1..].parse::<f64>().is_ok()
}

fn unrecognized(word: &str) -> CliError {
    CliError::new(format!(
        "org.apache.commons.cli.UnrecognizedOptionException: Unrecognized option: {word}"
    ))
}

fn missing_argument(flag: char) -> CliError {
    CliError::new(format!(
        "org.apache.commons.cli.MissingArgumentException: Missing argument for option: {flag}"
    ))
}

/// ZooKeeper's `PathUtils.validatePath`, with its messages; a sequential create checks the
/// path with a digit appended, as the Java client does.
pub fn validate_path(path: &str) -> Result<(), CliError> {
    if path.is_empty() {
        return Err(CliError::new("Path length must be > 0"));
    }
    if !path.starts_with('/') {
        return Err(CliError::new("Path must start with / character"));
    }
    if path.len() == 1 {
        return Ok(());
    }
    if path.ends_with('/') {
        return Err(CliError::new("Path must not end with / character"));
    }
    // Java indexes UTF-16 units; paths outside the BMP are rare enough to index by char.
    let chars: Vec<char> = path.chars().collect();
    let mut reason = None;
    for i in 1..chars.len() {
        let (c, last) = (chars[i], chars[i - 1]);
        let ends_here = i + 1 == chars.len() || chars[i + 1] == '/';
        if c == '\0' {
            reason = Some(format!("null character not allowed @{i}"));
        } else if c == '/' && last == '/' {
            reason = Some(format!("empty node name specified @{i}"));
        } else if c == '.' && last == '.' {
            if chars[i - 2] == '/' && ends_here {
                reason = Some(format!("relative paths not allowed @{i}"));
            }
        } else if c == '.' {
            if last == '/' && ends_here {
                reason = Some(format!("relative paths not allowed @{i}"));
            }
        } else if matches!(c, '\u{1}'..='\u{1f}' | '\u{7f}'..='\u{9f}' | '\u{e000}'..='\u{f8ff}' | '\u{fff0}'..='\u{ffff}')
            || c > '\u{ffff}'
        {
            reason = Some(format!("invalid character @{i}"));
        }
        if let Some(reason) = reason {
            return Err(CliError::new(format!(
                "Invalid path string \"{path}\" caused by {reason}"
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<String> {
        tokenize(s)
    }

    #[test]
    fn tokenize_like_zkcli() {
        assert_eq!(
            words("  create /a 'x y'  \"z\""),
            ["create", "/a", "x y", "z"]
        );
        assert_eq!(words("set /a \"unclosed"), ["set", "/a", "unclosed"]);
        assert_eq!(words("a\"b c\""), ["a\"b", "c\""]);
    }

    #[test]
    fn flags_anywhere_bursts_and_values() {
        let spec: Spec = &[('s', false), ('e', false), ('v', true)];
        let cl = parse(spec, &words("create /a -se x -v -1")).unwrap();
        assert_eq!(cl.args, ["create", "/a", "x"]);
        assert!(cl.has('s') && cl.has('e'));
        assert_eq!(cl.value('v'), Some("-1"));
        assert_eq!(parse(spec, &words("x -v5")).unwrap().value('v'), Some("5"));
        let e = parse(spec, &words("ls -x /")).unwrap_err();
        assert!(
            e.message.ends_with("Unrecognized option: -x"),
            "{}",
            e.message
        );
        let e = parse(spec, &words("set /a -v")).unwrap_err();
        assert!(e.message.ends_with("Missing argument for option: v"));
    }

    #[test]
    fn paths_checked_like_pathutils() {
        assert!(validate_path("/").is_ok());
        assert!(validate_path("/a/b.c/..d").is_ok());
        let msg = |p: &str| validate_path(p).unwrap_err().message;
        assert_eq!(msg("a"), "Path must start with / character");
        assert_eq!(msg("/a/"), "Path must not end with / character");
        assert_eq!(
            msg("/a//b"),
            "Invalid path string \"/a//b\" caused by empty node name specified @3"
        );
        assert_eq!(
            msg("/a/./b"),
            "Invalid path string \"/a/./b\" caused by relative paths not allowed @3"
        );
    }
}
