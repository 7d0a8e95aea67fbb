//! SASL authentication of clients (opcode 102), as ZooKeeper's `ServerCnxnFactory
//! .configureSaslLogin`, `ZooKeeperSaslServer`, `SaslServerCallbackHandler` and
//! `AuthenticationHelper` define it: a DIGEST-MD5 server whose accounts are the `user_*`
//! options of a JAAS file's `Server` section (`DigestLoginModule`).
//!
//! Where the JAAS file comes from: the setting `java.security.auth.login.config` (a zoo.cfg
//! key in Zooid; in ZooKeeper only a JVM flag, which the binary also reads from
//! `SERVER_JVMFLAGS` / `JVMFLAGS`), the section from `zookeeper.sasl.serverconfig`.
//! Kerberos (GSSAPI) is not supported: a section with any other login module is refused
//! at start.

pub mod digest;
pub mod jaas;

use std::collections::BTreeMap;
use std::path::PathBuf;

use zooid_proto::{ErrorCode, Id};

use crate::config::Config;
use digest::{Accounts, DigestMd5Server, SaslError, NONCE_RANDOM_BYTES};

/// The zoo.cfg key (and JVM system property) naming the JAAS file.
pub const JAAS_FILE_KEY: &str = "java.security.auth.login.config";
/// `ZooKeeperSaslServer.LOGIN_CONTEXT_NAME_KEY`.
const SECTION_KEY: &str = "zookeeper.sasl.serverconfig";
/// `ZooKeeperSaslServer.DEFAULT_LOGIN_CONTEXT_NAME`.
const DEFAULT_SECTION: &str = "Server";
/// The one login module Zooid can stand in for.
pub const DIGEST_LOGIN_MODULE: &str = "org.apache.zookeeper.server.auth.DigestLoginModule";
const KRB5_LOGIN_MODULE: &str = "com.sun.security.auth.module.Krb5LoginModule";
/// `ServerCnxnFactory.DIGEST_MD5_USER_PREFIX`.
const USER_PREFIX: &str = "user_";
/// The class an `authProvider.*` key names to register the `sasl` scheme.
pub const SASL_PROVIDER_CLASS: &str = "org.apache.zookeeper.server.auth.SASLAuthenticationProvider";

/// Why the SASL settings stop the start.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SaslConfigError(pub String);

/// The accounts of the JAAS section and how names become authorization ids
/// (`SaslServerCallbackHandler`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JaasAccounts {
    /// user → password, from the `user_<name>="<password>"` options.
    credentials: BTreeMap<String, String>,
    /// `zookeeper.SASLAuthenticationProvider.superPassword`: replaces the password of a
    /// `user_super` account.
    super_password: Option<String>,
    /// `zookeeper.kerberos.removeHostFromPrincipal`.
    remove_host: bool,
    /// `zookeeper.kerberos.removeRealmFromPrincipal`.
    remove_realm: bool,
}

impl Accounts for JaasAccounts {
    fn password(&self, username: &str) -> Option<String> {
        // handleNameCallback: an unknown user gets no password, even `super`.
        let stored = self.credentials.get(username)?;
        match (&self.super_password, username) {
            (Some(p), "super") => Some(p.clone()),
            _ => Some(stored.clone()),
        }
    }

    fn authorize(&self, username: &str, requested: &str) -> Result<String, SaslError> {
        tracing::info!(
            "Successfully authenticated client: authenticationID={username};  \
             authorizationID={requested}."
        );
        authorized_id(username, requested, self.remove_host, self.remove_realm)
    }
}

/// `SaslServerCallbackHandler.handleAuthorizeCallback`: the authorization id is the
/// authenticated name's Kerberos short name (with its host and realm unless removed),
/// whatever authzid the client asked for. Zooid knows no Kerberos configuration, so the
/// default realm is empty and the rules are `DEFAULT`: a name with a realm has no short
/// name, and then ZooKeeper keeps the requested id.
pub fn authorized_id(
    username: &str,
    requested: &str,
    remove_host: bool,
    remove_realm: bool,
) -> Result<String, SaslError> {
    let name = KerberosName::parse(username)
        .ok_or_else(|| SaslError(format!("Malformed Kerberos name: {username}")))?;
    let short = match (&name.host, &name.realm) {
        (None, None) => name.service.clone(),
        // The DEFAULT rule maps names of the default realm (here "") to the service.
        (_, Some(realm)) if realm.is_empty() => name.service.clone(),
        _ => {
            tracing::error!(
                "Failed to set name based on Kerberos authentication rules: \
                 No rules applied to {username}"
            );
            return Ok(requested.to_owned());
        }
    };
    let mut id = short;
    if let (Some(host), false) = (&name.host, remove_host) {
        id.push('/');
        id.push_str(host);
    }
    if let (Some(realm), false) = (&name.realm, remove_realm) {
        id.push('@');
        id.push_str(realm);
    }
    tracing::info!("Setting authorizedID: {id}");
    Ok(id)
}

