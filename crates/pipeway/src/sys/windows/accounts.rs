//! Accounts: SIDs, the tokens that carry them, and their names.
//!
//! pipeway keeps every SID as its string form (`S-1-5-21-…`): that is what it
//! compares, shows in errors, and writes into SDDL.

use std::io;
use std::os::windows::io::OwnedHandle;
use std::sync::OnceLock;

use windows_sys::Win32::Foundation::{ERROR_INSUFFICIENT_BUFFER, ERROR_NONE_MAPPED, LocalFree};
use windows_sys::Win32::Security::Authorization::{ConvertSidToStringSidW, ConvertStringSidToSidW};
use windows_sys::Win32::Security::{
    GetTokenInformation, LookupAccountNameW, LookupAccountSidW, PSID, SID_NAME_USE, TOKEN_GROUPS,
    TOKEN_INFORMATION_CLASS, TOKEN_QUERY, TOKEN_USER, TokenGroups, TokenUser,
};
use windows_sys::Win32::System::Threading::{
    GetCurrentProcess, GetCurrentThread, OpenProcess, OpenProcessToken, OpenThreadToken,
    PROCESS_QUERY_LIMITED_INFORMATION,
};

use super::win::{from_wide, is, last_error, owned, raw, wide};

/// LocalSystem, the account services run as: Windows' root.
pub(crate) const SYSTEM_SID: &str = "S-1-5-18";
/// The built-in Administrators group, owner of what elevated processes create.
pub(crate) const ADMINISTRATORS_SID: &str = "S-1-5-32-544";
/// Everyone (the World SID).
#[cfg(test)]
pub(crate) const EVERYONE_SID: &str = "S-1-1-0";

/// A SID string, as server requirements and access rules name accounts:
/// compared as Windows writes it (`S-1-5-…`), described with its account.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Sid(pub String);

impl std::fmt::Display for Sid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl crate::trust::Principal for Sid {
    const ONE_NAMESPACE: bool = true;

    fn describe(&self) -> String {
        describe(&self.0)
    }
}

/// A SID parsed from its string form into memory `LocalAlloc` gave.
struct LocalSid(PSID);

impl LocalSid {
    fn parse(sid: &str) -> Option<Self> {
        let text = wide(sid);
        let mut out: PSID = std::ptr::null_mut();
        // SAFETY: `text` is NUL-terminated and `out` is a valid out pointer;
        // on success the SID is ours to free with LocalFree.
        let ok = unsafe { ConvertStringSidToSidW(text.as_ptr(), &mut out) };
        (ok != 0).then_some(LocalSid(out))
    }
}

impl Drop for LocalSid {
    fn drop(&mut self) {
        // SAFETY: the SID was allocated by ConvertStringSidToSidW and is
        // freed once, here.
        unsafe { LocalFree(self.0) };
    }
}

/// The string form of a SID.
///
/// # Safety
/// `sid` must point at a valid SID for the duration of the call.
pub(crate) unsafe fn sid_string_of(sid: PSID) -> io::Result<String> {
    let mut text: windows_sys::core::PWSTR = std::ptr::null_mut();
    // SAFETY: the caller guarantees `sid`; `text` is a valid out pointer.
    if unsafe { ConvertSidToStringSidW(sid, &mut text) } == 0 {
        return Err(last_error());
    }
    // SAFETY: on success `text` is a NUL-terminated string LocalAlloc gave,
    // read once and freed once.
    unsafe {
        let len = (0..).take_while(|&i| *text.add(i) != 0).count();
        let result = String::from_utf16_lossy(std::slice::from_raw_parts(text, len));
        LocalFree(text.cast());
        Ok(result)
    }
}

/// Whether `text` is written as a SID (`S-1-…`).
pub(crate) fn looks_like_sid(text: &str) -> bool {
    text.len() > 4 && text[..4].eq_ignore_ascii_case("S-1-")
}

/// A SID string in Windows' own spelling, or `None` if it is not a SID.
pub(crate) fn canonical_sid(text: &str) -> Option<String> {
    let sid = LocalSid::parse(text)?;
    // SAFETY: `sid` holds a valid SID while it lives.
    unsafe { sid_string_of(sid.0) }.ok()
}

/// An access token, open for queries.
#[derive(Debug)]
pub(crate) struct Token(OwnedHandle);

