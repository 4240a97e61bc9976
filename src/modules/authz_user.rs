//! mod_authz_user's Require providers: `user` names and `valid-user`.

use super::authz::Status;

/// The result of `Require user ...` or `Require valid-user`; `None` for other providers.
pub fn provider(provider: &str, args: &[String], user: Option<&str>) -> Option<Status> {
    if provider != "user" && provider != "valid-user" {
        return None;
    }
    let Some(user) = user else {
        return Some(Status::DeniedNoUser);
    };
    Some(
        if provider == "valid-user" || args.iter().any(|a| a == user) {
            Status::Granted
        } else {
            Status::Denied
        },
    )
}