/// `KerberosName`: `service[/host]@realm`, or any name without `@` as a bare service.
#[derive(Debug, Clone, PartialEq, Eq)]
struct KerberosName {
    service: String,
    host: Option<String>,
    realm: Option<String>,
}

impl KerberosName {
    /// None for a malformed name (one with `@` that is not `service[/host]@realm`).
    fn parse(name: &str) -> Option<KerberosName> {
        let Some((left, realm)) = name.split_once('@') else {
            return Some(KerberosName {
                service: name.to_owned(),
                host: None,
                realm: None,
            });
        };
        if realm.contains(['/', '@']) {
            return None;
        }
        let (service, host) = match left.split_once('/') {
            Some((_, h)) if h.contains('/') => return None,
            Some((s, h)) => (s, Some(h)),
            None => (left, None),
        };
        Some(KerberosName {
            service: service.to_owned(),
            host: host.map(str::to_owned),
            realm: Some(realm.to_owned()),
        })
    }
}

/// What one SASL request comes to (`ZooKeeperServer.processSasl`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SaslOutcome {
    /// Answer OK with this token (None: a null token).
    Reply(Option<Vec<u8>>),
    /// The exchange succeeded: add `ids` to the connection, answer OK with `token`.
    Authenticated { ids: Vec<Id>, token: Vec<u8> },
    /// The exchange failed: answer this error with a null token and close.
    Refused(ErrorCode),
}

/// The client-authentication settings of a server.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    /// The DIGEST-MD5 accounts; None when no SASL server is configured (ZooKeeper then
    /// answers every SASL request with OK and no token).
    pub accounts: Option<std::sync::Arc<JaasAccounts>>,
    /// `zookeeper.superUser` and `zookeeper.superUser.*`: authorization ids that are also
    /// `super`.
    pub super_users: Vec<String>,
    /// `zookeeper.allowSaslFailedClients`.
    pub allow_failed: bool,
    /// The schemes `AuthenticationHelper` enforces: a session must hold an id of one of
    /// them before any request but auth and SASL. Empty: nothing enforced.
    pub enforce_schemes: Vec<String>,
}

impl Settings {
    /// Settings whose SASL server refuses everyone: no accounts, yet configured.
    pub fn failing() -> Settings {
        Settings {
            accounts: Some(std::sync::Arc::new(JaasAccounts::default())),
            ..Settings::default()
        }
    }

    /// `AuthenticationHelper.isSaslAuthRequired`.
    pub fn sasl_required(&self) -> bool {
        self.enforce_schemes.iter().any(|s| s == "sasl")
    }

    /// Whether the ids a connection holds satisfy the enforced schemes.
    pub fn authenticated(&self, ids: &[Id]) -> bool {
        self.enforce_schemes.is_empty()
            || ids.iter().any(|i| self.enforce_schemes.contains(&i.scheme))
    }

    /// `ZooKeeperServer.isSaslSuperUser`.
    pub fn is_super_user(&self, id: &str) -> bool {
        !id.is_empty() && self.super_users.iter().any(|s| s == id)
    }

    /// One SASL request of a connection whose exchange is `state` (created here by the
    /// first request, with a nonce from `random`). `token` None is a null buffer.
    pub fn process<E>(
        &self,
        state: &mut Option<DigestMd5Server>,
        token: Option<&[u8]>,
        random: impl FnOnce() -> Result<[u8; NONCE_RANDOM_BYTES], E>,
    ) -> Result<SaslOutcome, E> {
        // Without a SASL server, and for a null token (a NullPointerException there),
        // ZooKeeper answers OK with a null token.
        let (Some(accounts), Some(token)) = (&self.accounts, token) else {
            return Ok(SaslOutcome::Reply(None));
        };
        let server = match state {
            Some(s) => s,
            None => state.insert(DigestMd5Server::new(random()?)),
        };
        let e = match server.evaluate(token, accounts.as_ref()) {
            Ok(token) => {
                let Some(id) = server.authorization_id() else {
                    return Ok(SaslOutcome::Reply(Some(token)));
                };
                let mut ids = vec![Id::new("sasl", id)];
                if self.is_super_user(id) {
                    tracing::info!("Authenticated Id '{id}' as super user");
                    ids.push(Id::new("super", ""));
                }
                return Ok(SaslOutcome::Authenticated { ids, token });
            }
            Err(e) => e,
        };
        tracing::warn!("Client failed to SASL authenticate: {e}");
        let required = self.sasl_required();
        Ok(if self.allow_failed && !required {
            tracing::warn!("Maintaining client connection despite SASL authentication failure.");
            SaslOutcome::Reply(None)
        } else if required {
            SaslOutcome::Refused(ErrorCode::SessionClosedRequireSaslAuth)
        } else {
            SaslOutcome::Refused(ErrorCode::AuthFailed)
        })
    }

