//! The caller's session as `smbd` sends it: `auth_session_info` and what it
//! points to (Samba's `librpc/idl/auth.idl` and `security.idl`).

use std::fmt;

use super::ndr::{Reader, Writer};
use super::sid::Sid;
use super::{Layout, NpError};

/// The caller's session (`auth_session_info`): who Samba authenticated, as
/// Windows sees them (the token and account) and as Unix sees them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Session {
    /// The Windows security token: the user's SID, then the primary group's,
    /// then the other groups' (Samba adds SIDs of its own under `S-1-22-`).
    pub token: Option<SecurityToken>,
    /// The Unix identity Samba mapped the user to.
    pub unix_token: Option<UnixToken>,
    /// The account as the domain describes it.
    pub user: Option<UserInfo>,
    /// The Unix account name.
    pub unix_user: Option<UnixUserInfo>,
    /// The session key (secret: never printed).
    pub session_key: Secret,
    /// Samba's id for the session, as its 16 wire bytes.
    pub unique_session_token: [u8; 16],
    /// How the user logged on with Kerberos (`ticket_type`); absent from
    /// Samba releases before the CVE-2022-2031 fixes.
    pub ticket_type: Option<u16>,
    /// Delegated credentials, if the client passed any (secret: never printed).
    pub exported_gssapi_credentials: Secret,
}

/// Bytes that are never shown by `Debug`.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(pub Vec<u8>);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<{} secret bytes>", self.0.len())
    }
}

/// A Windows security token (`security_token`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SecurityToken {
    /// The user's SID first, the primary group's second, then the rest.
    pub sids: Vec<Sid>,
    /// Privileges held (Samba's `se_privilege` bits).
    pub privilege_mask: u64,
    /// Logon rights (`lsa_SystemAccessModeFlags`).
    pub rights_mask: u32,
    /// The device's SIDs (level 8 only; compound identity under Kerberos).
    pub device_sids: Vec<Sid>,
    /// Whether claims are evaluated for this token (level 8 only).
    pub evaluate_claims: Option<u16>,
}

/// The Unix identity Samba mapped the caller to (`security_unix_token`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UnixToken {
    /// The user id.
    pub uid: u64,
    /// The primary group id.
    pub gid: u64,
    /// The supplementary group ids.
    pub groups: Vec<u64>,
}

/// The account as the domain describes it (`auth_user_info`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UserInfo {
    /// The account name (`sAMAccountName`).
    pub account_name: Option<String>,
    /// The user principal name, if any.
    pub user_principal_name: Option<String>,
    /// Whether Samba made up the principal name.
    pub user_principal_constructed: bool,
    /// The NetBIOS domain name (the host's name for a local account).
    pub domain_name: Option<String>,
    /// The DNS domain name, if any.
    pub dns_domain_name: Option<String>,
    /// The full name.
    pub full_name: Option<String>,
    /// The logon script.
    pub logon_script: Option<String>,
    /// The profile path.
    pub profile_path: Option<String>,
    /// The home directory.
    pub home_directory: Option<String>,
    /// The home drive.
    pub home_drive: Option<String>,
    /// The server that logged the user on.
    pub logon_server: Option<String>,
    /// Last logon, last logoff, account expiry, last password change, when
    /// the password may change and when it must (`NTTIME`s).
    pub times: [u64; 6],
    /// How many logons.
    pub logon_count: u16,
    /// How many bad passwords.
    pub bad_password_count: u16,
    /// The account's control bits (`ACB_*`).
    pub acct_flags: u32,
    /// The last field, read as 32 bits: Samba 4.15 to 4.18 send an
    /// `authenticated` byte here (1: authenticated) and padding, 4.19 on the
    /// logon's `user_flags` (`NETLOGON_GUEST`, 1: a guest). Level 7 comes
    /// from both, and the two cannot be told apart on the wire, so the value
    /// alone does not say who is a guest: see
    /// [`AuthRequest::is_guest`](super::AuthRequest::is_guest).
    pub flags: u32,
}

/// The Unix account name (`auth_user_info_unix`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UnixUserInfo {
    /// The Unix user name.
    pub unix_name: Option<String>,
    /// The same, as Samba sanitises it for `%U` substitutions.
    pub sanitized_username: Option<String>,
}

// ---------------------------------------------------------------------------
// Decoding. Each structure reads its fixed part (with referent ids where it
// points elsewhere), then what it points to, in field order: NDR's deferred
// pointers.

