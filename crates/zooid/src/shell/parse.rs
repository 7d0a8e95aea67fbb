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

/// One option of a command, as zkCli declares it to Commons CLI: its name (one letter,
/// or a word such as reconfig's `-file`), whether it takes a value, and its description.
#[derive(Debug)]
pub struct Opt {
    pub name: &'static str,
    pub arg: bool,
    pub desc: &'static str,
}

/// An option without a value.
pub const fn flag(name: &'static str, desc: &'static str) -> Opt {
    Opt {
        name,
        arg: false,
        desc,
    }
}

/// An option taking a value.
pub const fn valued(name: &'static str, desc: &'static str) -> Opt {
    Opt {
        name,
        arg: true,
        desc,
    }
}

/// Whether a command's options form one Commons CLI `OptionGroup` (at most one of them may
/// be given) and whether that group is required; the quota commands use one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Group {
    None,
    Optional,
    Required,
}

/// The options a command accepts.
#[derive(Debug)]
pub struct Spec {
    pub opts: &'static [Opt],
    pub group: Group,
}

impl Spec {
    fn get(&self, name: &str) -> Option<&'static Opt> {
        self.opts.iter().find(|o| o.name == name)
    }

    /// `DefaultParser.isShortOption`: `-name`, `-name=value`, or a known first letter.
    fn is_option(&self, word: &str) -> bool {
        let Some(body) = word.strip_prefix('-').filter(|b| !b.is_empty()) else {
            return false;
        };
        let name = body.split_once('=').map_or(body, |(n, _)| n);
        self.get(name).is_some()
            || name
                .chars()
                .next()
                .is_some_and(|c| self.letter(c).is_some())
    }

    fn letter(&self, c: char) -> Option<&'static Opt> {
        self.opts
            .iter()
            .find(|o| o.name.len() == c.len_utf8() && o.name.starts_with(c))
    }
}

/// A parsed command: positional words (the command name first) and the options given.
#[derive(Debug, Default)]
pub struct CommandLine {
    pub args: Vec<String>,
    opts: Vec<(&'static str, Option<String>)>,
}

impl CommandLine {
    pub fn has(&self, name: &str) -> bool {
        self.opts.iter().any(|(o, _)| *o == name)
    }

    /// The first value given for the option, as `CommandLine.getOptionValue`.
    pub fn value(&self, name: &str) -> Option<&str> {
        self.opts
            .iter()
            .find(|(o, _)| *o == name)
            .and_then(|(_, v)| v.as_deref())
    }
}

/// Parses like Commons CLI 1.5's `DefaultParser` (zkCli's parser, without stopping at the
/// first positional word): options may come anywhere, `-se` bursts into `-s -e`, `-v5` and
/// `-v=5` carry their value, a value may look like an unknown option or a negative number,
/// `--` ends the options, and a group allows one of its options. Errors read as zkCli
/// prints the `ParseException`.
pub fn parse(spec: &Spec, words: &[String]) -> Result<CommandLine, CliError> {
    let mut p = Parser {
        spec,
        cl: CommandLine::default(),
        pending: None,
        selected: None,
    };
    let mut rest_are_args = false;
    for word in words {
        if rest_are_args {
            p.cl.args.push(word.clone());
        } else if word == "--" {
            rest_are_args = true;
        } else if p.pending.is_some() && (!spec.is_option(word) || is_negative_number(word)) {
            p.value(word);
        } else if word.starts_with("--") {
            return Err(unrecognized(word));
        } else if word.len() > 1 && word.starts_with('-') {
            p.option_word(word)?;
        } else {
            p.cl.args.push(word.clone());
        }
    }
    p.check_pending()?;
    if spec.group == Group::Required && p.selected.is_none() {
        let names: Vec<String> = spec
            .opts
            .iter()
            .map(|o| format!("-{} {}", o.name, o.desc))
            .collect();
        return Err(CliError::new(format!(
            "org.apache.commons.cli.MissingOptionException: Missing required option: [{}]",
            names.join(", ")
        )));
    }
    Ok(p.cl)
}

struct Parser<'a> {
    spec: &'a Spec,
    cl: CommandLine,
    /// The option still waiting for its value.
    pending: Option<&'static Opt>,
    /// The option chosen from the group.
    selected: Option<&'static str>,
}

