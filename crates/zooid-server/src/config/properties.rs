//! java.util.Properties: the reader for the text of a zoo.cfg.
//!
//! # Grammar (`java.util.Properties.load`)
//!
//! ```text
//! file    = { line } ;                      lines end in "\n", "\r" or "\r\n"
//! line    = blank | comment | entry ;
//! comment = ws* ("#" | "!") any* ;          a comment never continues
//! entry   = ws* key [ ws* ("=" | ":") ] ws* value ;
//! key     = chars up to the first unescaped "=", ":" or ws ;
//! value   = the rest of the logical line ;  a line ending in an odd number of "\"
//!                                           continues on the next one, minus its
//!                                           leading ws
//! escape  = "\t" | "\n" | "\r" | "\f" | "\uXXXX" | "\" c   (c stands for itself)
//! ws      = " " | "\t" | "\f" ;
//! ```
//!
//! ZooKeeper then trims every key and value (`String.trim`: all chars up to U+0020), and a
//! key given twice keeps its last value.

use super::ConfigError;

/// One `key=value` of the file, unescaped and trimmed, with the line it starts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Entry {
    pub(super) line: usize,
    pub(super) key: String,
    pub(super) value: String,
}

/// `String.trim`: strips every char up to U+0020 at both ends.
pub(super) fn java_trim(s: &str) -> &str {
    s.trim_matches(|c: char| c <= ' ')
}

fn is_ws(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\x0c')
}

/// Reads every entry in file order (duplicates included), as `Properties.load` reads
/// them, then trims keys and values as ZooKeeper does.
pub(super) fn read_properties(text: &str) -> Result<Vec<Entry>, ConfigError> {
    let mut entries = Vec::new();
    for (line, chars) in logical_lines(text) {
        let (key, value) = split_entry(&chars);
        let syntax = |reason| ConfigError::Syntax { line, reason };
        let key = unescape(key).map_err(syntax)?;
        let value = unescape(value).map_err(syntax)?;
        entries.push(Entry {
            line,
            key: java_trim(&key).to_owned(),
            value: java_trim(&value).to_owned(),
        });
    }
    Ok(entries)
}

/// Splits text into logical lines (`Properties.LineReader`): blank and comment lines are
/// dropped, leading whitespace is skipped, and a line ending in an odd number of
/// backslashes is joined with the next (the backslash and the next line's leading
/// whitespace dropped). Returns each with the number of the line it starts on.
fn logical_lines(text: &str) -> Vec<(usize, Vec<char>)> {
    let chars: Vec<char> = text.chars().collect();
    let n = chars.len();
    let mut i = 0;
    let mut line_no = 1;
    let mut out = Vec::new();
    // Consumes the line terminator at `i`, if any.
    let newline = |i: &mut usize, line_no: &mut usize| {
        if *i < n {
            if chars[*i] == '\r' && chars.get(*i + 1) == Some(&'\n') {
                *i += 1;
            }
            *i += 1;
            *line_no += 1;
        }
    };
    let is_newline = |c: char| c == '\n' || c == '\r';
    while i < n {
        while i < n && is_ws(chars[i]) {
            i += 1;
        }
        if i == n {
            break;
        }
        let start = line_no;
        if chars[i] == '#' || chars[i] == '!' {
            while i < n && !is_newline(chars[i]) {
                i += 1;
            }
            newline(&mut i, &mut line_no);
            continue;
        }
        let mut buf = Vec::new();
        loop {
            while i < n && !is_newline(chars[i]) {
                buf.push(chars[i]);
                i += 1;
            }
            let backslashes = buf.iter().rev().take_while(|&&c| c == '\\').count();
            let continued = backslashes % 2 == 1;
            if continued {
                buf.pop();
            }
            newline(&mut i, &mut line_no);
            if !continued || i == n {
                break;
            }
            while i < n && is_ws(chars[i]) {
                i += 1;
            }
        }
        if !buf.is_empty() {
            out.push((start, buf));
        }
    }
    out
}

/// Splits a logical line into its still-escaped key and value (`Properties.load0`): the
/// key ends at the first unescaped `=`, `:` or whitespace; then whitespace and at most one
/// `=` or `:` are skipped.
fn split_entry(line: &[char]) -> (&[char], &[char]) {
    let mut key_len = 0;
    let mut value_start = line.len();
    let mut has_sep = false;
    let mut escaped = false;
    while key_len < line.len() {
        let c = line[key_len];
        if !escaped && (c == '=' || c == ':') {
            value_start = key_len + 1;
            has_sep = true;
            break;
        }
        if !escaped && is_ws(c) {
            value_start = key_len + 1;
            break;
        }
        escaped = c == '\\' && !escaped;
        key_len += 1;
    }
    while value_start < line.len() {
        let c = line[value_start];
        if !is_ws(c) {
            if !has_sep && (c == '=' || c == ':') {
                has_sep = true;
            } else {
                break;
            }
        }
        value_start += 1;
    }
    (&line[..key_len], &line[value_start..])
}

/// Resolves escapes (`Properties.loadConvert`). `\uXXXX` must have four hex digits;
/// UTF-16 surrogate pairs are joined, a lone surrogate is an error.
fn unescape(chars: &[char]) -> Result<String, String> {
    let mut out = String::with_capacity(chars.len());
    let mut units: Vec<u16> = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        i += 1;
        if c != '\\' {
            flush_utf16(&mut units, &mut out)?;
            out.push(c);
            continue;
        }
        let Some(&e) = chars.get(i) else { break };
        i += 1;
        if e == 'u' {
            let hex: String = chars.get(i..i + 4).unwrap_or(&[]).iter().collect();
            let unit = (hex.len() == 4 && hex.chars().all(|h| h.is_ascii_hexdigit()))
                .then(|| u16::from_str_radix(&hex, 16).ok())
                .flatten()
                .ok_or_else(|| "malformed \\uxxxx encoding".to_owned())?;
            units.push(unit);
            i += 4;
            continue;
        }
        flush_utf16(&mut units, &mut out)?;
        out.push(match e {
            't' => '\t',
            'r' => '\r',
            'n' => '\n',
            'f' => '\x0c',
            other => other,
        });
    }
    flush_utf16(&mut units, &mut out)?;
    Ok(out)
}

fn flush_utf16(units: &mut Vec<u16>, out: &mut String) -> Result<(), String> {
    for c in char::decode_utf16(units.drain(..)) {
        out.push(c.map_err(|_| "\\u escape is a lone UTF-16 surrogate".to_owned())?);
    }
    Ok(())
}
