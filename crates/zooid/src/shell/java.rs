//! The Java library behaviour zkCli's output depends on: `String.split`, `Integer.parseInt`,
//! `Integer.decode`, `Long.parseLong`, `Base64`, `Properties.load`, and the order a
//! `Properties` (a `ConcurrentHashMap` since Java 9) iterates its entries in.
//!
//! Number parsers return the `NumberFormatException` message as their error; the callers
//! decide whether zkCli catches it.

/// `NumberFormatException.forInputString`.
fn for_input_string(s: &str, radix: u32) -> String {
    if radix == 10 {
        format!("For input string: \"{s}\"")
    } else {
        format!("For input string: \"{s}\" under radix {radix}")
    }
}

/// `Integer.parseInt(s)` for ASCII digits.
pub fn parse_int(s: &str) -> Result<i32, String> {
    // Rust takes the same optional sign and digits and fails on overflow, as Java does.
    s.parse().map_err(|_| for_input_string(s, 10))
}

/// `Long.parseLong(s)` for ASCII digits.
pub fn parse_long(s: &str) -> Result<i64, String> {
    s.parse().map_err(|_| for_input_string(s, 10))
}

/// `Long.parseLong(s, radix)`.
pub fn parse_long_radix(s: &str, radix: u32) -> Result<i64, String> {
    i64::from_str_radix(s, radix).map_err(|_| for_input_string(s, radix))
}

/// `Integer.decode`: an optional sign, then decimal, `0x`/`0X`/`#` hex or `0` octal.
pub fn decode_int(s: &str) -> Result<i32, String> {
    if s.is_empty() {
        return Err("Zero length string".to_owned());
    }
    let (negative, mut rest) = match s.as_bytes()[0] {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    let mut radix = 10;
    if let Some(r) = rest.strip_prefix("0x").or_else(|| rest.strip_prefix("0X")) {
        (rest, radix) = (r, 16);
    } else if let Some(r) = rest.strip_prefix('#') {
        (rest, radix) = (r, 16);
    } else if rest.len() > 1 && rest.starts_with('0') {
        (rest, radix) = (&rest[1..], 8);
    }
    if rest.starts_with(['-', '+']) {
        return Err("Sign character in wrong position".to_owned());
    }
    // Java parses the digits, negates, and on failure parses "-digits" again, so the
    // message names the digits with the sign they were given.
    let constant = if negative {
        format!("-{rest}")
    } else {
        rest.to_owned()
    };
    i32::from_str_radix(&constant, radix).map_err(|_| for_input_string(&constant, radix))
}

/// `String.split` with a regex matching one `sep` character (`runs` false) or a run of
/// them (`runs` true): no match gives the whole string, a leading empty piece stays, and
/// trailing empty pieces go.
pub fn split(s: &str, is_sep: impl Fn(char) -> bool, runs: bool) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut start = 0;
    let mut chars = s.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if !is_sep(c) {
            continue;
        }
        let mut end = i + c.len_utf8();
        if runs {
            while let Some((j, d)) = chars.next_if(|&(_, d)| is_sep(d)) {
                end = j + d.len_utf8();
            }
        }
        parts.push(&s[start..i]);
        start = end;
    }
    if parts.is_empty() {
        return vec![s];
    }
    parts.push(&s[start..]);
    while parts.last().is_some_and(|p| p.is_empty()) {
        parts.pop();
    }
    parts
}

/// `String.trim`: strips every character up to U+0020 from both ends.
pub fn trim(s: &str) -> &str {
    s.trim_matches(|c: char| c <= ' ')
}