impl Parser<'_> {
    /// `handleShortAndLongOption` for a `-...` word (zkCli declares no long options).
    fn option_word(&mut self, word: &str) -> Result<(), CliError> {
        let body = &word[1..];
        match body.split_once('=') {
            None => match self.spec.get(body) {
                Some(o) => self.option(o),
                None => self.burst(word),
            },
            Some((name, value)) => match self.spec.get(name).filter(|o| o.arg) {
                Some(o) if name.chars().count() == 1 => {
                    self.option(o)?;
                    self.value(value);
                    Ok(())
                }
                _ => Err(unrecognized(word)),
            },
        }
    }

    /// `handleConcatenatedOptions`: `-abc` is `-a -b -c` until an option takes a value,
    /// which is the rest of the word.
    fn burst(&mut self, word: &str) -> Result<(), CliError> {
        for (i, c) in word.char_indices().skip(1) {
            let Some(o) = self.spec.letter(c) else {
                return Err(unrecognized(word));
            };
            self.option(o)?;
            let rest = &word[i + c.len_utf8()..];
            if o.arg && !rest.is_empty() {
                self.value(rest);
                return Ok(());
            }
        }
        Ok(())
    }

    /// `handleOption`: the option before must have had its value; a group allows one.
    fn option(&mut self, o: &'static Opt) -> Result<(), CliError> {
        self.check_pending()?;
        if self.spec.group != Group::None {
            match self.selected {
                Some(s) if s != o.name => {
                    return Err(CliError::new(format!(
                        "org.apache.commons.cli.AlreadySelectedException: The option '{}' was \
                         specified but an option from this group has already been selected: '{s}'",
                        o.name
                    )))
                }
                _ => self.selected = Some(o.name),
            }
        }
        self.cl.opts.push((o.name, None));
        self.pending = o.arg.then_some(o);
        Ok(())
    }

    fn value(&mut self, value: &str) {
        if let Some(last) = self.cl.opts.last_mut() {
            last.1 = Some(value.to_owned());
        }
        self.pending = None;
    }

    fn check_pending(&self) -> Result<(), CliError> {
        match self.pending {
            Some(o) => Err(CliError::new(format!(
                "org.apache.commons.cli.MissingArgumentException: Missing argument for option: {}",
                o.name
            ))),
            None => Ok(()),
        }
    }
}

fn is_negative_number(word: &str) -> bool {
    word.starts_with('-') && word[1..].parse::<f64>().is_ok()
}

fn unrecognized(word: &str) -> CliError {
    CliError::new(format!(
        "org.apache.commons.cli.UnrecognizedOptionException: Unrecognized option: {word}"
    ))
}

