//! Setting a connection up: NEGOTIATE, SESSION_SETUP (SPNEGO + NTLMv2)
//! with 3.1.1's preauth integrity, the session's keys, and TREE_CONNECT
//! to `IPC$`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use sha2::{Digest, Sha512};

use super::auth::{ntlm, spnego};
use super::conn::slot::Response;
use super::conn::{RequestHead, Security, Shared};
use super::crypto::cipher::Encryptor;
use super::crypto::kdf::session_keys;
use super::crypto::signing::Signer;
use super::error::Error;
use super::options::ClientOptions;
use super::session::{Established, SessionInfo};
use super::wire::header::{Command, flags};
use super::wire::messages::{
    SHARE_FLAG_ENCRYPT_DATA, SessionSetupResponse, TreeConnectResponse, session_flags,
    session_setup_request, tree_connect_request,
};
use super::wire::negotiate::{
    Cipher, NegotiateRequest, NegotiateResponse, SIGNING_ENABLED, SIGNING_REQUIRED,
    SigningAlgorithm, caps, dialect,
};
use super::wire::status;

/// The SHA-512 chain of 3.1.1's preauth integrity.
struct Preauth([u8; 64]);

impl Preauth {
    fn add(&mut self, message: &[u8]) {
        let mut h = Sha512::new();
        h.update(self.0);
        h.update(message);
        self.0 = h.finalize().into();
    }
}

fn exchange(
    shared: &Arc<Shared>,
    head: RequestHead,
    body: &[u8],
    deadline: Instant,
) -> Result<(Response, Vec<u8>), Error> {
    shared.reserve(head.credit_charge, Some(deadline))?;
    let (mut ticket, raw) = shared.submit(head, &[body], true)?;
    match ticket.wait(Some(deadline)) {
        Some(r) => Ok((r?, raw.expect("asked for"))),
        None => Err(Error::Unreachable {
            host: shared.host().to_owned(),
            port: 0,
            source: std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "the host did not finish the SMB handshake in time",
            ),
        }),
    }
}

