//! ACLs: the reference-counted ACL table, permission checks and `fixupACL`, as
//! ZooKeeper's `ReferenceCountedACLCache`, `ZooKeeperServer.checkACL` and the
//! ip/digest authentication providers define them.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::sync::Arc;

use base64::Engine;
use sha1::{Digest, Sha1};
use zooid_proto::{Acl, ErrorCode, Id};

/// The ACL index ZooKeeper uses for `OPEN_ACL_UNSAFE` in snapshots.
pub const OPEN_UNSAFE_ACL_ID: i64 = -1;

/// A shared, immutable ACL list.
pub type AclList = Arc<[Acl]>;

/// Interns ACL lists as ZooKeeper's `ReferenceCountedACLCache` does: each distinct list
/// gets a `long` index that nodes (and snapshots) refer to.
#[derive(Debug, Default, Clone)]
pub struct AclCache {
    by_index: BTreeMap<i64, (AclList, u64)>,
    by_list: HashMap<AclList, i64>,
    next_index: i64,
}

impl AclCache {
    /// Returns the index for `acl`, adding one reference.
    pub fn intern(&mut self, acl: &[Acl]) -> i64 {
        if acl.is_empty() {
            return OPEN_UNSAFE_ACL_ID;
        }
        if let Some(&i) = self.by_list.get(acl) {
            self.by_index
                .get_mut(&i)
                .expect("acl cache indexes agree")
                .1 += 1;
            return i;
        }
        let list: AclList = acl.into();
        let i = self.next_index;
        self.next_index += 1;
        self.by_index.insert(i, (list.clone(), 1));
        self.by_list.insert(list, i);
        i
    }

    /// Drops one reference to `index`, forgetting the list when none is left.
    pub fn release(&mut self, index: i64) {
        if index == OPEN_UNSAFE_ACL_ID {
            return;
        }
        let Some(entry) = self.by_index.get_mut(&index) else {
            return;
        };
        entry.1 -= 1;
        if entry.1 == 0 {
            let (list, _) = self.by_index.remove(&index).expect("present");
            self.by_list.remove(&list);
        }
    }

    /// The list at `index`: the open ACL for -1; for an index the table does not hold,
    /// a list that grants nothing (ZooKeeper throws there; we fail closed rather than open).
    pub fn get(&self, index: i64) -> AclList {
        if index == OPEN_UNSAFE_ACL_ID {
            return zooid_proto::open_acl_unsafe().into();
        }
        match self.by_index.get(&index) {
            Some((l, _)) => l.clone(),
            None => vec![Acl::new(0, "world", "anyone")].into(),
        }
    }

    pub fn len(&self) -> usize {
        self.by_index.len()
    }

    /// Every list with its index, in index order (what a snapshot stores).
    pub fn entries(&self) -> impl Iterator<Item = (i64, &AclList)> {
        self.by_index.iter().map(|(i, (l, _))| (*i, l))
    }

    /// A cache holding `entries` with no references yet (`ReferenceCountedACLCache
    /// .deserialize`); nodes add theirs with [`AclCache::add_usage`], then
    /// [`AclCache::purge_unused`] drops the rest.
    pub fn from_entries(entries: impl IntoIterator<Item = (i64, Vec<Acl>)>) -> AclCache {
        let mut c = AclCache::default();
        for (i, acl) in entries {
            let list: AclList = acl.into();
            c.by_list.insert(list.clone(), i);
            c.by_index.insert(i, (list, 0));
            c.next_index = c.next_index.max(i + 1);
        }
        c
    }

    /// Adds a reference to an existing index; false when the index is unknown.
    pub fn add_usage(&mut self, index: i64) -> bool {
        if index == OPEN_UNSAFE_ACL_ID {
            return true;
        }
        match self.by_index.get_mut(&index) {
            Some(e) => {
                e.1 += 1;
                true
            }
            None => false,
        }
    }

