//! The subtree walks of ZooKeeper's `ZKUtil`: `visitSubTreeDFS` (ls -R, setAcl -R, the
//! quota checks) and `listSubTreeBFS` with `deleteRecursive` (deleteall, in batches of
//! multi requests).

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;

use zookeeper_client as zk;

use super::commands::{checked, wrap};
use super::{format, CliError, Session, WatchKind};

/// How a step that zkCli wraps in `try` fails: a KeeperException (with the path of the
/// request) that the command may handle itself, or an error it passes on as is.
#[derive(Debug)]
pub enum Failure {
    Keeper(zk::Error, String),
    Cli(CliError),
}

impl From<CliError> for Failure {
    fn from(e: CliError) -> Failure {
        Failure::Cli(e)
    }
}

impl Failure {
    pub fn keeper(path: &str) -> impl Fn(zk::Error) -> Failure + '_ {
        move |e| Failure::Keeper(e, path.to_owned())
    }

    /// zkCli's `CliWrapperException` message for a KeeperException.
    pub fn into_cli(self) -> CliError {
        match self {
            Failure::Keeper(e, path) => CliError::new(format::keeper_error(&e, &path)),
            Failure::Cli(e) => e,
        }
    }
}

/// deleteall's batch size when `-b` is not given.
pub const DELETE_BATCH_DEFAULT: i32 = 1000;

/// How many batches `deleteInBatch` keeps in flight: the permits of its semaphore.
const DELETE_BATCHES_IN_FLIGHT_MAX: usize = 10;

pub fn child_path(parent: &str, child: &str) -> String {
    if parent == "/" {
        format!("/{child}")
    } else {
        format!("{parent}/{child}")
    }
}

/// `ZKUtil.visitSubTreeDFS`: reads the node (NoNode and NoAuth fail here), visits it, then
/// visits all children of a node in name order before going down into the first child. A
/// node that vanished while walking is skipped; other errors stop the walk, as does an
/// error from `visit`. With `watch`, the node's data and every listed node's children are
/// watched.
pub fn visit_subtree(
    s: &Session,
    client: &zk::Client,
    path: &str,
    watch: bool,
    visit: &mut dyn FnMut(&str) -> Result<(), CliError>,
) -> Result<(), Failure> {
    checked(path)?;
    if watch {
        let (_, _, w) = s
            .block_on(client.get_and_watch_data(path))
            .map_err(Failure::keeper(path))?;
        s.watch_once(path, WatchKind::Data, w);
    } else {
        s.block_on(client.get_data(path))
            .map_err(Failure::keeper(path))?;
    }
    visit(path)?;
    // A stack instead of Java's recursion: a deep tree must not overflow ours.
    let mut stack = vec![path.to_owned()];
    while let Some(p) = stack.pop() {
        let listed = if watch {
            s.block_on(client.list_and_watch_children(&p))
                .map(|(children, w)| {
                    s.watch_once(&p, WatchKind::Child, w);
                    children
                })
        } else {
            s.block_on(client.list_children(&p))
        };
        let mut children = match listed {
            Ok(c) => c,
            Err(zk::Error::NoNode) => continue,
            Err(e) => return Err(Failure::Keeper(e, p)),
        };
        children.sort();
        let paths: Vec<String> = children.iter().map(|c| child_path(&p, c)).collect();
        for c in &paths {
            visit(c)?;
        }
        stack.extend(paths.into_iter().rev());
    }
    Ok(())
}

/// `ZKUtil.listSubTreeBFS`: the node and everything below it, breadth first, children in
/// the server's order.
fn list_subtree_bfs(s: &Session, client: &zk::Client, root: &str) -> Result<Vec<String>, CliError> {
    let mut tree = vec![root.to_owned()];
    let mut next = 0;
    while let Some(node) = tree.get(next).cloned() {
        next += 1;
        let children = s
            .block_on(client.list_children(&node))
            .map_err(wrap(&node))?;
        tree.extend(children.iter().map(|c| child_path(&node, c)));
    }
    Ok(tree)
}

type Pending<'a> = Pin<Box<dyn Future<Output = bool> + Send + 'a>>;

/// `ZKUtil.deleteRecursive`: deletes the subtree, deepest nodes first. With a positive
/// batch size, as multi requests of that many deletes, up to ten in flight, sending no
/// more once one is known to have failed; false when one failed. Otherwise one delete at
/// a time, and the first failure is the error.
pub fn delete_recursive(
    s: &Session,
    client: &zk::Client,
    root: &str,
    batch: i32,
) -> Result<bool, CliError> {
    checked(root)?;
    let tree = list_subtree_bfs(s, client, root)?;
    let Ok(batch) = usize::try_from(batch) else {
        return delete_one_by_one(s, client, &tree);
    };
    if batch == 0 {
        return delete_one_by_one(s, client, &tree);
    }
    let deepest_first: Vec<&String> = tree.iter().rev().collect();
    let mut success = true;
    let mut in_flight: VecDeque<Pending<'_>> = VecDeque::new();
    for chunk in deepest_first.chunks(batch) {
        if !success {
            break;
        }
        if in_flight.len() == DELETE_BATCHES_IN_FLIGHT_MAX {
            if let Some(oldest) = in_flight.pop_front() {
                success &= s.block_on(oldest);
            }
        }
        let mut writer = client.new_multi_writer();
        // The client refuses to put the root in a multi; the server would fail that
        // request, and a multi that is not sent changes nothing either.
        if chunk.iter().any(|p| writer.add_delete(p, None).is_err()) {
            success = false;
            continue;
        }
        let reply = writer.commit();
        in_flight.push_back(Box::pin(async move { reply.await.is_ok() }));
    }
    for reply in in_flight {
        success &= s.block_on(reply);
    }
    Ok(success)
}

fn delete_one_by_one(s: &Session, client: &zk::Client, tree: &[String]) -> Result<bool, CliError> {
    for p in tree.iter().rev() {
        s.block_on(client.delete(p, None)).map_err(wrap(p))?;
    }
    Ok(true)
}