/// `HelpFormatter.printOptions` with its defaults: one line per option in name order
/// (ignoring case), `-name` and `<arg>` padded to the longest, three spaces, the
/// description. zkCli's descriptions are all shorter than the 74-column width.
pub fn options_help(spec: &Spec) -> String {
    let mut opts: Vec<&Opt> = spec.opts.iter().collect();
    opts.sort_by_key(|o| o.name.to_lowercase());
    let heads: Vec<String> = opts
        .iter()
        .map(|o| format!(" -{}{}", o.name, if o.arg { " <arg>" } else { "" }))
        .collect();
    let width = heads.iter().map(String::len).max().unwrap_or(0);
    let lines: Vec<String> = opts
        .iter()
        .zip(&heads)
        .map(|(o, h)| format!("{h:width$}   {}", o.desc).trim_end().to_owned())
        .collect();
    lines.join("\n")
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

    const SPEC: Spec = Spec {
        opts: &[flag("s", "stat"), flag("e", "e"), valued("v", "version")],
        group: Group::None,
    };

    /// What `parse` gives, in the form a Commons CLI 1.5 test program printed for the same
    /// words: `args=[...] opt=value...` or the exception.
    fn show(spec: &Spec, line: &str) -> String {
        match parse(spec, &words(line)) {
            Ok(cl) => {
                let mut s = format!("args={:?}", cl.args);
                for (o, v) in &cl.opts {
                    s.push_str(&format!(" {o}={}", v.as_deref().unwrap_or("null")));
                }
                s
            }
            Err(e) => e.message.replace("org.apache.commons.cli.", ""),
        }
    }

    #[test]
    fn options_like_commons_cli() {
        let cases = [
            (
                "create /a -se x -v -1",
                r#"args=["create", "/a", "x"] s=null e=null v=-1"#,
            ),
            ("x -v5", r#"args=["x"] v=5"#),
            ("x -v=5", r#"args=["x"] v=5"#),
            ("x -v=", r#"args=["x"] v="#),
            ("x -sv5", r#"args=["x"] s=null v=5"#),
            ("x -vs", r#"args=["x"] v=s"#),
            ("x -v -x", r#"args=["x"] v=-x"#),
            ("x -v --x", r#"args=["x"] v=--x"#),
            ("x -v -5x", r#"args=["x"] v=-5x"#),
            ("x -- -s", r#"args=["x", "-s"]"#),
            ("x -", r#"args=["x", "-"]"#),
            (
                "x -s=x",
                "UnrecognizedOptionException: Unrecognized option: -s=x",
            ),
            (
                "x -sv=5",
                "UnrecognizedOptionException: Unrecognized option: -sv=5",
            ),
            (
                "x --v 3",
                "UnrecognizedOptionException: Unrecognized option: --v",
            ),
            (
                "ls -x /",
                "UnrecognizedOptionException: Unrecognized option: -x",
            ),
            (
                "x -v -s",
                "MissingArgumentException: Missing argument for option: v",
            ),
            (
                "x -v --",
                "MissingArgumentException: Missing argument for option: v",
            ),
            (
                "set /a -v",
                "MissingArgumentException: Missing argument for option: v",
            ),
        ];
        for (line, want) in cases {
            assert_eq!(show(&SPEC, line), want, "{line}");
        }
    }

    #[test]
    fn word_options_and_groups_like_commons_cli() {
        const RECONFIG: Spec = Spec {
            opts: &[
                flag("s", "stats"),
                valued("v", "v"),
                valued("file", "f"),
                valued("members", "m"),
            ],
            group: Group::None,
        };
        const QUOTA: Spec = Spec {
            opts: &[
                valued("n", "num soft quota"),
                valued("b", "bytes soft quota"),
                valued("N", "num hard quota"),
                valued("B", "bytes hard quota"),
            ],
            group: Group::Required,
        };
        let cases = [
            (&RECONFIG, "r -file x", r#"args=["r"] file=x"#),
            (&RECONFIG, "r -sv 3", r#"args=["r"] s=null v=3"#),
            (
                &RECONFIG,
                "r -fil x",
                "UnrecognizedOptionException: Unrecognized option: -fil",
            ),
            (
                &RECONFIG,
                "r -file=x",
                "UnrecognizedOptionException: Unrecognized option: -file=x",
            ),
            (
                &RECONFIG,
                "r -members -file",
                "MissingArgumentException: Missing argument for option: members",
            ),
            (&QUOTA, "q -n 1", r#"args=["q"] n=1"#),
            (&QUOTA, "q -n1 -n2", r#"args=["q"] n=1 n=2"#),
            (&QUOTA, "q -nb", r#"args=["q"] n=b"#),
            (
                &QUOTA,
                "q -n",
                "MissingArgumentException: Missing argument for option: n",
            ),
            (
                &QUOTA,
                "q",
                "MissingOptionException: Missing required option: [-n num soft quota, \
                 -b bytes soft quota, -N num hard quota, -B bytes hard quota]",
            ),
            (
                &QUOTA,
                "q -n 1 -b 2",
                "AlreadySelectedException: The option 'b' was specified but an option \
                 from this group has already been selected: 'n'",
            ),
        ];
        for (spec, line, want) in cases {
            assert_eq!(show(spec, line), want, "{line}");
        }
    }

    #[test]
    fn options_help_like_help_formatter() {
        const SET: Spec = Spec {
            opts: &[
                flag("s", "Print znode stats additionally"),
                valued("v", "Set with an expected version"),
                flag("b", "Supply data in base64 format"),
            ],
            group: Group::None,
        };
        assert_eq!(
            options_help(&SET),
            " -b         Supply data in base64 format\n \
             -s         Print znode stats additionally\n \
             -v <arg>   Set with an expected version"
        );
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