    /// Reads the settings and the JAAS file the configuration names.
    pub fn load(config: &Config) -> Result<Settings, SaslConfigError> {
        let other = &config.other;
        let flag = |k: &str| config.flag(k);
        let accounts = load_accounts(config)?.map(|mut a| {
            a.super_password = other
                .get("zookeeper.SASLAuthenticationProvider.superPassword")
                .cloned();
            a.remove_host = flag("zookeeper.kerberos.removeHostFromPrincipal");
            a.remove_realm = flag("zookeeper.kerberos.removeRealmFromPrincipal");
            std::sync::Arc::new(a)
        });
        let super_users = other
            .iter()
            .filter(|(k, _)| {
                k.as_str() == "zookeeper.superUser" || k.starts_with("zookeeper.superUser.")
            })
            .map(|(_, v)| v.clone())
            .collect();
        Ok(Settings {
            accounts,
            super_users,
            allow_failed: flag("zookeeper.allowSaslFailedClients"),
            enforce_schemes: enforce_schemes(config)?,
        })
    }
}

/// `AuthenticationHelper.initConfigurations` and `validateConfiguredProperties`.
fn enforce_schemes(config: &Config) -> Result<Vec<String>, SaslConfigError> {
    let other = &config.other;
    let flag = |k: &str| config.flag(k);
    let schemes: Vec<String> = if flag("zookeeper.sessionRequireClientSASLAuth") {
        vec!["sasl".to_owned()]
    } else if flag("zookeeper.enforce.auth.enabled") {
        other
            .get("zookeeper.enforce.auth.schemes")
            .map(|s| s.split(',').map(|x| x.trim().to_owned()).collect())
            .unwrap_or_default()
    } else {
        return Ok(Vec::new());
    };
    if schemes.is_empty() {
        return Err(SaslConfigError(
            "zookeeper.enforce.auth.enabled is true zookeeper.enforce.auth.schemes must be  \
             configured."
                .to_owned(),
        ));
    }
    let policy = crate::state::acl_policy(config);
    for s in &schemes {
        let known = match s.as_str() {
            "digest" => config.digest_auth_enabled,
            _ => zooid_tree::acl::known_scheme(&policy, s),
        };
        if !known {
            return Err(SaslConfigError(format!(
                "Authentication scheme {s} is not available."
            )));
        }
    }
    Ok(schemes)
}

/// `configureSaslLogin`: the accounts of the JAAS section, None without a JAAS file.
fn load_accounts(config: &Config) -> Result<Option<JaasAccounts>, SaslConfigError> {
    let section_set = config.other.get(SECTION_KEY);
    let section = section_set.map_or(DEFAULT_SECTION, String::as_str);
    let Some(path) = config.other.get(JAAS_FILE_KEY).map(PathBuf::from) else {
        if section_set.is_some() {
            return Err(SaslConfigError(format!(
                "No JAAS configuration section named '{section}' was found. But \
                 {SECTION_KEY} was set (and {JAAS_FILE_KEY} is not)."
            )));
        }
        return Ok(None);
    };
    let shown = path.display();
    let text = std::fs::read_to_string(&path)
        .map_err(|e| SaslConfigError(format!("cannot read the JAAS file '{shown}': {e}")))?;
    let jaas =
        jaas::parse(&text).map_err(|e| SaslConfigError(format!("the JAAS file '{shown}': {e}")))?;
    let Some(entries) = jaas.sections.get(section) else {
        return Err(SaslConfigError(format!(
            "No JAAS configuration section named '{section}' was found in '{shown}'."
        )));
    };
    accounts_of(section, entries).map(Some)
}

/// `getDigestMd5Credentials` over a section whose modules must all be DigestLoginModule.
fn accounts_of(section: &str, entries: &[jaas::Entry]) -> Result<JaasAccounts, SaslConfigError> {
    if entries.is_empty() {
        return Err(SaslConfigError(format!(
            "No LoginModules configured for {section}"
        )));
    }
    let mut credentials = BTreeMap::new();
    for e in entries {
        if e.class == KRB5_LOGIN_MODULE {
            return Err(SaslConfigError(format!(
                "JAAS section {section}: Kerberos ({KRB5_LOGIN_MODULE}) is not supported \
                 by Zooid; only {DIGEST_LOGIN_MODULE} (SASL DIGEST-MD5) is"
            )));
        }
        if e.class != DIGEST_LOGIN_MODULE {
            return Err(SaslConfigError(format!(
                "JAAS section {section}: login module {} is not supported by Zooid; \
                 only {DIGEST_LOGIN_MODULE} (SASL DIGEST-MD5) is",
                e.class
            )));
        }
        for (k, v) in &e.options {
            if let Some(user) = k.strip_prefix(USER_PREFIX) {
                credentials.insert(user.to_owned(), v.clone());
            }
        }
    }
    Ok(JaasAccounts {
        credentials,
        ..JaasAccounts::default()
    })
}

#[cfg(test)]
mod tests;
