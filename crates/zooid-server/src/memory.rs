//! Giving a replaced tree's memory back to the system. A tree of a million nodes is a
//! million small allocations: dropping it takes a while, and glibc's malloc keeps the
//! freed pages, so the process would stay at the size of both trees after a restore or
//! a learner's SNAP.

use zooid_tree::DataTree;

/// Drops `old` on a thread of its own (not under any lock, not on the core's), then
/// asks malloc to return the free pages.
pub fn release_tree(old: DataTree) {
    let spawned = std::thread::Builder::new()
        .name("zooid-free".into())
        .spawn(move || {
            drop(old);
            trim();
        });
    if let Err(e) = spawned {
        // The tree was moved into the closure that failed to start, and is dropped here.
        tracing::warn!("cannot start a thread to free the old tree: {e}");
    }
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn trim() {
    // SAFETY: malloc_trim only walks glibc's own arenas under their locks and returns
    // free pages to the kernel; it takes no pointer and is safe to call from any
    // thread at any time.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn trim() {}