/// `auth_session_info_transport`, whose pointer the request holds.
pub(crate) fn read_transport(r: &mut Reader<'_>, layout: &Layout) -> Result<Session, NpError> {
    r.align(4)?;
    let has_session = r.pointer()?;
    let exported = r.blob("exported_gssapi_credentials")?;
    if !has_session {
        return Err(r.malformed("a session without its session_info"));
    }
    let mut session = read_session(r, layout)?;
    session.exported_gssapi_credentials = Secret(exported);
    Ok(session)
}

fn read_session(r: &mut Reader<'_>, layout: &Layout) -> Result<Session, NpError> {
    r.align(4)?;
    let has_token = r.pointer()?;
    let has_unix_token = r.pointer()?;
    let has_user = r.pointer()?;
    let has_unix_user = r.pointer()?;
    r.null_pointer("auth_session_info.torture")?;
    let session_key = r.blob("session_key")?;
    r.null_pointer("auth_session_info.credentials")?;
    let unique_session_token = r.guid()?;
    let ticket_type = if layout.ticket_type {
        Some(r.u16()?)
    } else {
        None
    };
    let token = has_token.then(|| read_token(r, layout)).transpose()?;
    let unix_token = has_unix_token.then(|| read_unix_token(r)).transpose()?;
    let user = has_user.then(|| read_user(r)).transpose()?;
    let unix_user = has_unix_user.then(|| read_unix_user(r)).transpose()?;
    Ok(Session {
        token,
        unix_token,
        user,
        unix_user,
        session_key: Secret(session_key),
        unique_session_token,
        ticket_type,
        exported_gssapi_credentials: Secret::default(),
    })
}

fn read_token(r: &mut Reader<'_>, layout: &Layout) -> Result<SecurityToken, NpError> {
    // Its privilege mask is a `hyper`: the structure is aligned to 8.
    r.align(8)?;
    let num_sids = r.u32()?;
    let sids = r.sid_array(num_sids, "security_token.sids")?;
    let privilege_mask = r.hyper()?;
    let rights_mask = r.u32()?;
    let mut token = SecurityToken {
        sids,
        privilege_mask,
        rights_mask,
        ..SecurityToken::default()
    };
    if layout.claims_token {
        let claims = [r.u32()?, r.u32()?, r.u32()?];
        let num_device_sids = r.u32()?;
        if claims.iter().any(|&n| n != 0) {
            // Claims come as self-relative structures; only an Active
            // Directory with claims configured sends them.
            return Err(NpError::Unsupported(
                "claims in the caller's security token",
            ));
        }
        for what in ["local_claims", "user_claims", "device_claims"] {
            if r.u32()? != 0 {
                return Err(r.malformed(format!("{what}: array size for a count of 0")));
            }
        }
        token.device_sids = r.sid_array(num_device_sids, "security_token.device_sids")?;
        token.evaluate_claims = Some(r.u16()?);
    }
    Ok(token)
}

fn read_unix_token(r: &mut Reader<'_>) -> Result<UnixToken, NpError> {
    // The groups array ends the structure: its size comes first, before the
    // structure's own alignment.
    let size = r.u32()?;
    r.align(8)?;
    let uid = r.hyper()?;
    let gid = r.hyper()?;
    let ngroups = r.u32()?;
    if size != ngroups || (ngroups as usize).saturating_mul(8) > r.remaining() {
        return Err(r.malformed(format!(
            "security_unix_token: {ngroups} groups in an array of {size}"
        )));
    }
    let groups = (0..ngroups)
        .map(|_| r.hyper())
        .collect::<Result<Vec<_>, _>>()?;
    Ok(UnixToken { uid, gid, groups })
}