/// Runs the whole handshake on a fresh connection.
pub(crate) fn run(
    shared: &Arc<Shared>,
    host: &str,
    address: SocketAddr,
    options: &ClientOptions,
    deadline: Instant,
) -> Result<Established, Error> {
    let bad = |e| Error::from_decode(host, e);
    let mut client_guid = [0u8; 16];
    let mut salt = [0u8; 32];
    let _ = getrandom::fill(&mut client_guid);
    let _ = getrandom::fill(&mut salt);
    let request = NegotiateRequest {
        dialects: dialect::ALL.to_vec(),
        security_mode: SIGNING_ENABLED | SIGNING_REQUIRED,
        capabilities: caps::LARGE_MTU | caps::ENCRYPTION,
        client_guid,
        salt,
        ciphers: vec![
            Cipher::Aes128Gcm,
            Cipher::Aes256Gcm,
            Cipher::Aes128Ccm,
            Cipher::Aes256Ccm,
        ],
        signing: vec![SigningAlgorithm::AesGmac, SigningAlgorithm::AesCmac],
    };
    let (resp, raw_req) = exchange(
        shared,
        RequestHead::new(Command::Negotiate, 0),
        &request.encode_body(),
        deadline,
    )?;
    if resp.status() != status::SUCCESS {
        return Err(Error::from_status(host, "NEGOTIATE", resp.status()));
    }
    let negotiated = NegotiateResponse::decode(&resp.message).map_err(bad)?;
    let d = negotiated.dialect;
    if !dialect::ALL.contains(&d) {
        return Err(Error::protocol(
            host,
            format_args!(
                "the host chose dialect {}, which was not offered",
                dialect::name(d)
            ),
        ));
    }
    let mut preauth = Preauth([0; 64]);
    preauth.add(&raw_req);
    preauth.add(&resp.message);
    let large_mtu = d != dialect::SMB2_0_2 && negotiated.capabilities & caps::LARGE_MTU != 0;
    shared.set_multi_credit(large_mtu);

    // SESSION_SETUP, first leg: SPNEGO with NTLM's NEGOTIATE.
    let ntlm_negotiate = ntlm::negotiate_message();
    let setup_mode = (SIGNING_ENABLED | SIGNING_REQUIRED) as u8;
    let body = session_setup_request(setup_mode, &spnego::neg_token_init(&ntlm_negotiate));
    let (resp, raw_req) = exchange(
        shared,
        RequestHead::new(Command::SessionSetup, 0),
        &body,
        deadline,
    )?;
    preauth.add(&raw_req);
    let user = options.credentials.display_user();
    if resp.status() != status::MORE_PROCESSING_REQUIRED {
        return Err(logon_error(host, &user, resp.status()));
    }
    preauth.add(&resp.message);
    let session_id = resp.header.session_id;
    let setup = SessionSetupResponse::decode(&resp.message).map_err(bad)?;
    let token = spnego::NegTokenResp::decode(&setup.token).map_err(bad)?;
    let challenge_bytes = token
        .response_token
        .ok_or_else(|| Error::protocol(host, "the host sent no NTLM challenge"))?;
    let challenge = ntlm::Challenge::decode(&challenge_bytes).map_err(bad)?;

    // Second leg: NTLM's AUTHENTICATE with the MIC, and SPNEGO's mechListMIC.
    let creds = &options.credentials;
    let ntowf = ntlm::ntowfv2(&creds.password, &creds.user, &creds.domain);
    let auth = ntlm::authenticate(
        &ntowf,
        &creds.user,
        &creds.domain,
        &ntlm_negotiate,
        &challenge_bytes,
        &challenge,
        &ntlm::ClientNonces::random(),
    )
    .map_err(bad)?;
    drop(ntowf);
    let mic = ntlm::client_signature(&auth.session_key, auth.flags, 0, &spnego::mech_type_list());
    let body = session_setup_request(
        setup_mode,
        &spnego::neg_token_resp(&auth.message, Some(&mic)),
    );
    shared.set_security(Security {
        session_id,
        signer: None,
        encryptor: None,
    });
    let (resp, raw_req) = exchange(
        shared,
        RequestHead::new(Command::SessionSetup, 0),
        &body,
        deadline,
    )?;
    preauth.add(&raw_req);
    if resp.status() != status::SUCCESS {
        return Err(logon_error(host, &user, resp.status()));
    }
    let setup = SessionSetupResponse::decode(&resp.message).map_err(bad)?;
    if setup.flags & session_flags::IS_NULL != 0 {
        return Err(Error::GuestRefused {
            host: host.to_owned(),
            kind: "anonymous",
        });
    }
    if setup.flags & session_flags::IS_GUEST != 0 {
        return Err(Error::GuestRefused {
            host: host.to_owned(),
            kind: "guest",
        });
    }

    // Keys, then check the final response's signature with them.
    let cipher = match d {
        dialect::SMB3_1_1 => negotiated.cipher,
        dialect::SMB3_0 | dialect::SMB3_0_2 if negotiated.capabilities & caps::ENCRYPTION != 0 => {
            Some(Cipher::Aes128Ccm)
        }
        _ => None,
    };
    let keys = session_keys(
        d,
        &auth.session_key[..],
        &preauth.0,
        cipher.map_or(16, Cipher::key_len),
    );
    let algorithm = match d {
        dialect::SMB2_0_2 | dialect::SMB2_1 => SigningAlgorithm::HmacSha256,
        dialect::SMB3_1_1 => negotiated.signing.unwrap_or(SigningAlgorithm::AesCmac),
        _ => SigningAlgorithm::AesCmac,
    };
    let signer = Signer::new(algorithm, keys.signing.clone());
    let signed = resp.header.flags & flags::SIGNED != 0;
    if (signed || d == dialect::SMB3_1_1) && !signer.verify(&resp.message) {
        return Err(Error::protocol(
            host,
            "the final SESSION_SETUP response is not signed with the session's key \
             (a wrong password on a host that answers anyway, or tampering)",
        ));
    }
    let server_wants = setup.flags & session_flags::ENCRYPT_DATA != 0;
    if options.require_encryption && cipher.is_none() {
        return Err(Error::SecurityUnavailable {
            host: host.to_owned(),
            what: format!(
                "encryption was required, but the host offers none (dialect {})",
                dialect::name(d)
            ),
        });
    }
    // ENCRYPT_DATA means nothing before 3.0 (Samba sets it for 2.x too).
    if server_wants && cipher.is_none() && d >= dialect::SMB3_0 {
        return Err(Error::protocol(
            host,
            "the host asks for encryption but agreed no cipher",
        ));
    }
    let encryptor =
        cipher.map(|c| Encryptor::new(c, &keys.encryption, &keys.decryption, session_id));
    let signing = if encryptor.is_some() {
        None
    } else {
        Some(algorithm)
    };
    shared.set_security(Security {
        session_id,
        signer: Some(signer),
        encryptor,
    });

    // TREE_CONNECT \\host\IPC$.
    let path = format!(r"\\{host}\IPC$");
    shared.reserve(1, Some(deadline))?;
    let (mut ticket, _) = shared.submit(
        RequestHead::new(Command::TreeConnect, 0),
        &[&tree_connect_request(&path)],
        false,
    )?;
    let resp = ticket.wait(Some(deadline)).ok_or(Error::TimedOut)??;
    if resp.status() != status::SUCCESS {
        return Err(Error::from_status(
            host,
            format!("TREE_CONNECT {path}"),
            resp.status(),
        ));
    }
    let tree = TreeConnectResponse::decode(&resp.message).map_err(bad)?;
    if tree.share_flags & SHARE_FLAG_ENCRYPT_DATA != 0 && cipher.is_none() && d >= dialect::SMB3_0 {
        return Err(Error::SecurityUnavailable {
            host: host.to_owned(),
            what: "IPC$ requires encryption, which this session lacks".into(),
        });
    }
    Ok(Established {
        tree_id: resp.header.tree_id,
        large_mtu,
        info: SessionInfo {
            host: host.to_owned(),
            address,
            dialect: d,
            signing,
            cipher,
            server_name: challenge.computer_name,
            server_dns_name: challenge.dns_computer_name,
            server_domain: challenge.domain_name,
            user,
            max_read: negotiated.max_read_size,
            max_write: negotiated.max_write_size,
            max_transact: negotiated.max_transact_size,
        },
    })
}

