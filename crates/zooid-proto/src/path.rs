//! ZooKeeper's path rules (`PathUtils.validatePath`), with its error texts.

/// Checks a znode path as `PathUtils.validatePath` does. The error text matches ZooKeeper's.
///
/// Java strings are UTF-16: a character outside the Basic Multilingual Plane is a
/// surrogate pair, which ZooKeeper rejects, so we reject every char above U+FFFF too.
pub fn validate_path(path: &str) -> Result<(), String> {
    if path.is_empty() {
        return Err("Path length must be > 0".into());
    }
    if !path.starts_with('/') {
        return Err("Path must start with / character".into());
    }
    if path.len() == 1 {
        return Ok(());
    }
    if path.ends_with('/') {
        return Err("Path must not end with / character".into());
    }
    let chars: Vec<char> = path.chars().collect();
    let mut lastc = '/';
    let mut reason = None;
    for i in 1..chars.len() {
        let c = chars[i];
        let next_ends = i + 1 == chars.len() || chars[i + 1] == '/';
        if c == '\0' {
            reason = Some(format!("null character not allowed @{i}"));
        } else if c == '/' && lastc == '/' {
            reason = Some(format!("empty node name specified @{i}"));
        } else if c == '.' && lastc == '.' {
            if chars[i - 2] == '/' && next_ends {
                reason = Some(format!("relative paths not allowed @{i}"));
            }
        } else if c == '.' {
            if chars[i - 1] == '/' && next_ends {
                reason = Some(format!("relative paths not allowed @{i}"));
            }
        } else if invalid_char(c) {
            reason = Some(format!("invalid character @{i}"));
        }
        if reason.is_some() {
            break;
        }
        lastc = c;
    }
    match reason {
        None => Ok(()),
        Some(r) => Err(format!("Invalid path string \"{path}\" caused by {r}")),
    }
}

fn invalid_char(c: char) -> bool {
    let c = c as u32;
    (0x01..=0x1f).contains(&c)
        || (0x7f..=0x9f).contains(&c)
        || (0xd800..=0xf8ff).contains(&c)
        || (0xfff0..=0xffff).contains(&c)
        || c > 0xffff
}

/// The parent of a valid path ("/" for top-level nodes). The root has no parent.
pub fn parent(path: &str) -> Option<&str> {
    if path == "/" {
        return None;
    }
    match path.rfind('/') {
        Some(0) => Some("/"),
        Some(i) => Some(&path[..i]),
        None => None,
    }
}

/// The last component of a valid path ("" for the root).
pub fn basename(path: &str) -> &str {
    match path.rfind('/') {
        Some(i) => &path[i + 1..],
        None => path,
    }
}

/// Joins a parent path and a child name.
pub fn join(parent: &str, child: &str) -> String {
    if parent == "/" {
        format!("/{child}")
    } else {
        format!("{parent}/{child}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_valid_paths() {
        for p in [
            "/",
            "/a",
            "/a/b",
            "/a.b",
            "/..a",
            "/a/...",
            "/zookeeper",
            "/ü/日本",
        ] {
            assert_eq!(validate_path(p), Ok(()), "{p}");
        }
    }

    #[test]
    fn rejects_invalid_paths_with_zookeepers_reasons() {
        let cases = [
            ("", "Path length must be > 0"),
            ("a", "Path must start with / character"),
            ("/a/", "Path must not end with / character"),
            (
                "/a//b",
                "Invalid path string \"/a//b\" caused by empty node name specified @3",
            ),
            (
                "/a/./b",
                "Invalid path string \"/a/./b\" caused by relative paths not allowed @3",
            ),
            (
                "/a/..",
                "Invalid path string \"/a/..\" caused by relative paths not allowed @4",
            ),
            (
                "/.",
                "Invalid path string \"/.\" caused by relative paths not allowed @1",
            ),
            (
                "/a\0b",
                "Invalid path string \"/a\0b\" caused by null character not allowed @2",
            ),
            (
                "/a\u{1}",
                "Invalid path string \"/a\u{1}\" caused by invalid character @2",
            ),
            (
                "/\u{7f}",
                "Invalid path string \"/\u{7f}\" caused by invalid character @1",
            ),
            (
                "/\u{e000}",
                "Invalid path string \"/\u{e000}\" caused by invalid character @1",
            ),
            (
                "/\u{fff0}",
                "Invalid path string \"/\u{fff0}\" caused by invalid character @1",
            ),
            (
                "/\u{1f600}",
                "Invalid path string \"/\u{1f600}\" caused by invalid character @1",
            ),
        ];
        for (p, want) in cases {
            assert_eq!(validate_path(p), Err(want.to_string()), "{p:?}");
        }
    }

    #[test]
    fn parents_and_names() {
        assert_eq!(parent("/"), None);
        assert_eq!(parent("/a"), Some("/"));
        assert_eq!(parent("/a/b"), Some("/a"));
        assert_eq!(basename("/a/b"), "b");
        assert_eq!(basename("/"), "");
        assert_eq!(join("/", "a"), "/a");
        assert_eq!(join("/a", "b"), "/a/b");
    }
}