    /// Adds `n` references to an existing index; false when the index is unknown.
    pub fn add_usages(&mut self, index: i64, n: u64) -> bool {
        if index == OPEN_UNSAFE_ACL_ID {
            return true;
        }
        match self.by_index.get_mut(&index) {
            Some(e) => {
                e.1 += n;
                true
            }
            None => false,
        }
    }

    /// Forgets lists no node refers to.
    pub fn purge_unused(&mut self) {
        let unused: Vec<i64> = self
            .by_index
            .iter()
            .filter(|(_, (_, n))| *n == 0)
            .map(|(i, _)| *i)
            .collect();
        for i in unused {
            if let Some((l, _)) = self.by_index.remove(&i) {
                self.by_list.remove(&l);
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        self.by_index.is_empty()
    }
}

/// What the ACL checks need from the server configuration.
#[derive(Debug, Clone, Default)]
pub struct AclPolicy {
    /// `skipACL=yes`: every check passes.
    pub skip_acl: bool,
    /// `superDigest` (`super:base64(sha1)`) that makes a digest identity a super user.
    pub super_digest: Option<String>,
    /// Whether the `x509` provider is registered: ZooKeeper registers it when a secure
    /// client port is configured (`QuorumPeerConfig.configureSSLAuth`) or an
    /// `authProvider.*` key names it. Without it, x509 ACLs are InvalidACL.
    pub x509: bool,
    /// Whether the `sasl` provider is registered: an `authProvider.*` key names
    /// `SASLAuthenticationProvider`. Without it, sasl ACLs are InvalidACL and match no one.
    pub sasl: bool,
    /// `zookeeper.letAnySaslUserDoX`: a sasl ACL naming this id matches every sasl user.
    pub sasl_any_user: Option<String>,
}

/// `ZooKeeperServer.checkACL`: Ok when `ids` grant `perm` on a node with `acl`.
pub fn check_acl(policy: &AclPolicy, acl: &[Acl], perm: i32, ids: &[Id]) -> Result<(), ErrorCode> {
    if policy.skip_acl || acl.is_empty() || ids.iter().any(|i| i.scheme == "super") {
        return Ok(());
    }
    for a in acl.iter().filter(|a| a.perms & perm != 0) {
        if a.id.scheme == "world" && a.id.id == "anyone" {
            return Ok(());
        }
        let granted = ids
            .iter()
            .filter(|i| i.scheme == a.id.scheme)
            .any(|i| scheme_matches(policy, &a.id.scheme, &i.id, &a.id.id));
        if granted {
            return Ok(());
        }
    }
    Err(ErrorCode::NoAuth)
}

/// `AuthenticationProvider.matches` of the registered provider for `scheme`.
fn scheme_matches(policy: &AclPolicy, scheme: &str, id: &str, acl_expr: &str) -> bool {
    match scheme {
        "ip" => ip_matches(id, acl_expr),
        "digest" => id == acl_expr,
        "x509" => id == acl_expr,
        "sasl" => policy.sasl && sasl_matches(policy, id, acl_expr),
        _ => false,
    }
}

/// `SASLAuthenticationProvider.matches`: the id itself, any ACL for an id named `super`,
/// and the `letAnySaslUserDoX` id for everyone.
fn sasl_matches(policy: &AclPolicy, id: &str, acl_expr: &str) -> bool {
    id == "super" || id == acl_expr || policy.sasl_any_user.as_deref() == Some(acl_expr)
}

/// Whether a scheme is one this server has an authentication provider for
/// (`ProviderRegistry.getServerProvider`): ip and digest always, x509 when registered,
/// before any TLS client connects.
pub fn known_scheme(policy: &AclPolicy, scheme: &str) -> bool {
    match scheme {
        "ip" | "digest" => true,
        "x509" => policy.x509,
        "sasl" => policy.sasl,
        _ => false,
    }
}

/// `AuthenticationProvider.isValid` for an ACL id of a known scheme.
fn id_valid(scheme: &str, id: &str) -> bool {
    match scheme {
        "ip" => parse_ip_expr(id).is_some(),
        "digest" => id.split(':').count() == 2,
        // `new X500Principal(id)` accepts any non-empty distinguished name we could print.
        "x509" => !id.trim().is_empty(),
        "sasl" => sasl_id_valid(id),
        _ => false,
    }
}

/// `SASLAuthenticationProvider.isValid`: `new KerberosName(id)` accepts it, that is the
/// id has no `@`, or is `service[/host]@realm` with no other `/` or `@`.
pub fn sasl_id_valid(id: &str) -> bool {
    let Some((left, realm)) = id.split_once('@') else {
        return true;
    };
    !realm.contains(['/', '@']) && left.split('/').count() <= 2
}

/// Parses `addr[/bits]`; ZooKeeper's checks (bits within the address width).
fn parse_ip_expr(expr: &str) -> Option<(Vec<u8>, usize)> {
    let (addr, bits) = match expr.split_once('/') {
        Some((a, b)) => (a, Some(b)),
        None => (expr, None),
    };
    let bytes = addr_bytes(addr)?;
    let width = bytes.len() * 8;
    let bits = match bits {
        Some(b) => b
            .parse::<i64>()
            .ok()
            .filter(|b| (0..=width as i64).contains(b))? as usize,
        None => width,
    };
    Some((bytes, bits))
}

fn addr_bytes(addr: &str) -> Option<Vec<u8>> {
    match addr.parse::<IpAddr>().ok()? {
        IpAddr::V4(a) => Some(a.octets().to_vec()),
        IpAddr::V6(a) => Some(a.octets().to_vec()),
    }
}

fn mask(bytes: &mut [u8], bits: usize) {
    for (i, b) in bytes.iter_mut().enumerate() {
        let start = i * 8;
        if start >= bits {
            *b = 0;
        } else if start + 8 > bits {
            *b &= 0xffu8 << (8 - (bits - start));
        }
    }
}

/// `IPAuthenticationProvider.matches`.
pub fn ip_matches(id: &str, acl_expr: &str) -> bool {
    let Some((mut acl, bits)) = parse_ip_expr(acl_expr) else {
        return false;
    };
    let Some(mut remote) = addr_bytes(id) else {
        return false;
    };
    if remote.len() != acl.len() {
        return false;
    }
    mask(&mut acl, bits);
    mask(&mut remote, bits);
    acl == remote
}

/// `DigestAuthenticationProvider.generateDigest`: `user:base64(sha1("user:password"))`.
pub fn generate_digest(id_password: &str) -> String {
    let user = id_password.split(':').next().unwrap_or("");
    let hash = Sha1::digest(id_password.as_bytes());
    format!(
        "{user}:{}",
        base64::engine::general_purpose::STANDARD.encode(hash)
    )
}

/// The identities an `addauth` adds, or `AuthFailed` for an unknown scheme.
pub fn authenticate(policy: &AclPolicy, scheme: &str, auth: &[u8]) -> Result<Vec<Id>, ErrorCode> {
    match scheme {
        "digest" => {
            let digest = generate_digest(&String::from_utf8_lossy(auth));
            let mut ids = Vec::new();
            if policy.super_digest.as_deref() == Some(digest.as_str()) {
                ids.push(Id::new("super", ""));
            }
            ids.push(Id::new("digest", &digest));
            Ok(ids)
        }
        _ => Err(ErrorCode::AuthFailed),
    }
}

/// `PrepRequestProcessor.fixupACL`: de-duplicates, expands `auth`, validates ids.
pub fn fixup_acl(policy: &AclPolicy, acl: &[Acl], ids: &[Id]) -> Result<Vec<Acl>, ErrorCode> {
    let mut uniq: Vec<&Acl> = Vec::with_capacity(acl.len());
    for a in acl {
        if !uniq.contains(&a) {
            uniq.push(a);
        }
    }
    if uniq.is_empty() {
        return Err(ErrorCode::InvalidAcl);
    }
    let mut out = Vec::with_capacity(uniq.len());
    for a in uniq {
        if a.id.scheme == "world" && a.id.id == "anyone" {
            out.push(a.clone());
        } else if a.id.scheme == "auth" {
            // Every id of the caller whose registered provider says `isAuthenticated`:
            // digest, x509 and sasl do, ip does not (an ip identity is not a login).
            let mut any = false;
            let authenticated = |i: &&Id| match i.scheme.as_str() {
                "digest" => true,
                "x509" => policy.x509,
                "sasl" => policy.sasl,
                _ => false,
            };
            for id in ids.iter().filter(authenticated) {
                any = true;
                out.push(Acl {
                    perms: a.perms,
                    id: id.clone(),
                });
            }
            if !any {
                return Err(ErrorCode::InvalidAcl);
            }
        } else if known_scheme(policy, &a.id.scheme) && id_valid(&a.id.scheme, &a.id.id) {
            out.push(a.clone());
        } else {
            return Err(ErrorCode::InvalidAcl);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use zooid_proto::perms;

    #[test]
    fn digest_matches_zookeepers() {
        // From ZooKeeper's documentation: super:admin.
        assert_eq!(
            generate_digest("super:admin"),
            "super:xQJmxLMiHGwaqBvst5y6rkB6HQs="
        );
    }

    #[test]
    fn ip_masks() {
        assert!(ip_matches("127.0.0.1", "127.0.0.1"));
        assert!(ip_matches("10.1.2.3", "10.0.0.0/8"));
        assert!(!ip_matches("11.1.2.3", "10.0.0.0/8"));
        assert!(!ip_matches("127.0.0.1", "127.0.0.1/33"));
        assert!(ip_matches("::1", "::1/128"));
        assert!(!ip_matches("::1", "127.0.0.1"));
        assert!(ip_matches("192.168.1.77", "192.168.1.64/26"));
        assert!(!ip_matches("192.168.1.128", "192.168.1.64/26"));
    }

    #[test]
    fn check_acl_rules() {
        let p = AclPolicy::default();
        let acl = vec![
            Acl::new(perms::READ, "digest", "u:h"),
            Acl::new(perms::ALL, "ip", "10.0.0.0/8"),
        ];
        let ip = Id::new("ip", "127.0.0.1");
        assert_eq!(
            check_acl(&p, &acl, perms::READ, std::slice::from_ref(&ip)),
            Err(ErrorCode::NoAuth)
        );
        assert_eq!(
            check_acl(
                &p,
                &acl,
                perms::READ,
                &[ip.clone(), Id::new("digest", "u:h")]
            ),
            Ok(())
        );
        assert_eq!(
            check_acl(
                &p,
                &acl,
                perms::WRITE,
                &[ip.clone(), Id::new("digest", "u:h")]
            ),
            Err(ErrorCode::NoAuth)
        );
        assert_eq!(
            check_acl(&p, &acl, perms::WRITE, &[Id::new("ip", "10.9.9.9")]),
            Ok(())
        );
        assert_eq!(
            check_acl(&p, &acl, perms::WRITE, &[Id::new("super", "")]),
            Ok(())
        );
        assert_eq!(check_acl(&p, &[], perms::WRITE, &[]), Ok(()));
        let skip = AclPolicy {
            skip_acl: true,
            ..AclPolicy::default()
        };
        assert_eq!(check_acl(&skip, &acl, perms::WRITE, &[]), Ok(()));
    }

    #[test]
    fn fixup_expands_auth_and_rejects_bad_ids() {
        let p = AclPolicy::default();
        let ids = [Id::new("ip", "127.0.0.1"), Id::new("digest", "u:h")];
        let got = fixup_acl(&p, &[Acl::new(perms::ALL, "auth", "")], &ids).unwrap();
        assert_eq!(got, vec![Acl::new(perms::ALL, "digest", "u:h")]);
        assert_eq!(
            fixup_acl(&p, &[Acl::new(perms::ALL, "auth", "")], &ids[..1]),
            Err(ErrorCode::InvalidAcl)
        );
        assert_eq!(fixup_acl(&p, &[], &ids), Err(ErrorCode::InvalidAcl));
        assert_eq!(
            fixup_acl(&p, &[Acl::new(1, "digest", "nocolon")], &ids),
            Err(ErrorCode::InvalidAcl)
        );
        assert_eq!(
            fixup_acl(&p, &[Acl::new(1, "ip", "300.1.1.1")], &ids),
            Err(ErrorCode::InvalidAcl)
        );
        assert_eq!(
            fixup_acl(&p, &[Acl::new(1, "foo", "x")], &ids),
            Err(ErrorCode::InvalidAcl)
        );
        let dup = [
            Acl::new(1, "world", "anyone"),
            Acl::new(1, "world", "anyone"),
        ];
        assert_eq!(fixup_acl(&p, &dup, &ids).unwrap().len(), 1);
    }

    #[test]
    fn x509_acls_need_the_x509_provider() {
        let x509 = [Acl::new(perms::ALL, "x509", "CN=a,O=b")];
        let off = AclPolicy::default();
        assert_eq!(fixup_acl(&off, &x509, &[]), Err(ErrorCode::InvalidAcl));
        let on = AclPolicy {
            x509: true,
            ..AclPolicy::default()
        };
        assert_eq!(fixup_acl(&on, &x509, &[]), Ok(x509.to_vec()));
    }

    #[test]
    fn sasl_acls_need_the_sasl_provider() {
        let bob = [Acl::new(perms::ALL, "sasl", "bob")];
        let off = AclPolicy::default();
        assert_eq!(fixup_acl(&off, &bob, &[]), Err(ErrorCode::InvalidAcl));
        let ids = [Id::new("sasl", "bob")];
        assert_eq!(
            check_acl(&off, &bob, perms::READ, &ids),
            Err(ErrorCode::NoAuth)
        );
        let on = AclPolicy {
            sasl: true,
            ..AclPolicy::default()
        };
        assert_eq!(fixup_acl(&on, &bob, &[]), Ok(bob.to_vec()));
        for id in ["bob/host@REALM", "bob@REALM", "a/b/c", "bob@"] {
            let acl = [Acl::new(perms::ALL, "sasl", id)];
            assert!(fixup_acl(&on, &acl, &[]).is_ok(), "{id}");
        }
        for id in ["a@b@c", "a/b/c@R", "a@b/c"] {
            let acl = [Acl::new(perms::ALL, "sasl", id)];
            assert_eq!(
                fixup_acl(&on, &acl, &[]),
                Err(ErrorCode::InvalidAcl),
                "{id}"
            );
        }
        // `auth` takes the caller's sasl id when the provider is registered.
        let got = fixup_acl(&on, &[Acl::new(perms::READ, "auth", "")], &ids).unwrap();
        assert_eq!(got, vec![Acl::new(perms::READ, "sasl", "bob")]);
        assert_eq!(
            fixup_acl(&off, &[Acl::new(perms::READ, "auth", "")], &ids),
            Err(ErrorCode::InvalidAcl)
        );
        assert_eq!(check_acl(&on, &bob, perms::READ, &ids), Ok(()));
        let eve = [Id::new("sasl", "eve")];
        assert_eq!(
            check_acl(&on, &bob, perms::READ, &eve),
            Err(ErrorCode::NoAuth)
        );
        // SASLAuthenticationProvider.matches: a sasl id named super matches any sasl ACL.
        let sup = [Id::new("sasl", "super")];
        assert_eq!(check_acl(&on, &bob, perms::READ, &sup), Ok(()));
        let any = AclPolicy {
            sasl_any_user: Some("bob".to_owned()),
            ..on.clone()
        };
        assert_eq!(check_acl(&any, &bob, perms::READ, &eve), Ok(()));
    }

    #[test]
    fn cache_interns_and_releases() {
        let mut c = AclCache::default();
        let a = vec![Acl::new(perms::READ, "world", "anyone")];
        let i = c.intern(&a);
        assert_eq!(c.intern(&a), i);
        c.release(i);
        assert_eq!(c.len(), 1);
        c.release(i);
        assert!(c.is_empty());
        assert_eq!(c.intern(&[]), OPEN_UNSAFE_ACL_ID);
    }
}