fn read_user(r: &mut Reader<'_>) -> Result<UserInfo, NpError> {
    r.align(4)?;
    let has_account = r.pointer()?;
    let has_upn = r.pointer()?;
    let user_principal_constructed = r.bool8()?;
    let mut present = [false; 8];
    for p in &mut present {
        *p = r.pointer()?;
    }
    let mut times = [0u64; 6];
    for t in &mut times {
        *t = r.nttime()?;
    }
    let logon_count = r.u16()?;
    let bad_password_count = r.u16()?;
    let acct_flags = r.u32()?;
    let flags = r.u32()?;
    let mut string = |present: bool, what: &str| present.then(|| r.string(what)).transpose();
    let account_name = string(has_account, "account_name")?;
    let user_principal_name = string(has_upn, "user_principal_name")?;
    let names = [
        "domain_name",
        "dns_domain_name",
        "full_name",
        "logon_script",
        "profile_path",
        "home_directory",
        "home_drive",
        "logon_server",
    ];
    let mut strings = Vec::with_capacity(names.len());
    for (present, what) in present.into_iter().zip(names) {
        strings.push(string(present, what)?);
    }
    let mut strings = strings.into_iter();
    let mut next = || strings.next().flatten();
    Ok(UserInfo {
        account_name,
        user_principal_name,
        user_principal_constructed,
        domain_name: next(),
        dns_domain_name: next(),
        full_name: next(),
        logon_script: next(),
        profile_path: next(),
        home_directory: next(),
        home_drive: next(),
        logon_server: next(),
        times,
        logon_count,
        bad_password_count,
        acct_flags,
        flags,
    })
}

fn read_unix_user(r: &mut Reader<'_>) -> Result<UnixUserInfo, NpError> {
    r.align(4)?;
    let has_name = r.pointer()?;
    let has_sanitized = r.pointer()?;
    Ok(UnixUserInfo {
        unix_name: has_name.then(|| r.string("unix_name")).transpose()?,
        sanitized_username: has_sanitized
            .then(|| r.string("sanitized_username"))
            .transpose()?,
    })
}

// ---------------------------------------------------------------------------
// Encoding: the same layout, for tools and tests that play smbd.

pub(crate) fn write_transport(w: &mut Writer, session: &Session, layout: &Layout) {
    w.align(4);
    w.pointer(true);
    w.blob(&session.exported_gssapi_credentials.0);
    write_session(w, session, layout);
}

fn write_session(w: &mut Writer, s: &Session, layout: &Layout) {
    w.align(4);
    w.pointer(s.token.is_some());
    w.pointer(s.unix_token.is_some());
    w.pointer(s.user.is_some());
    w.pointer(s.unix_user.is_some());
    w.pointer(false);
    w.blob(&s.session_key.0);
    w.pointer(false);
    w.guid(&s.unique_session_token);
    if layout.ticket_type {
        w.u16(s.ticket_type.unwrap_or(0));
    }
    if let Some(token) = &s.token {
        w.align(8);
        w.u32(token.sids.len() as u32);
        w.sid_array(&token.sids);
        w.hyper(token.privilege_mask);
        w.u32(token.rights_mask);
        if layout.claims_token {
            for _ in 0..3 {
                w.u32(0);
            }
            w.u32(token.device_sids.len() as u32);
            for _ in 0..3 {
                w.u32(0);
            }
            w.sid_array(&token.device_sids);
            w.u16(token.evaluate_claims.unwrap_or(0));
        }
    }
    if let Some(unix) = &s.unix_token {
        w.u32(unix.groups.len() as u32);
        w.align(8);
        w.hyper(unix.uid);
        w.hyper(unix.gid);
        w.u32(unix.groups.len() as u32);
        for g in &unix.groups {
            w.hyper(*g);
        }
    }
    if let Some(user) = &s.user {
        write_user(w, user);
    }
    if let Some(unix_user) = &s.unix_user {
        w.align(4);
        w.pointer(unix_user.unix_name.is_some());
        w.pointer(unix_user.sanitized_username.is_some());
        for s in [&unix_user.unix_name, &unix_user.sanitized_username]
            .into_iter()
            .flatten()
        {
            w.string(s);
        }
    }
}

fn write_user(w: &mut Writer, u: &UserInfo) {
    let rest = [
        &u.domain_name,
        &u.dns_domain_name,
        &u.full_name,
        &u.logon_script,
        &u.profile_path,
        &u.home_directory,
        &u.home_drive,
        &u.logon_server,
    ];
    w.align(4);
    w.pointer(u.account_name.is_some());
    w.pointer(u.user_principal_name.is_some());
    w.u8(u8::from(u.user_principal_constructed));
    for s in rest {
        w.pointer(s.is_some());
    }
    for t in u.times {
        w.nttime(t);
    }
    w.u16(u.logon_count);
    w.u16(u.bad_password_count);
    w.u32(u.acct_flags);
    w.u32(u.flags);
    for s in [&u.account_name, &u.user_principal_name]
        .into_iter()
        .chain(rest)
        .flatten()
    {
        w.string(s);
    }
}
