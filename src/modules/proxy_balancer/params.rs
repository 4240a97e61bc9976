//! A balancer's own parameters (`stickysession=`, `lbmethod=`, `maxattempts=` ... on a
//! ProxyPass to a `balancer://`, a ProxySet or a `<Proxy balancer://>` line), checked with the
//! messages mod_proxy's `set_balancer_param` gives. Each stays unset until a line sets it; the
//! defaults apply when the balancer is used.

use std::time::Duration;

use crate::modules::proxy::worker::on_off;

/// Apache keeps the sticky names in 64-byte fields (the terminating NUL included).
const STICKY_SIZE: usize = 64;
/// And the lbmethod's name in 16 bytes.
const PROVIDER_NAME_SIZE: usize = 16;
/// And the nonce in an UUID's formatted length plus its NUL.
const NONCE_SIZE: usize = 37;

/// The lbmethods rhttpd has, each the provider its module registers.
pub const LBMETHODS: &[&str] = &["byrequests", "bytraffic", "bybusyness"];

#[derive(Debug, Clone, Default, PartialEq)]
pub struct BalancerParams {
    /// The cookie name (`stickysession=COOKIE|param`'s first half, or the whole value).
    pub sticky: Option<String>,
    /// The URL parameter name (the part after `|`, else the same as the cookie).
    pub sticky_path: Option<String>,
    /// `stickysessionsep`: the character before the route (`None` inside: Off).
    pub sticky_separator: Option<Option<u8>>,
    pub nofailover: Option<bool>,
    pub timeout: Option<Duration>,
    pub max_attempts: Option<u32>,
    pub lbmethod: Option<String>,
    pub scolon_path_delim: Option<bool>,
    /// `failonstatus`: statuses that put the member in error.
    pub fail_on_status: Option<Vec<u16>>,
    pub fail_on_timeout: Option<bool>,
    /// `nonce`: `Some(None)` for `None` (no nonce checked).
    pub nonce: Option<Option<String>>,
    pub growth: Option<u32>,
    pub force_recovery: Option<bool>,
}

/// The longest prefix of `text` that fits a C field of `size` bytes (its NUL included).
fn truncated(text: &str, size: usize) -> String {
    let mut end = text.len().min(size - 1);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_string()
}

impl BalancerParams {
    /// One key=value (`set_balancer_param`). `lbmethod_known` says whether a module
    /// registered that lbmethod (Apache's provider lookup).
    pub fn set(
        &mut self,
        key: &str,
        value: &str,
        lbmethod_known: impl Fn(&str) -> bool,
    ) -> Result<(), String> {
        match key.to_ascii_lowercase().as_str() {
            "stickysession" => {
                // Apache computes a length message here but never returns it: a longer name
                // is cut to its field.
                let whole = truncated(value, STICKY_SIZE);
                match whole.split_once('|') {
                    Some((cookie, path)) => {
                        self.sticky = Some(cookie.to_string());
                        self.sticky_path = Some(path.to_string());
                    }
                    None => {
                        self.sticky = Some(whole.clone());
                        self.sticky_path = Some(whole);
                    }
                }
            }
            "stickysessionsep" => {
                if value.len() != 1 {
                    if value.eq_ignore_ascii_case("off") {
                        self.sticky_separator = Some(None);
                    } else {
                        return Err("stickysessionsep must be a single character or Off".into());
                    }
                } else {
                    self.sticky_separator = Some(Some(value.as_bytes()[0]));
                }
            }
            "nofailover" => self.nofailover = Some(on_off(value, "failover must be On|Off")?),
            "timeout" => {
                // 2.4's balancer takes whole seconds (`atoi`), unlike a worker's timeout.
                let seconds = crate::modules::proxy::worker::atol(value) as i32;
                if seconds < 1 {
                    return Err("timeout must be at least one second".into());
                }
                self.timeout = Some(Duration::from_secs(seconds as u64));
            }
            "maxattempts" => {
                let attempts = crate::modules::proxy::worker::atol(value) as i32;
                if attempts < 0 {
                    return Err("maximum number of attempts must be a positive number".into());
                }
                self.max_attempts = Some(attempts as u32);
            }
            "lbmethod" => {
                if value.len() > PROVIDER_NAME_SIZE - 1 || !lbmethod_known(value) {
                    return Err("unknown lbmethod".into());
                }
                self.lbmethod = Some(value.to_string());
            }
            "scolonpathdelim" => {
                self.scolon_path_delim = Some(on_off(value, "scolonpathdelim must be On|Off")?)
            }
            "failonstatus" => {
                let mut statuses = Vec::new();
                for word in value.split([',', ' ']).filter(|w| !w.is_empty()) {
                    let status = crate::modules::proxy::worker::atol(word) as i32;
                    if !(100..600).contains(&status) {
                        return Err("failonstatus must be one or more HTTP response codes".into());
                    }
                    statuses.push(status as u16);
                }
                self.fail_on_status = Some(statuses);
            }
            "failontimeout" => {
                self.fail_on_timeout = Some(on_off(value, "failontimeout must be On|Off")?)
            }
            "nonce" => {
                if value.eq_ignore_ascii_case("None") {
                    self.nonce = Some(None);
                } else {
                    if value.len() >= NONCE_SIZE {
                        return Err("Provided nonce is too large".into());
                    }
                    self.nonce = Some(Some(value.to_string()));
                }
            }
            "growth" => {
                let growth = crate::modules::proxy::worker::atol(value) as i32;
                if !(1..=100).contains(&growth) {
                    return Err("growth must be between 1 and 100".into());
                }
                self.growth = Some(growth as u32);
            }
            "forcerecovery" => {
                self.force_recovery = Some(on_off(value, "forcerecovery must be On|Off")?)
            }
            _ => return Err("unknown Balancer parameter".into()),
        }
        Ok(())
    }

