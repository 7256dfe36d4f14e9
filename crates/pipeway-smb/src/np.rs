//! Samba's named-pipe hand-off (`named_pipe_auth_req` / `named_pipe_auth_rep`).