fn logon_error(host: &str, user: &str, code: u32) -> Error {
    match code {
        status::LOGON_FAILURE
        | status::ACCOUNT_DISABLED
        | status::ACCOUNT_LOCKED_OUT
        | status::ACCOUNT_RESTRICTION
        | status::PASSWORD_EXPIRED => Error::LogonFailure {
            host: host.to_owned(),
            user: user.to_owned(),
            status: status::name(code),
        },
        other => Error::from_status(host, "SESSION_SETUP", other),
    }
}

#[cfg(test)]
mod tests {
    use super::Preauth;
    use crate::client::crypto::signing::tests::hex;

    /// Microsoft's published example ("SMB 3.1.1 Pre-authentication integrity
    /// in Windows 10", Open Specifications blog, 2015): the chain starts from
    /// 64 zero bytes and hashes the NEGOTIATE request as sent.
    #[test]
    fn preauth_chain_matches_microsofts_example() {
        let negotiate_request = hex(concat!(
            "FE534D4240000100000000000000800000000000000000000100000000000000FFFE000000000000",
            "00000000000000000000000000000000000000000000000024000500000000003F000000ECD86F32",
            "6276024F9F7752B89BB33F3A70000000020000000202100200030203110300000100260000000000",
            "010020000100FA49E6578F1F3A9F4CD3E9CC14A67AA884B3D05844E0E5A118225C15887F32FF0000",
            "0200060000000000020002000100"
        ));
        let mut preauth = Preauth([0; 64]);
        preauth.add(&negotiate_request);
        let expected = hex(concat!(
            "DD94EFC5321BB618A2E208BA8920D2F422992526947A409B5037DE1E0FE8C736",
            "2B8C47122594CDE0CE26AA9DFC8BCDBDE0621957672623351A7540F1E54A0426"
        ));
        assert_eq!(&preauth.0[..], &expected[..]);
    }
}