    /// The values a later definition leaves unset taken from `base` (`merge_balancers`).
    pub fn or(&self, base: &BalancerParams) -> BalancerParams {
        BalancerParams {
            sticky: self.sticky.clone().or_else(|| base.sticky.clone()),
            sticky_path: self
                .sticky_path
                .clone()
                .or_else(|| base.sticky_path.clone()),
            sticky_separator: self.sticky_separator.or(base.sticky_separator),
            nofailover: self.nofailover.or(base.nofailover),
            timeout: self.timeout.or(base.timeout),
            max_attempts: self.max_attempts.or(base.max_attempts),
            lbmethod: self.lbmethod.clone().or_else(|| base.lbmethod.clone()),
            scolon_path_delim: self.scolon_path_delim.or(base.scolon_path_delim),
            fail_on_status: self
                .fail_on_status
                .clone()
                .or_else(|| base.fail_on_status.clone()),
            fail_on_timeout: self.fail_on_timeout.or(base.fail_on_timeout),
            nonce: self.nonce.clone().or_else(|| base.nonce.clone()),
            growth: self.growth.or(base.growth),
            force_recovery: self.force_recovery.or(base.force_recovery),
        }
    }

    /// The lbmethod the balancer uses (byrequests unless set).
    pub fn lbmethod(&self) -> &str {
        self.lbmethod.as_deref().unwrap_or("byrequests")
    }

    /// The character before the route in a session id ('.' unless set).
    pub fn separator(&self) -> Option<u8> {
        self.sticky_separator.unwrap_or(Some(b'.'))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(key: &str, value: &str) -> Result<BalancerParams, String> {
        let mut params = BalancerParams::default();
        params.set(key, value, |m| m == "byrequests")?;
        Ok(params)
    }

    #[test]
    fn values_are_refused_with_apaches_messages() {
        assert_eq!(
            set("lbmethod", "bytraffic").unwrap_err(),
            "unknown lbmethod"
        );
        assert_eq!(
            set("nofailover", "x").unwrap_err(),
            "failover must be On|Off"
        );
        assert_eq!(
            set("timeout", "soon").unwrap_err(),
            "timeout must be at least one second"
        );
        assert_eq!(
            set("failonstatus", "500,99").unwrap_err(),
            "failonstatus must be one or more HTTP response codes"
        );
        assert_eq!(
            set("growth", "0").unwrap_err(),
            "growth must be between 1 and 100"
        );
        assert_eq!(set("what", "x").unwrap_err(), "unknown Balancer parameter");
        assert_eq!(
            set("stickysessionsep", "ab").unwrap_err(),
            "stickysessionsep must be a single character or Off"
        );
    }

    #[test]
    fn a_sticky_session_names_its_cookie_and_its_url_parameter() {
        let both = set("stickysession", "JSESSIONID|jsessionid").unwrap();
        assert_eq!(both.sticky.as_deref(), Some("JSESSIONID"));
        assert_eq!(both.sticky_path.as_deref(), Some("jsessionid"));
        let one = set("stickysession", "ROUTEID").unwrap();
        assert_eq!(one.sticky_path.as_deref(), Some("ROUTEID"));
        assert_eq!(
            set("failonstatus", "500, 503").unwrap().fail_on_status,
            Some(vec![500, 503])
        );
    }
}
