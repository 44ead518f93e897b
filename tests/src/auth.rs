//! Calling the gateway as a user: its bootstrap admin token on every request.

use std::path::Path;

/// The `[auth]` section making the gateway create its admin token in `data_dir`.
pub fn gateway_auth_config(data_dir: &Path) -> String {
    format!(
        "[auth]\nbootstrap_token_file = \"{}\"\n",
        data_dir.join("admin-token").display()
    )
}

/// The admin token the gateway created in `data_dir`. The gateway announces its address when
/// it binds, a moment before it writes the token: wait for the file (bounded).
pub fn admin_token(data_dir: &Path) -> String {
    let path = data_dir.join("admin-token");
    for _ in 0..500 {
        if let Ok(token) = std::fs::read_to_string(&path)
            && !token.trim().is_empty()
        {
            return token.trim().to_owned();
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    panic!("the gateway wrote no token in {}", path.display())
}

/// `request` carrying `authorization: Bearer <token>`.
pub fn with_token<T>(token: &str, message: T) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request.metadata_mut().insert(
        "authorization",
        format!("Bearer {token}").parse().expect("ASCII token"),
    );
    request
}
