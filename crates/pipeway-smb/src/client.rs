//! The SMB2/3 client for pipes on other hosts.