const BASE64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// `Base64.getEncoder().encodeToString`: the RFC 4648 alphabet, padded.
pub fn base64_encode(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let bits = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
        for k in 0..4 {
            if k <= chunk.len() {
                out.push(char::from(BASE64[(bits >> (18 - 6 * k)) as usize & 0x3f]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// `Base64.getDecoder().decode(String)`: the error is the `IllegalArgumentException`'s
/// message. Java takes the string's ISO-8859-1 bytes, so other characters become `?`.
pub fn base64_decode(s: &str) -> Result<Vec<u8>, String> {
    let src: Vec<u8> = s
        .chars()
        .map(|c| u8::try_from(u32::from(c)).unwrap_or(b'?'))
        .collect();
    if src.is_empty() {
        return Ok(Vec::new());
    }
    if src.len() < 2 {
        return Err("Input byte[] should at least have 2 bytes for base64 bytes".to_owned());
    }
    let value = |b: u8| BASE64.iter().position(|&a| a == b).map(|v| v as u32);
    let (mut out, mut bits, mut shift, mut sp) = (Vec::new(), 0u32, 18i32, 0usize);
    while sp < src.len() {
        let b = src[sp];
        sp += 1;
        let Some(v) = value(b) else {
            if b != b'=' {
                return Err(format!(
                    "Illegal base64 character {}",
                    java_hex_byte(b as i8)
                ));
            }
            // "=" ends the data: it must complete a unit of two or three characters.
            let bad_pair = shift == 6
                && (sp == src.len() || {
                    sp += 1;
                    src[sp - 1] != b'='
                });
            if bad_pair || shift == 18 {
                return Err("Input byte array has wrong 4-byte ending unit".to_owned());
            }
            break;
        };
        bits |= v << shift;
        shift -= 6;
        if shift < 0 {
            out.extend_from_slice(&[(bits >> 16) as u8, (bits >> 8) as u8, bits as u8]);
            (shift, bits) = (18, 0);
        }
    }
    match shift {
        6 => out.push((bits >> 16) as u8),
        0 => out.extend_from_slice(&[(bits >> 16) as u8, (bits >> 8) as u8]),
        12 => return Err("Last unit does not have enough valid bits".to_owned()),
        _ => {}
    }
    if sp < src.len() {
        // Java names the index of the first byte left over.
        return Err(format!(
            "Input byte array has incorrect ending byte at {sp}"
        ));
    }
    Ok(out)
}

/// `Integer.toString(b, 16)` of a signed byte: `-17` for 0xe9.
fn java_hex_byte(b: i8) -> String {
    if b < 0 {
        format!("-{:x}", -i16::from(b))
    } else {
        format!("{b:x}")
    }
}

/// `Properties.load`: the entries of a properties text in the order a `Properties` built
/// by `load` iterates them, a later line for a key replacing the value in place. The
/// error is the `IllegalArgumentException` a malformed `\uXXXX` escape throws.
pub fn load_properties(text: &str) -> Result<Vec<(String, String)>, String> {
    let mut entries: Vec<(String, String)> = Vec::new();
    for line in logical_lines(text) {
        let (key, value) = split_property(&line);
        let (key, value) = (unescape(key)?, unescape(value)?);
        match entries.iter_mut().find(|(k, _)| *k == key) {
            Some(entry) => entry.1 = value,
            None => entries.push((key, value)),
        }
    }
    let keys: Vec<&str> = entries.iter().map(|(k, _)| k.as_str()).collect();
    let order = hash_map_order(&keys);
    let mut slots: Vec<Option<(String, String)>> = entries.into_iter().map(Some).collect();
    Ok(order.into_iter().filter_map(|i| slots[i].take()).collect())
}

/// Properties whitespace: space, tab, form feed.
fn is_blank(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\x0c')
}

/// `Properties.LineReader`: lines without leading whitespace, blank and comment (`#`,
/// `!`) lines dropped, a line ending in an odd number of backslashes joined with the
/// next one (whose leading whitespace goes). Escapes stay for [`unescape`].
fn logical_lines(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current: Option<String> = None;
    for line in physical_lines(text) {
        let stripped = line.trim_start_matches(is_blank);
        let mut buf = match current.take() {
            Some(buf) => buf,
            None if stripped.is_empty() || stripped.starts_with(['#', '!']) => continue,
            None => String::new(),
        };
        buf.push_str(stripped);
        // The backslashes left from the line before are even in number, so the parity of
        // the whole run is that of this line's.
        let trailing = buf.chars().rev().take_while(|&c| c == '\\').count();
        if trailing % 2 == 1 {
            buf.pop();
            current = Some(buf);
        } else {
            out.push(buf);
        }
    }
    out.extend(current);
    out
}

/// Lines ended by `\n`, `\r` or `\r\n`, without their ends.
fn physical_lines(text: &str) -> Vec<&str> {
    let mut lines = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find(['\n', '\r']) {
        lines.push(&rest[..i]);
        let skip = if rest[i..].starts_with("\r\n") { 2 } else { 1 };
        rest = &rest[i + skip..];
    }
    if !rest.is_empty() {
        lines.push(rest);
    }
    lines
}

/// `Properties.load0`: the key ends at the first unescaped `=`, `:` or whitespace; the
/// value starts after whitespace and at most one `=` or `:`.
fn split_property(line: &str) -> (&str, &str) {
    let mut key_end = line.len();
    let mut value_start = line.len();
    let mut has_sep = false;
    let mut backslash = false;
    for (i, c) in line.char_indices() {
        if !backslash && (c == '=' || c == ':') {
            (key_end, value_start, has_sep) = (i, i + 1, true);
            break;
        }
        if !backslash && is_blank(c) {
            (key_end, value_start) = (i, i + 1);
            break;
        }
        backslash = c == '\\' && !backslash;
    }
    let mut rest = &line[value_start..];
    while let Some(c) = rest.chars().next() {
        if is_blank(c) || (!has_sep && (c == '=' || c == ':')) {
            has_sep |= !is_blank(c);
            rest = &rest[c.len_utf8()..];
        } else {
            break;
        }
    }
    (&line[..key_end], rest)
}

/// `Properties.loadConvert`: `\t \n \r \f`, `\uXXXX`, and any other escaped character
/// standing for itself.
fn unescape(s: &str) -> Result<String, String> {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('t') => out.push('\t'),
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('f') => out.push('\x0c'),
            Some('u') => {
                let hex: String = chars.by_ref().take(4).collect();
                let malformed = || "Malformed \\uxxxx encoding.".to_owned();
                if hex.len() != 4 || !hex.chars().all(|h| h.is_ascii_hexdigit()) {
                    return Err(malformed());
                }
                let code = u32::from_str_radix(&hex, 16).map_err(|_| malformed())?;
                // A surrogate has no Rust char; Java keeps it as a UTF-16 unit.
                out.push(char::from_u32(code).unwrap_or('\u{fffd}'));
            }
            Some(other) => out.push(other),
            None => {}
        }
    }
    Ok(out)
}

/// `String.hashCode`: over UTF-16 units, wrapping.
fn java_hash(s: &str) -> i32 {
    s.encode_utf16()
        .fold(0i32, |h, u| h.wrapping_mul(31).wrapping_add(i32::from(u)))
}

/// The order a `ConcurrentHashMap` created with capacity 8 (what `new Properties()` makes)
/// iterates keys inserted in the given order: bins in index order, each bin in insertion
/// order, resizing (and re-splitting bins as `transfer` does) when the count reaches
/// three quarters of the table, or when a bin passes 8 entries in a table under 64 slots.
/// Bins turned into trees (9 colliding keys in a table of 64 or more) are not modelled.
fn hash_map_order(keys: &[&str]) -> Vec<usize> {
    const TREEIFY_THRESHOLD: usize = 8;
    const MIN_TREEIFY_CAPACITY: usize = 64;
    let mut table: Vec<Vec<(u32, usize)>> = vec![Vec::new(); 16];
    let mut size_ctl = 12;
    for (index, key) in keys.iter().enumerate() {
        let h = java_hash(key);
        let spread = (h ^ ((h as u32) >> 16) as i32) as u32 & 0x7fff_ffff;
        let n = table.len();
        let bin = &mut table[spread as usize & (n - 1)];
        let before = bin.len();
        bin.push((spread, index));
        if before >= TREEIFY_THRESHOLD && n < MIN_TREEIFY_CAPACITY {
            // tryPresize(n << 1): grow until the threshold reaches tableSizeFor(1.5n + 1).
            let target = (2 * n + n + 1).next_power_of_two();
            while size_ctl < target {
                transfer(&mut table);
                size_ctl = table.len() / 4 * 3;
            }
        }
        while index + 1 >= size_ctl {
            transfer(&mut table);
            size_ctl = table.len() / 4 * 3;
        }
    }
    table.into_iter().flatten().map(|(_, i)| i).collect()
}

/// `ConcurrentHashMap.transfer` into a table twice the size: each bin splits into a low
/// and a high bin; the longest tail going to one side stays in order, the entries before
/// it are prepended one by one (so they end up reversed).
fn transfer(table: &mut Vec<Vec<(u32, usize)>>) {
    let n = table.len();
    let mut next = vec![Vec::new(); 2 * n];
    for (i, bin) in table.iter().enumerate() {
        let Some(&(first, _)) = bin.first() else {
            continue;
        };
        let high = |h: u32| h as usize & n != 0;
        let mut run_high = high(first);
        let mut last_run = 0;
        for (j, &(h, _)) in bin.iter().enumerate().skip(1) {
            if high(h) != run_high {
                (run_high, last_run) = (high(h), j);
            }
        }
        let (mut low, mut hi) = (Vec::new(), Vec::new());
        for &entry in bin[..last_run].iter().rev() {
            if high(entry.0) {
                hi.push(entry);
            } else {
                low.push(entry);
            }
        }
        let tail = bin[last_run..].iter().copied();
        if run_high {
            hi.extend(tail);
        } else {
            low.extend(tail);
        }
        next[i] = low;
        next[i + n] = hi;
    }
    *table = next;
}

#[cfg(test)]
mod tests {
    use super::*;

    // Expected values printed by Java 17.
    #[test]
    fn numbers_like_java() {
        assert_eq!(decode_int("-0x10"), Ok(-16));
        assert_eq!(decode_int("010"), Ok(8));
        assert_eq!(decode_int("#1f"), Ok(31));
        assert_eq!(decode_int("+5"), Ok(5));
        assert_eq!(decode_int("-2147483648"), Ok(i32::MIN));
        let err = |s: &str| decode_int(s).unwrap_err();
        assert_eq!(err(""), "Zero length string");
        assert_eq!(err("x"), "For input string: \"x\"");
        assert_eq!(err("0xzz"), "For input string: \"zz\" under radix 16");
        assert_eq!(err("09"), "For input string: \"9\" under radix 8");
        assert_eq!(err("--5"), "Sign character in wrong position");
        assert_eq!(err("-"), "For input string: \"-\"");
        assert_eq!(err("0x"), "For input string: \"\" under radix 16");
        assert_eq!(err(" 1"), "For input string: \" 1\"");
        assert_eq!(parse_long("+7"), Ok(7));
        assert_eq!(parse_long("+").unwrap_err(), "For input string: \"+\"");
        assert_eq!(
            parse_int("2147483648").unwrap_err(),
            "For input string: \"2147483648\""
        );
        assert_eq!(parse_long_radix("+ff", 16), Ok(255));
        assert_eq!(
            parse_long_radix("0x10", 16).unwrap_err(),
            "For input string: \"0x10\" under radix 16"
        );
    }

    #[test]
    fn split_like_java() {
        let comma = |s| split(s, |c| c == ',', false);
        assert_eq!(comma(""), [""]);
        assert!(comma(",").is_empty());
        assert_eq!(comma("a,"), ["a"]);
        assert_eq!(comma(",a"), ["", "a"]);
        assert_eq!(comma("a,,b"), ["a", "", "b"]);
        let pairs = |s| split(s, |c| c == ',' || c == ';', true);
        assert_eq!(pairs("a=1,;b=2;"), ["a=1", "b=2"]);
    }

    #[test]
    fn base64_like_java() {
        assert_eq!(base64_encode(b"hi"), "aGk=");
        assert_eq!(base64_encode(b"hello\x01\x7f"), "aGVsbG8Bfw==");
        assert_eq!(base64_encode(b"abc"), "YWJj");
        assert_eq!(base64_decode("aGk="), Ok(b"hi".to_vec()));
        assert_eq!(base64_decode("aGk"), Ok(b"hi".to_vec()));
        assert_eq!(base64_decode("aR=="), Ok(b"i".to_vec()));
        assert_eq!(base64_decode(""), Ok(Vec::new()));
        let err = |s: &str| base64_decode(s).unwrap_err();
        assert_eq!(
            err("a"),
            "Input byte[] should at least have 2 bytes for base64 bytes"
        );
        assert_eq!(err("a==="), "Last unit does not have enough valid bits");
        assert_eq!(err("!!!!"), "Illegal base64 character 21");
        assert_eq!(err("AAA\u{e9}"), "Illegal base64 character -17");
        assert_eq!(err("AAA\u{65e5}"), "Illegal base64 character 3f");
        assert_eq!(
            err("aGk=x"),
            "Input byte array has incorrect ending byte at 4"
        );
        assert_eq!(err("aG=x"), "Input byte array has wrong 4-byte ending unit");
        assert_eq!(
            err("="),
            "Input byte[] should at least have 2 bytes for base64 bytes"
        );
        assert_eq!(err("=="), "Input byte array has wrong 4-byte ending unit");
    }

    #[test]
    fn properties_lines_keys_and_escapes() {
        let text =
            "# c\n  a = 1\nb:2\\\n   3\r\nc  x=y\n! d\nkey\\ with\\:colon=v\\u0041\\t\na=9\n";
        assert_eq!(
            load_properties(text).unwrap(),
            [
                ("a".into(), "9".into()),
                ("b".into(), "23".into()),
                ("c".into(), "x=y".into()),
                ("key with:colon".into(), "vA\t".into())
            ]
        );
        assert_eq!(
            load_properties("a=\\u00zz").unwrap_err(),
            "Malformed \\uxxxx encoding."
        );
    }

    /// Orders Java printed for `ConfigUtils.getClientConfigStr` over these keys.
    #[test]
    fn properties_iterate_in_concurrent_hash_map_order() {
        let order = |keys: &[&str]| -> Vec<String> {
            hash_map_order(keys)
                .into_iter()
                .map(|i| keys[i].to_owned())
                .collect()
        };
        let servers = |keys: Vec<String>| -> Vec<String> {
            keys.into_iter()
                .filter(|k| k.starts_with("server."))
                .collect()
        };
        assert_eq!(
            servers(order(&["version", "server.3", "server.2", "server.1"])),
            ["server.2", "server.1", "server.3"]
        );
        let mut keys: Vec<String> = (10..=22).map(|i| format!("server.{i}")).collect();
        keys.push("version".into());
        let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
        let ids: Vec<String> = order(&keys)
            .iter()
            .filter_map(|k| k.strip_prefix("server.").map(str::to_owned))
            .collect();
        assert_eq!(
            ids,
            ["18", "19", "16", "17", "10", "21", "11", "22", "20", "14", "15", "12", "13"]
        );
        let keys: Vec<String> = (1..=40).map(|i| format!("server.{i}")).collect();
        let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
        let ids: Vec<String> = order(&keys)
            .iter()
            .map(|k| k["server.".len()..].to_owned())
            .collect();
        let java = "18,19,16,38,17,39,10,32,11,33,30,31,14,36,15,37,12,34,13,35,29,27,28,21,\
                    22,20,2,25,1,26,23,24,6,5,4,3,9,40,8,7";
        assert_eq!(ids.join(","), java);
    }
}