impl Token {
    /// This process's token.
    pub(crate) fn of_this_process() -> io::Result<Token> {
        let mut token = std::ptr::null_mut();
        // SAFETY: the pseudo-handle of this process needs no closing;
        // `token` is a valid out pointer, owned at once on success.
        let ok = unsafe { OpenProcessToken(GetCurrentProcess(), TOKEN_QUERY, &mut token) };
        if ok == 0 {
            return Err(last_error());
        }
        owned(token).map(Token)
    }

    /// The token of process `pid`, if this process may query it (its own
    /// user's processes, or any process for an elevated caller).
    pub(crate) fn of_process(pid: u32) -> io::Result<Token> {
        // SAFETY: OpenProcess has no memory arguments; the handle is owned at once.
        let process = owned(unsafe { OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION, 0, pid) })?;
        let mut token = std::ptr::null_mut();
        // SAFETY: `process` is a live process handle; `token` a valid out pointer.
        let ok = unsafe { OpenProcessToken(raw(&process), TOKEN_QUERY, &mut token) };
        if ok == 0 {
            return Err(last_error());
        }
        owned(token).map(Token)
    }

    /// The token the calling thread is impersonating, opened with this
    /// process's own rights.
    pub(crate) fn of_this_thread() -> io::Result<Token> {
        let mut token = std::ptr::null_mut();
        // SAFETY: the pseudo-handle of this thread needs no closing; `token`
        // is a valid out pointer, owned at once on success.
        let ok = unsafe { OpenThreadToken(GetCurrentThread(), TOKEN_QUERY, 1, &mut token) };
        if ok == 0 {
            return Err(last_error());
        }
        owned(token).map(Token)
    }

    /// One class of token information, in a buffer aligned for the
    /// structures Windows writes into it.
    fn information(&self, class: TOKEN_INFORMATION_CLASS) -> io::Result<Vec<u64>> {
        let mut needed = 0u32;
        // SAFETY: a size query: no buffer, `needed` is a valid out pointer.
        unsafe { GetTokenInformation(raw(&self.0), class, std::ptr::null_mut(), 0, &mut needed) };
        let err = last_error();
        if !is(&err, ERROR_INSUFFICIENT_BUFFER) {
            return Err(err);
        }
        let mut buf = vec![0u64; (needed as usize).div_ceil(8)];
        // SAFETY: `buf` holds at least `needed` writable bytes.
        let ok = unsafe {
            GetTokenInformation(
                raw(&self.0),
                class,
                buf.as_mut_ptr().cast(),
                (buf.len() * 8) as u32,
                &mut needed,
            )
        };
        if ok == 0 {
            return Err(last_error());
        }
        Ok(buf)
    }

    /// The token's user SID.
    pub(crate) fn user(&self) -> io::Result<String> {
        let buf = self.information(TokenUser)?;
        // SAFETY: GetTokenInformation(TokenUser) filled `buf`, which is
        // 8-aligned, with a TOKEN_USER whose SID points into `buf`.
        unsafe {
            let user = &*(buf.as_ptr() as *const TOKEN_USER);
            sid_string_of(user.User.Sid)
        }
    }

    /// The SIDs of the token's groups.
    pub(crate) fn groups(&self) -> io::Result<Vec<String>> {
        let buf = self.information(TokenGroups)?;
        // SAFETY: GetTokenInformation(TokenGroups) filled `buf` with a
        // TOKEN_GROUPS whose `GroupCount` entries follow it in `buf`, each
        // pointing at a SID inside `buf`.
        unsafe {
            let groups = &*(buf.as_ptr() as *const TOKEN_GROUPS);
            let entries =
                std::slice::from_raw_parts(groups.Groups.as_ptr(), groups.GroupCount as usize);
            entries
                .iter()
                .map(|entry| sid_string_of(entry.Sid))
                .collect()
        }
    }
}

/// The user this process runs as: the owner of the pipes it creates and the
/// user its clients trust by default.
pub(crate) fn current_user_sid() -> io::Result<String> {
    static SID: OnceLock<String> = OnceLock::new();
    if let Some(sid) = SID.get() {
        return Ok(sid.clone());
    }
    let sid = Token::of_this_process()?.user()?;
    Ok(SID.get_or_init(|| sid).clone())
}

