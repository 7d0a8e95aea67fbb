//! Tab completion like zkCli's `JLineZNodeCompleter`: a word starting with `/` completes to
//! the children of its parent znode, any other word to a command name.

use std::sync::{Arc, Mutex};

use rustyline::completion::{Completer, Pair};
use rustyline::Context;
use zookeeper_client as zk;

use super::commands;

#[derive(rustyline::Helper, rustyline::Hinter, rustyline::Highlighter, rustyline::Validator)]
pub struct Helper {
    client: Arc<Mutex<Option<zk::Client>>>,
    rt: tokio::runtime::Handle,
}

impl Helper {
    pub fn new(client: Arc<Mutex<Option<zk::Client>>>, rt: tokio::runtime::Handle) -> Helper {
        Helper { client, rt }
    }

    fn children(&self, parent: &str) -> Vec<String> {
        let client = self
            .client
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let Some(client) = client else {
            return Vec::new();
        };
        let mut children = self
            .rt
            .block_on(client.list_children(parent))
            .unwrap_or_default();
        children.sort();
        children
    }
}

impl Completer for Helper {
    type Candidate = Pair;

    fn complete(
        &self,
        line: &str,
        pos: usize,
        _: &Context<'_>,
    ) -> rustyline::Result<(usize, Vec<Pair>)> {
        let start = line[..pos]
            .rfind(|c: char| c.is_whitespace())
            .map(|i| i + 1)
            .unwrap_or(0);
        let word = &line[start..pos];
        let pair = |s: String| Pair {
            display: s.clone(),
            replacement: s,
        };
        if word.starts_with('/') {
            let slash = word.rfind('/').unwrap_or(0);
            let (parent, prefix) = (&word[..slash.max(1)], &word[slash + 1..]);
            let base = if slash == 0 { "" } else { parent };
            let found = self
                .children(parent)
                .into_iter()
                .filter(|c| c.starts_with(prefix))
                .map(|c| pair(format!("{base}/{c}")))
                .collect();
            return Ok((start, found));
        }
        let names = commands::DEFS
            .iter()
            .map(|d| d.name)
            .filter(|n| n.starts_with(word))
            .map(|n| pair(n.to_owned()))
            .collect();
        Ok((start, names))
    }
}
