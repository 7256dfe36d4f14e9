//! The fuzz targets: a name and the decoder entry point it drives.
//!
//! Each entry point lives in the crate that owns the decoder, behind that
//! crate's `fuzzing` feature, and panics when the decoder breaks a rule it
//! promises. A target is one line here and one `bin` line in `Cargo.toml`.

/// Every fuzz target, by name.
pub const TARGETS: &[(&str, fn(&[u8]))] = &[
    ("wire_hello", pipeway::fuzzing::hello),
    ("wire_messages", pipeway::fuzzing::message_reassembly),
    ("wire_byte_records", pipeway::fuzzing::byte_records),
    ("pipe_name", pipeway::fuzzing::pipe_name),
    ("channel_frames", pipeway_channel::fuzzing::frames),
    ("channel_error_body", pipeway_channel::fuzzing::error_body),
    ("channel_bodies", pipeway_channel::fuzzing::bodies),
    ("smb_header", pipeway_smb::fuzzing::header),
    ("smb_negotiate", pipeway_smb::fuzzing::negotiate),
    ("smb_session_setup", pipeway_smb::fuzzing::session_setup),
    ("smb_responses", pipeway_smb::fuzzing::responses),
    ("smb_transform", pipeway_smb::fuzzing::transform),
    ("smb_frames", pipeway_smb::fuzzing::frames),
    ("shm_setup", pipeway::fuzzing::shm_setup),
    ("shm_ring", pipeway::fuzzing::shm_ring),
    ("shm_handles", pipeway::fuzzing::shm_handles),
    ("channel_handshake", pipeway_channel::fuzzing::handshake),
    ("grpc_authority", pipeway_grpc::fuzzing::authority),
    ("smb_np_request", pipeway_smb::fuzzing::np_request),
    ("smb_np_reply", pipeway_smb::fuzzing::np_reply),
    ("samba_messages", pipeway::fuzzing::samba_messages),
];

/// The entry point of the target called `name`. Panics (so the first run
/// fails) when `name` has no entry in [`TARGETS`], or when an entry has no
/// `bin` line in `Cargo.toml`.
pub fn target(name: &str) -> fn(&[u8]) {
    let manifest = include_str!("../Cargo.toml");
    for (target, _) in TARGETS {
        assert!(
            manifest.contains(&format!("name = \"{target}\"")),
            "fuzz target {target} is in TARGETS but has no `bin` line in fuzz/Cargo.toml"
        );
    }
    match TARGETS.iter().find(|(target, _)| *target == name) {
        Some((_, run)) => *run,
        None => panic!("fuzz target {name} has a `bin` line but no entry in TARGETS (fuzz/src/lib.rs)"),
    }
}