/// The SID of an account written as `name`, `DOMAIN\name` or a SID string.
/// `Ok(None)`: no such account.
pub(crate) fn sid_of(name: &str) -> io::Result<Option<String>> {
    if looks_like_sid(name) {
        return Ok(canonical_sid(name));
    }
    let account = wide(name);
    let mut sid = vec![0u64; 9]; // SECURITY_MAX_SID_SIZE is 68 bytes
    let mut domain = vec![0u16; 256];
    loop {
        let mut sid_len = (sid.len() * 8) as u32;
        let mut domain_len = domain.len() as u32;
        let mut kind: SID_NAME_USE = 0;
        // SAFETY: every buffer is valid for the length passed with it.
        let ok = unsafe {
            LookupAccountNameW(
                std::ptr::null(),
                account.as_ptr(),
                sid.as_mut_ptr().cast(),
                &mut sid_len,
                domain.as_mut_ptr(),
                &mut domain_len,
                &mut kind,
            )
        };
        if ok != 0 {
            // SAFETY: on success `sid` holds a valid SID.
            return unsafe { sid_string_of(sid.as_mut_ptr().cast()) }.map(Some);
        }
        let err = last_error();
        if is(&err, ERROR_NONE_MAPPED) {
            return Ok(None);
        }
        if !is(&err, ERROR_INSUFFICIENT_BUFFER) {
            return Err(err);
        }
        sid.resize((sid_len as usize).div_ceil(8).max(sid.len()), 0);
        domain.resize((domain_len as usize).max(domain.len()), 0);
    }
}

/// The account a SID names, as (domain, name), when Windows knows it.
pub(crate) fn account_of(sid: &str) -> Option<(String, String)> {
    let sid = LocalSid::parse(sid)?;
    let mut name = vec![0u16; 256];
    let mut domain = vec![0u16; 256];
    for _ in 0..2 {
        let mut name_len = name.len() as u32;
        let mut domain_len = domain.len() as u32;
        let mut kind: SID_NAME_USE = 0;
        // SAFETY: `sid` is valid while it lives; the buffers are valid for
        // the lengths passed with them.
        let ok = unsafe {
            LookupAccountSidW(
                std::ptr::null(),
                sid.0,
                name.as_mut_ptr(),
                &mut name_len,
                domain.as_mut_ptr(),
                &mut domain_len,
                &mut kind,
            )
        };
        if ok != 0 {
            return Some((from_wide(&domain), from_wide(&name)));
        }
        if !is(&last_error(), ERROR_INSUFFICIENT_BUFFER) {
            return None;
        }
        name.resize((name_len as usize).max(name.len()), 0);
        domain.resize((domain_len as usize).max(domain.len()), 0);
    }
    None
}

/// `DOMAIN\name` for an account, or just `name` when it has no domain.
pub(crate) fn qualified((domain, name): &(String, String)) -> String {
    if domain.is_empty() {
        name.clone()
    } else {
        format!(r"{domain}\{name}")
    }
}

/// A SID with its account name, for messages: `S-1-5-18 (NT AUTHORITY\SYSTEM)`.
pub(crate) fn describe(sid: &str) -> String {
    match account_of(sid) {
        Some(account) => format!("{sid} ({})", qualified(&account)),
        None => sid.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn well_known_accounts_resolve_both_ways() {
        assert_eq!(sid_of("SYSTEM").unwrap().as_deref(), Some(SYSTEM_SID));
        assert_eq!(sid_of("Everyone").unwrap().as_deref(), Some(EVERYONE_SID));
        assert_eq!(
            sid_of("Administrators").unwrap().as_deref(),
            Some(ADMINISTRATORS_SID)
        );
        let (_, name) = account_of(SYSTEM_SID).unwrap();
        assert_eq!(name, "SYSTEM");
        assert_eq!(sid_of("no-such-account-here").unwrap(), None);
    }

    #[test]
    fn sid_strings_are_taken_as_sids_and_normalised() {
        assert_eq!(sid_of("s-1-5-18").unwrap().as_deref(), Some(SYSTEM_SID));
        assert_eq!(sid_of("S-1-nonsense").unwrap(), None);
        assert!(looks_like_sid("S-1-5-32-544"));
        assert!(!looks_like_sid("Users"));
    }

    #[test]
    fn this_process_has_a_user_and_it_has_a_name() {
        let me = current_user_sid().unwrap();
        assert!(looks_like_sid(&me), "{me}");
        assert_eq!(Token::of_this_process().unwrap().user().unwrap(), me);
        assert!(account_of(&me).is_some());
        let groups = Token::of_this_process().unwrap().groups().unwrap();
        assert!(groups.iter().all(|g| looks_like_sid(g)), "{groups:?}");
    }
}
