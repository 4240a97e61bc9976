//! mod_ssl: its directive table, setters and typed configuration (per server and per
//! directory, merged as mod_ssl merges them), and its request hooks (the SNI/Host check,
//! SSLRequireSSL and SSLRequire, SSLOptions' variables, SSLUserName). TLS itself is rustls:
//! `context` builds each server's rustls configuration at startup, `server::tls` runs it on a
//! connection, `vars` answers the SSL variables, `ciphers` reads OpenSSL cipher strings.

pub mod ciphers;
pub mod context;
pub mod pphrase;
pub mod stapling;
pub mod tickets;
pub mod vars;

use std::path::PathBuf;

use rhttpd_directives::cmd::Cmd;
use rhttpd_directives::context::*;
use rhttpd_directives::model::DirConfig;
use rhttpd_directives::registry::{Args::*, DirectiveDef, ModuleDef, SetResult};
use rhttpd_directives::set::{accept_flag, atoi, next_word};

use crate::hooks::{Fixup, Hooks, Order};
use crate::request::{Request, Step};

pub static MODULE: ModuleDef = ModuleDef {
    id: "ssl_module",
    source: "mod_ssl.c",
    builtin: false,
    has_dir_config: true,
    directives: DIRECTIVES,
};

/// mod_ssl's directives in `RSRC_CONF | OR_AUTHCFG` ("SSL_CMD_ALL").
const ALL: u32 = RSRC_CONF | OR_AUTHCFG;

const NO_PROXY: &str = "mod_proxy's TLS connections to back ends use rustls's protocol versions \
                        and suites, verify to any depth the chain allows, check no CRL and \
                        present no client certificate";
const NO_OCSP: &str = "OCSP checking of client certificates is not implemented: rustls \
                       checks CRLs only (SSLCARevocationFile/Path)";

const DIRECTIVES: &[DirectiveDef] = &[
    DirectiveDef::new("SSLPassPhraseDialog", Take1(pass_phrase_dialog), RSRC_CONF, "SSL dialog mechanism for the pass phrase query ('builtin', '|/path/to/pipe_program', or 'exec:/path/to/cgi_program')").forbid(GLOBAL_ONLY).implemented(),
    DirectiveDef::new("SSLSessionCache", Take1(session_cache), RSRC_CONF, "SSL Session Cache storage ('none', 'nonenotnull', 'dbm:/path/to/file')").forbid(GLOBAL_ONLY).implemented(),
    DirectiveDef::new("SSLCryptoDevice", Take1(crypto_device), RSRC_CONF, "SSL external Crypto Device usage ('builtin', '...')").forbid(GLOBAL_ONLY).implemented(),
    DirectiveDef::new("SSLRandomSeed", Take23(random_seed), RSRC_CONF, "SSL Pseudo Random Number Generator (PRNG) seeding source ('startup|connect builtin|file:/path|exec:/path [bytes]')").forbid(GLOBAL_ONLY)
        .inert("seeds OpenSSL's generator; rustls draws from the kernel's (getrandom), which needs no seeding"),
    DirectiveDef::new("SSLVHostSNIPolicy", Take1(vhost_sni_policy), RSRC_CONF, "SSL VirtualHost SNI compatibility policy setting").forbid(GLOBAL_ONLY).implemented(),
    DirectiveDef::new("SSLEngine", Take1(engine), RSRC_CONF, "SSL switch for the protocol engine ('on', 'off')").implemented(),
    DirectiveDef::new("SSLFIPS", Flag(fips), RSRC_CONF, "Enable FIPS-140 mode (`on', `off')").forbid(GLOBAL_ONLY).implemented(),
    DirectiveDef::new("SSLCipherSuite", Take12(cipher_suite), ALL, "Colon-delimited list of permitted SSL Ciphers, optional preceded by protocol identifier ('XXX:...:XXX' - see manual)").implemented(),
    DirectiveDef::new("SSLCertificateFile", Take1(certificate_file), RSRC_CONF, "SSL Server Certificate file ('/path/to/file' - PEM or DER encoded)").implemented(),
    DirectiveDef::new("SSLCertificateKeyFile", Take1(certificate_key_file), RSRC_CONF, "SSL Server Private Key file ('/path/to/file' - PEM or DER encoded)").implemented(),
    DirectiveDef::new("SSLCertificateChainFile", Take1(certificate_chain_file), RSRC_CONF, "SSL Server CA Certificate Chain file ('/path/to/file' - PEM encoded)").implemented(),
    DirectiveDef::new("SSLSessionTicketKeyFile", Take1(session_ticket_key_file), RSRC_CONF, "TLS session ticket encryption/decryption key file (RFC 5077) ('/path/to/file' - file with 48 bytes of random data)").implemented(),
    DirectiveDef::new("SSLCACertificatePath", Take1(ca_certificate_path), ALL, "SSL CA Certificate path ('/path/to/dir' - contains PEM encoded files)").implemented(),
    DirectiveDef::new("SSLCACertificateFile", Take1(ca_certificate_file), ALL, "SSL CA Certificate file ('/path/to/file' - PEM encoded)").implemented(),
    DirectiveDef::new("SSLCADNRequestPath", Take1(ca_dn_request_path), RSRC_CONF, "SSL CA Distinguished Name path ('/path/to/dir' - symlink hashes to PEM of acceptable CA names to request)").implemented(),
    DirectiveDef::new("SSLCADNRequestFile", Take1(ca_dn_request_file), RSRC_CONF, "SSL CA Distinguished Name file ('/path/to/file' - PEM encoded to derive acceptable CA names to request)").implemented(),
    DirectiveDef::new("SSLCARevocationPath", Take1(ca_revocation_path), RSRC_CONF, "SSL CA Certificate Revocation List (CRL) path ('/path/to/dir' - contains PEM encoded files)").implemented(),
    DirectiveDef::new("SSLCARevocationFile", Take1(ca_revocation_file), RSRC_CONF, "SSL CA Certificate Revocation List (CRL) file ('/path/to/file' - PEM encoded)").implemented(),
    DirectiveDef::new("SSLCARevocationCheck", Raw(ca_revocation_check), RSRC_CONF, "SSL CA Certificate Revocation List (CRL) checking mode").implemented(),
    DirectiveDef::new("SSLVerifyClient", Take1(verify_client), ALL, "SSL Client verify type ('none', 'optional', 'require', 'optional_no_ca')").implemented(),
    DirectiveDef::new("SSLVerifyDepth", Take1(verify_depth), ALL, "SSL Client verify depth ('N' - number of intermediate certificates)").implemented(),
    DirectiveDef::new("SSLSessionCacheTimeout", Take1(session_cache_timeout), RSRC_CONF, "SSL Session Cache object lifetime ('N' - number of seconds)").implemented(),
    DirectiveDef::new("SSLProtocol", Raw(protocol), RSRC_CONF, "Enable or disable various SSL protocols ('[+-][TLSv1|TLSv1.1|TLSv1.2] ...' - see manual)").implemented(),
    DirectiveDef::new("SSLHonorCipherOrder", Flag(honor_cipher_order), RSRC_CONF, "Use the server's cipher ordering preference").implemented(),
    DirectiveDef::new("SSLCompression", Flag(compression), RSRC_CONF, "Enable SSL level compression (`on', `off')").implemented(),
    DirectiveDef::new("SSLSessionTickets", Flag(session_tickets), RSRC_CONF, "Enable or disable TLS session tickets(`on', `off')").implemented(),
    DirectiveDef::new("SSLInsecureRenegotiation", Flag(accept_flag), RSRC_CONF, "Enable support for insecure renegotiation")
        .inert("rustls never renegotiates, securely or not"),
    DirectiveDef::new("SSLUserName", Take1(user_name), ALL, "Set user name to SSL variable value").implemented(),
    DirectiveDef::new("SSLStrictSNIVHostCheck", Flag(strict_sni_vhost_check), RSRC_CONF, "Strict SNI virtual host checking").implemented(),
    DirectiveDef::new("SSLSRPVerifierFile", Take1(srp_verifier_file), RSRC_CONF, "SRP verifier file ('/path/to/file' - created by srptool)").implemented(),
    DirectiveDef::new("SSLSRPUnknownUserSeed", Take1(rhttpd_directives::set::accept1), RSRC_CONF, "SRP seed for unknown users (to avoid leaking a user's existence) ('some secret text')")
        .inert("belongs to SRP, which rustls does not offer (SSLSRPVerifierFile is refused)"),
    DirectiveDef::new("SSLProxyEngine", Flag(proxy_engine), RSRC_CONF | PROXY_CONF, "SSL switch for the proxy protocol engine ('on', 'off')").implemented(),
    DirectiveDef::new("SSLProxyProtocol", Raw(proxy_protocol), RSRC_CONF | PROXY_CONF, "SSL Proxy: enable or disable SSL protocol flavors ('[+-][TLSv1|TLSv1.1|TLSv1.2] ...' - see manual)").inert(NO_PROXY),
    DirectiveDef::new("SSLProxyCipherSuite", Take12(proxy_cipher_suite), RSRC_CONF | PROXY_CONF, "SSL Proxy: colon-delimited list of permitted SSL ciphers , optionally preceded by protocol specifier ('XXX:...:XXX' - see manual)").inert(NO_PROXY),
    DirectiveDef::new("SSLProxyVerify", Take1(proxy_verify), RSRC_CONF | PROXY_CONF, "SSL Proxy: whether to verify the remote certificate ('on' or 'off')").implemented(),
    DirectiveDef::new("SSLProxyVerifyDepth", Take1(checked_depth), RSRC_CONF | PROXY_CONF, "SSL Proxy: maximum certificate verification depth ('N' - number of intermediate certificates)").inert(NO_PROXY),
    DirectiveDef::new("SSLProxyCACertificateFile", Take1(proxy_ca_file), RSRC_CONF | PROXY_CONF, "SSL Proxy: file containing server certificates ('/path/to/file' - PEM encoded certificates)").implemented(),
    DirectiveDef::new("SSLProxyCACertificatePath", Take1(checked_dir), RSRC_CONF | PROXY_CONF, "SSL Proxy: directory containing server certificates ('/path/to/dir' - contains PEM encoded certificates)").inert(NO_PROXY),
    DirectiveDef::new("SSLProxyCARevocationPath", Take1(checked_dir), RSRC_CONF | PROXY_CONF, "SSL Proxy: CA Certificate Revocation List (CRL) path ('/path/to/dir' - contains PEM encoded files)").inert(NO_PROXY),
    DirectiveDef::new("SSLProxyCARevocationFile", Take1(checked_file), RSRC_CONF | PROXY_CONF, "SSL Proxy: CA Certificate Revocation List (CRL) file ('/path/to/file' - PEM encoded)").inert(NO_PROXY),
    DirectiveDef::new("SSLProxyCARevocationCheck", Raw(proxy_revocation_check), RSRC_CONF | PROXY_CONF, "SSL Proxy: CA Certificate Revocation List (CRL) checking mode").inert(NO_PROXY),
    DirectiveDef::new("SSLProxyMachineCertificateFile", Take1(checked_file), RSRC_CONF | PROXY_CONF, "SSL Proxy: file containing client certificates ('/path/to/file' - PEM encoded certificates)").inert(NO_PROXY),
    DirectiveDef::new("SSLProxyMachineCertificatePath", Take1(checked_dir), RSRC_CONF | PROXY_CONF, "SSL Proxy: directory containing client certificates ('/path/to/dir' - contains PEM encoded certificates)").inert(NO_PROXY),
    DirectiveDef::new("SSLProxyMachineCertificateChainFile", Take1(checked_file), RSRC_CONF | PROXY_CONF, "SSL Proxy: file containing issuing certificates of the client certificate (`/path/to/file' - PEM encoded certificates)").inert(NO_PROXY),
    DirectiveDef::new("SSLProxyCheckPeerExpire", Flag(proxy_check_expire), RSRC_CONF | PROXY_CONF, "SSL Proxy: check the peer certificate's expiration date").implemented(),
    DirectiveDef::new("SSLProxyCheckPeerCN", Flag(proxy_check_cn), RSRC_CONF | PROXY_CONF, "SSL Proxy: check the peer certificate's CN").implemented(),
    DirectiveDef::new("SSLProxyCheckPeerName", Flag(proxy_check_name), RSRC_CONF | PROXY_CONF, "SSL Proxy: check the peer certificate's name (must be present in subjectAltName extension or CN").implemented(),
    DirectiveDef::new("SSLOptions", Raw(options), OR_OPTIONS, "Set one or more options to configure the SSL engine('[+-]option[=value] ...' - see manual)").implemented(),
    DirectiveDef::new("SSLRequireSSL", NoArgs(require_ssl), OR_AUTHCFG, "Require the SSL protocol for the per-directory context (no arguments)").implemented(),
    DirectiveDef::new("SSLRequire", Raw(require), OR_AUTHCFG, "Require a boolean expression to evaluate to true for granting access(arbitrary complex boolean expression - see manual)").implemented(),
    DirectiveDef::new("SSLRenegBufferSize", Take1(reneg_buffer_size), OR_AUTHCFG, "Configure the amount of memory that will be used for buffering the request body if a per-location SSL renegotiation is required due to changed access control requirements")
        .inert("buffers a body across a renegotiation; rustls never renegotiates"),
    DirectiveDef::new("SSLOCSPEnable", Raw(ocsp_enable), RSRC_CONF, "Enable use of OCSP to verify certificate revocation mode ('on', 'leaf', 'off')").implemented(),
    DirectiveDef::new("SSLOCSPDefaultResponder", Take1(rhttpd_directives::set::accept1), RSRC_CONF, "URL of the default OCSP Responder").inert(NO_OCSP),
    DirectiveDef::new("SSLOCSPOverrideResponder", Flag(accept_flag), RSRC_CONF, "Force use of the default responder URL ('on', 'off')").inert(NO_OCSP),
    DirectiveDef::new("SSLOCSPResponseTimeSkew", Take1(non_negative), RSRC_CONF, "Maximum time difference in OCSP responses").inert(NO_OCSP),
    DirectiveDef::new("SSLOCSPResponseMaxAge", Take1(non_negative), RSRC_CONF, "Maximum age of OCSP responses").inert(NO_OCSP),
    DirectiveDef::new("SSLOCSPResponderTimeout", Take1(non_negative), RSRC_CONF, "OCSP responder query timeout").inert(NO_OCSP),
    DirectiveDef::new("SSLOCSPUseRequestNonce", Flag(accept_flag), RSRC_CONF, "Whether OCSP queries use a nonce or not ('on', 'off')").inert(NO_OCSP),
    DirectiveDef::new("SSLOCSPProxyURL", Take1(rhttpd_directives::set::accept1), RSRC_CONF, "Proxy URL to use for OCSP requests").inert(NO_OCSP),
    DirectiveDef::new("SSLOCSPNoVerify", Flag(accept_flag), RSRC_CONF, "Do not verify OCSP Responder certificate ('on', 'off')").inert(NO_OCSP),
    DirectiveDef::new("SSLOCSPResponderCertificateFile", Take1(checked_file), RSRC_CONF, "Trusted OCSP responder certificates(`/path/to/file' - PEM encoded certificates)").inert(NO_OCSP),
    DirectiveDef::new("SSLStaplingCache", Take1(stapling_cache), RSRC_CONF, "SSL Stapling Response Cache storage (`dbm:/path/to/file')").forbid(GLOBAL_ONLY).implemented(),
    DirectiveDef::new("SSLUseStapling", Flag(use_stapling), RSRC_CONF, "SSL switch for the OCSP Stapling protocol (`on', `off')").implemented(),
    DirectiveDef::new("SSLStaplingResponseTimeSkew", Take1(stapling_time_skew), RSRC_CONF, "SSL stapling option for maximum time difference in OCSP responses").implemented(),
    DirectiveDef::new("SSLStaplingResponderTimeout", Take1(stapling_responder_timeout), RSRC_CONF, "SSL stapling option for OCSP responder timeout").implemented(),
    DirectiveDef::new("SSLStaplingResponseMaxAge", Take1(stapling_max_age), RSRC_CONF, "SSL stapling option for maximum age of OCSP responses").implemented(),
    DirectiveDef::new("SSLStaplingStandardCacheTimeout", Take1(stapling_cache_timeout), RSRC_CONF, "SSL stapling option for normal OCSP Response Cache Lifetime").implemented(),
    DirectiveDef::new("SSLStaplingReturnResponderErrors", Flag(stapling_return_errors), RSRC_CONF, "SSL stapling switch to return Status Errors Back to Client(`on', `off')").implemented(),
    DirectiveDef::new("SSLStaplingFakeTryLater", Flag(stapling_fake_try_later), RSRC_CONF, "SSL stapling switch to send tryLater response to client on error (`on', `off')").implemented(),
    DirectiveDef::new("SSLStaplingErrorCacheTimeout", Take1(stapling_error_cache_timeout), RSRC_CONF, "SSL stapling option for OCSP Response Error Cache Lifetime").implemented(),
    DirectiveDef::new("SSLStaplingForceURL", Take1(stapling_force_url), RSRC_CONF, "SSL stapling option to Force the OCSP Stapling URL").implemented(),
    DirectiveDef::new("SSLOpenSSLConfCmd", Take2(openssl_conf_cmd), RSRC_CONF, "OpenSSL configuration command").implemented(),
    DirectiveDef::new("SSLLog", Raw(rhttpd_directives::modules::core::deprecated_raw), OR_ALL, "SSLLog directive is no longer supported - use ErrorLog.").implemented(),
    DirectiveDef::new("SSLLogLevel", Raw(rhttpd_directives::modules::core::deprecated_raw), OR_ALL, "SSLLogLevel directive is no longer supported - use LogLevel.").implemented(),
];

/// SSLEngine's three states.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    On,
    Off,
    /// RFC 2817's upgrade, gone since Apache 2.4.64: such a server speaks plain HTTP.
    Optional,
}

/// SSLVerifyClient's levels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Verify {
    None,
    /// A certificate is asked for and checked if sent; none is fine.
    Optional,
    /// Asked for and accepted whoever issued it (SSL_CLIENT_VERIFY says whether it checked).
    OptionalNoCa,
    Require,
}

/// SSLCARevocationCheck.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CrlCheck {
    pub chain: bool,
    pub leaf: bool,
    pub no_crl_for_cert_ok: bool,
}

/// SSLProtocol's bits, as mod_ssl numbers them.
pub mod protocol {
    pub const SSLV3: u8 = 1 << 1;
    pub const TLSV1: u8 = 1 << 2;
    pub const TLSV1_1: u8 = 1 << 3;
    pub const TLSV1_2: u8 = 1 << 4;
    pub const TLSV1_3: u8 = 1 << 5;
    /// `all`: every protocol Debian's OpenSSL builds (no SSLv3).
    pub const ALL: u8 = TLSV1 | TLSV1_1 | TLSV1_2 | TLSV1_3;
}

/// The session cache SSLSessionCache names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionCache {
    None,
    /// `nonenotnull`: no cache, but session IDs still sent.
    NoneNotNull,
    /// A socache provider (`shmcb`) with its argument and the size it asks for.
    Provider(String, Option<String>, u64),
}

/// mod_ssl's per-server configuration (`SSLSrvConfigRec` with its `modssl_ctx_t`): a virtual
/// host's is merged over the main server's.
#[derive(Debug, Clone, Default)]
pub struct ServerConf {
    pub engine: Option<Engine>,
    pub cert_files: Vec<PathBuf>,
    pub key_files: Vec<PathBuf>,
    pub chain_file: Option<PathBuf>,
    pub ca_file: Option<PathBuf>,
    pub ca_path: Option<PathBuf>,
    pub ca_dn_file: Option<PathBuf>,
    pub ca_dn_path: Option<PathBuf>,
    pub crl_file: Option<PathBuf>,
    pub crl_path: Option<PathBuf>,
    pub crl_check: Option<CrlCheck>,
    pub verify_client: Option<Verify>,
    pub verify_depth: Option<i64>,
    pub protocols: Option<u8>,
    /// SSLCipherSuite's TLSv1.2-and-below string, with mod_ssl's `:!aNULL:!eNULL:!EXP`.
    pub cipher_suite: Option<String>,
    pub tls13_ciphers: Option<String>,
    pub honor_cipher_order: Option<bool>,
    pub session_tickets: Option<bool>,
    pub ticket_key_file: Option<PathBuf>,
    pub session_cache_timeout: Option<i64>,
    pub strict_sni: Option<bool>,
    pub compression: Option<bool>,
    pub use_stapling: Option<bool>,
    pub stapling: stapling::Conf,
    /// SSLOpenSSLConfCmd lines, in order.
    pub conf_cmds: Vec<(String, String)>,
    /// Global only (read from the main server): SSLSessionCache, SSLVHostSNIPolicy,
    /// SSLPassPhraseDialog.
    pub session_cache: Option<SessionCache>,
    /// SSLStaplingCache's size (global).
    pub stapling_cache: Option<u64>,
    pub pass_phrase_dialog: Option<pphrase::Dialog>,
    pub sni_policy: Option<String>,
}

/// How many certificate/key lines of a virtual host replace the main server's one for one
/// (mod_ssl's CERTKEYS_IDX_MAX + 1); more are added to them.
const CERTKEYS_REPLACED: usize = 3;

fn merge_certkeys(base: &[PathBuf], add: &[PathBuf]) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = add.iter().take(CERTKEYS_REPLACED).cloned().collect();
    out.extend(base.iter().skip(out.len()).cloned());
    out.extend(add.iter().skip(CERTKEYS_REPLACED).cloned());
    out
}

impl DirConfig for ServerConf {
    fn merge(&self, vhost: &ServerConf) -> ServerConf {
        macro_rules! pick {
            ($field:ident) => {
                vhost.$field.clone().or_else(|| self.$field.clone())
            };
        }
        ServerConf {
            engine: pick!(engine),
            cert_files: merge_certkeys(&self.cert_files, &vhost.cert_files),
            key_files: merge_certkeys(&self.key_files, &vhost.key_files),
            chain_file: pick!(chain_file),
            ca_file: pick!(ca_file),
            ca_path: pick!(ca_path),
            ca_dn_file: pick!(ca_dn_file),
            ca_dn_path: pick!(ca_dn_path),
            crl_file: pick!(crl_file),
            crl_path: pick!(crl_path),
            crl_check: pick!(crl_check),
            verify_client: pick!(verify_client),
            verify_depth: pick!(verify_depth),
            protocols: pick!(protocols),
            cipher_suite: pick!(cipher_suite),
            tls13_ciphers: pick!(tls13_ciphers),
            honor_cipher_order: pick!(honor_cipher_order),
            session_tickets: pick!(session_tickets),
            ticket_key_file: pick!(ticket_key_file),
            session_cache_timeout: pick!(session_cache_timeout),
            strict_sni: pick!(strict_sni),
            compression: pick!(compression),
            use_stapling: pick!(use_stapling),
            stapling: self.stapling.merge(&vhost.stapling),
            conf_cmds: if vhost.conf_cmds.is_empty() {
                self.conf_cmds.clone()
            } else {
                let mut all = self.conf_cmds.clone();
                all.extend(vhost.conf_cmds.iter().cloned());
                all
            },
            session_cache: pick!(session_cache),
            stapling_cache: pick!(stapling_cache),
            pass_phrase_dialog: pick!(pass_phrase_dialog),
            sni_policy: pick!(sni_policy),
        }
    }
}

impl ServerConf {
    pub fn enabled(&self) -> bool {
        self.engine == Some(Engine::On)
    }
    /// mod_ssl's default: every protocol but SSLv3 (`all -SSLv3`).
    pub fn protocols(&self) -> u8 {
        self.protocols.unwrap_or(protocol::ALL)
    }
    pub fn verify_client(&self) -> Verify {
        self.verify_client.unwrap_or(Verify::None)
    }
    /// SSLVerifyDepth's default is 1: the client certificate issued by a trusted CA itself.
    pub fn verify_depth(&self) -> i64 {
        self.verify_depth.unwrap_or(1)
    }
    /// SSLSessionCacheTimeout's default: 300 seconds.
    pub fn session_cache_timeout(&self) -> u64 {
        self.session_cache_timeout.unwrap_or(300).max(0) as u64
    }
}

/// SSLOptions' flags.
pub mod option {
    pub const STD_ENV_VARS: u16 = 1 << 0;
    pub const EXPORT_CERT_DATA: u16 = 1 << 3;
    pub const FAKE_BASIC_AUTH: u16 = 1 << 4;
    pub const STRICT_REQUIRE: u16 = 1 << 5;
    pub const OPT_RENEGOTIATE: u16 = 1 << 6;
    pub const LEGACY_DN_FORMAT: u16 = 1 << 7;
}

/// mod_ssl's per-directory configuration (`SSLDirConfigRec`).
#[derive(Debug, Clone, Default)]
pub struct Dir {
    /// SSLOptions: the set, and the `+`/`-` changes to apply over the inherited set.
    pub options: Option<u16>,
    pub options_add: u16,
    pub options_del: u16,
    pub require_ssl: bool,
    /// SSLRequire expressions: all must hold.
    pub requirements: Vec<std::sync::Arc<rhttpd_directives::expr::Expr>>,
    pub verify_client: Option<Verify>,
    pub verify_depth: Option<i64>,
    pub cipher_suite: Option<String>,
    pub user_name: Option<String>,
}

impl DirConfig for Dir {
    fn merge(&self, child: &Dir) -> Dir {
        // mod_ssl's ssl_config_perdir_merge: an absolute SSLOptions replaces, `+`/`-` edit.
        let (options, add, del) = match child.options {
            Some(set) => (Some(set), child.options_add, child.options_del),
            None => {
                let base = self.options.unwrap_or(0);
                (
                    Some((base | child.options_add) & !child.options_del),
                    (self.options_add & !child.options_del) | child.options_add,
                    (self.options_del & !child.options_add) | child.options_del,
                )
            }
        };
        let mut requirements = self.requirements.clone();
        requirements.extend(child.requirements.iter().cloned());
        Dir {
            options,
            options_add: add,
            options_del: del,
            require_ssl: self.require_ssl || child.require_ssl,
            requirements,
            verify_client: child.verify_client.or(self.verify_client),
            verify_depth: child.verify_depth.or(self.verify_depth),
            cipher_suite: child
                .cipher_suite
                .clone()
                .or_else(|| self.cipher_suite.clone()),
            user_name: child.user_name.clone().or_else(|| self.user_name.clone()),
        }
    }
}

impl Dir {
    pub fn has(&self, flag: u16) -> bool {
        self.options.unwrap_or(0) & flag != 0
    }
}

fn engine(cmd: &mut Cmd, arg: &str) -> SetResult {
    let engine = match arg.to_ascii_lowercase().as_str() {
        "on" => Engine::On,
        "off" => Engine::Off,
        "optional" => {
            // Apache 2.4.64 dropped the RFC 2817 upgrade: the server speaks plain HTTP.
            cmd.log_at(
                "ssl",
                "notice",
                "AH10510: 'SSLEngine optional' is no longer supported".to_string(),
            );
            Engine::Optional
        }
        _ => return Err("Argument must be On or Off".into()),
    };
    cmd.server_config::<ServerConf>().engine = Some(engine);
    Ok(())
}

fn fips(_cmd: &mut Cmd, on: bool) -> SetResult {
    if on {
        return Err(
            "SSLFIPS on: rustls, rhttpd's TLS library, is not a FIPS 140 validated module here"
                .into(),
        );
    }
    Ok(())
}

fn pass_phrase_dialog(cmd: &mut Cmd, arg: &str) -> SetResult {
    let dialog = if arg.eq_ignore_ascii_case("builtin") {
        pphrase::Dialog::Builtin
    } else if arg.len() > 5 && arg[..5].eq_ignore_ascii_case("exec:") {
        let path = cmd.cfg.read.server_root_relative(&arg[5..]);
        if !path.exists() {
            return Err(format!(
                "SSLPassPhraseDialog: file '{}' does not exist",
                path.display()
            ));
        }
        pphrase::Dialog::Exec(path)
    } else if arg.len() > 1 && arg.starts_with('|') {
        pphrase::Dialog::Pipe(arg[1..].to_string())
    } else {
        return Err("SSLPassPhraseDialog: Invalid argument".into());
    };
    cmd.server_config::<ServerConf>().pass_phrase_dialog = Some(dialog);
    Ok(())
}

fn crypto_device(_cmd: &mut Cmd, arg: &str) -> SetResult {
    if arg.eq_ignore_ascii_case("builtin") {
        return Ok(());
    }
    Err("SSLCryptoDevice: Invalid argument; must be one of: 'builtin' (none)".into())
}

fn random_seed(cmd: &mut Cmd, context: &str, source: &str, bytes: Option<&str>) -> SetResult {
    if !context.eq_ignore_ascii_case("startup") && !context.eq_ignore_ascii_case("connect") {
        return Err(format!("SSLRandomSeed: invalid context: `{context}'"));
    }
    let prefixed = |prefix: &str| {
        (source.len() > prefix.len() && source[..prefix.len()].eq_ignore_ascii_case(prefix))
            .then(|| &source[prefix.len()..])
    };
    let builtin = source.eq_ignore_ascii_case("builtin");
    if prefixed("egd:").is_some() {
        return Err(format!(
            "Invalid SSLRandomSeed entropy source `{source}': This version of OpenSSL does not support the Entropy Gathering Daemon (EGD)."
        ));
    }
    if !builtin {
        let file = prefixed("file:")
            .or_else(|| prefixed("exec:"))
            .unwrap_or(source);
        let path = cmd.cfg.read.server_root_relative(file);
        if !path.exists() {
            return Err(format!(
                "SSLRandomSeed: source path '{}' does not exist",
                path.display()
            ));
        }
    }
    if let Some(bytes) = bytes {
        if builtin {
            return Err(
                "SSLRandomSeed: byte specification not allowed for builtin seed source".into(),
            );
        }
        if atoi(bytes) < 0 {
            return Err("SSLRandomSeed: invalid number of bytes specified".into());
        }
    }
    Ok(())
}

fn vhost_sni_policy(cmd: &mut Cmd, arg: &str) -> SetResult {
    let policy = arg.to_ascii_lowercase();
    if !["strict", "secure", "authonly", "insecure"].contains(&policy.as_str()) {
        return Err(format!("Invalid SSLVhostSNIPolicy argument '{arg}'"));
    }
    cmd.server_config::<ServerConf>().sni_policy = Some(policy);
    Ok(())
}

/// `ssl_cmd_check_file`: relative to ServerRoot, an existing regular file that is not empty.
fn check_file(cmd: &Cmd, arg: &str) -> Result<PathBuf, String> {
    let path = cmd.cfg.read.server_root_relative(arg);
    match std::fs::metadata(&path) {
        Ok(meta) if meta.is_file() && meta.len() > 0 => Ok(path),
        _ => Err(format!(
            "{}: file '{}' does not exist or is empty",
            cmd.name(),
            path.display()
        )),
    }
}

/// `ssl_cmd_check_dir`: relative to ServerRoot, an existing directory.
fn check_dir(cmd: &Cmd, arg: &str) -> Result<PathBuf, String> {
    let path = cmd.cfg.read.server_root_relative(arg);
    if path.is_dir() {
        return Ok(path);
    }
    Err(format!(
        "{}: directory '{}' does not exist",
        cmd.name(),
        path.display()
    ))
}

/// A directive naming a file or directory: checked as mod_ssl checks it, then stored in one
/// field of the server's configuration.
fn set_checked(
    cmd: &mut Cmd,
    arg: &str,
    check: fn(&Cmd, &str) -> Result<PathBuf, String>,
    field: fn(&mut ServerConf) -> &mut Option<PathBuf>,
) -> SetResult {
    let path = check(cmd, arg)?;
    *field(cmd.server_config::<ServerConf>()) = Some(path);
    Ok(())
}

fn checked_file(cmd: &mut Cmd, arg: &str) -> SetResult {
    check_file(cmd, arg).map(|_| ())
}

fn checked_dir(cmd: &mut Cmd, arg: &str) -> SetResult {
    check_dir(cmd, arg).map(|_| ())
}

/// A PKCS#11 URI names a key in an OpenSSL engine or provider, which rhttpd has none of.
fn engine_id(arg: &str) -> bool {
    arg.starts_with("pkcs11:")
}

/// SSLCertificateFile and SSLCertificateKeyFile: another file of the server's list.
fn push_certificate_or_key(
    cmd: &mut Cmd,
    arg: &str,
    what: &str,
    list: fn(&mut ServerConf) -> &mut Vec<PathBuf>,
) -> SetResult {
    if engine_id(arg) {
        return Err(format!(
            "{}: '{arg}' names a {what} in a crypto engine; rhttpd reads {what} files only",
            cmd.name()
        ));
    }
    let path = check_file(cmd, arg)?;
    list(cmd.server_config::<ServerConf>()).push(path);
    Ok(())
}

fn certificate_file(cmd: &mut Cmd, arg: &str) -> SetResult {
    push_certificate_or_key(cmd, arg, "certificate", |conf| &mut conf.cert_files)
}

fn certificate_key_file(cmd: &mut Cmd, arg: &str) -> SetResult {
    push_certificate_or_key(cmd, arg, "key", |conf| &mut conf.key_files)
}

fn certificate_chain_file(cmd: &mut Cmd, arg: &str) -> SetResult {
    set_checked(cmd, arg, check_file, |conf| &mut conf.chain_file)
}

fn session_ticket_key_file(cmd: &mut Cmd, arg: &str) -> SetResult {
    set_checked(cmd, arg, check_file, |conf| &mut conf.ticket_key_file)
}

const NO_PER_DIR_CA: &str = "Your SSL library does not have support for per-directory CA";

fn ca_certificate_path(cmd: &mut Cmd, arg: &str) -> SetResult {
    let path = check_dir(cmd, arg)?;
    if cmd.path.is_some() {
        return Err(NO_PER_DIR_CA.into());
    }
    cmd.server_config::<ServerConf>().ca_path = Some(path);
    Ok(())
}

fn ca_certificate_file(cmd: &mut Cmd, arg: &str) -> SetResult {
    let path = check_file(cmd, arg)?;
    if cmd.path.is_some() {
        return Err(NO_PER_DIR_CA.into());
    }
    cmd.server_config::<ServerConf>().ca_file = Some(path);
    Ok(())
}

fn ca_dn_request_path(cmd: &mut Cmd, arg: &str) -> SetResult {
    set_checked(cmd, arg, check_dir, |conf| &mut conf.ca_dn_path)
}

fn ca_dn_request_file(cmd: &mut Cmd, arg: &str) -> SetResult {
    set_checked(cmd, arg, check_file, |conf| &mut conf.ca_dn_file)
}

fn ca_revocation_path(cmd: &mut Cmd, arg: &str) -> SetResult {
    set_checked(cmd, arg, check_dir, |conf| &mut conf.crl_path)
}

fn ca_revocation_file(cmd: &mut Cmd, arg: &str) -> SetResult {
    set_checked(cmd, arg, check_file, |conf| &mut conf.crl_file)
}

/// `none`, `leaf` or `chain`, then optionally `no_crl_for_cert_ok`.
fn parse_crl_check(name: &str, raw: &str) -> Result<CrlCheck, String> {
    let mut rest = raw;
    let first = next_word(&mut rest);
    let invalid = |w: &str| format!("{name}: Invalid argument '{w}'");
    let mut check = match first.to_ascii_lowercase().as_str() {
        "none" => CrlCheck::default(),
        "leaf" => CrlCheck {
            leaf: true,
            ..Default::default()
        },
        "chain" => CrlCheck {
            chain: true,
            ..Default::default()
        },
        _ => return Err(invalid(&first)),
    };
    while !rest.trim().is_empty() {
        let word = next_word(&mut rest);
        if !word.eq_ignore_ascii_case("no_crl_for_cert_ok") {
            return Err(invalid(&word));
        }
        check.no_crl_for_cert_ok = true;
    }
    Ok(check)
}

fn ca_revocation_check(cmd: &mut Cmd, raw: &str) -> SetResult {
    let check = parse_crl_check(cmd.name(), raw)?;
    cmd.server_config::<ServerConf>().crl_check = Some(check);
    Ok(())
}

fn proxy_revocation_check(cmd: &mut Cmd, raw: &str) -> SetResult {
    parse_crl_check(cmd.name(), raw).map(|_| ())
}

fn parse_verify(name: &str, arg: &str) -> Result<Verify, String> {
    Ok(match arg.to_ascii_lowercase().as_str() {
        "none" | "off" => Verify::None,
        "optional" => Verify::Optional,
        "require" | "on" => Verify::Require,
        "optional_no_ca" => Verify::OptionalNoCa,
        _ => return Err(format!("{name}: Invalid argument '{arg}'")),
    })
}

/// A directive mod_ssl keeps per directory inside a section and per server outside one
/// (SSLVerifyClient, SSLVerifyDepth: `cmd->path` decides).
fn set_per_dir_or_server<T>(
    cmd: &mut Cmd,
    value: T,
    dir: fn(&mut Dir) -> &mut Option<T>,
    server: fn(&mut ServerConf) -> &mut Option<T>,
) -> SetResult {
    if cmd.path.is_some() {
        *dir(cmd.dir_config::<Dir>()) = Some(value);
    } else {
        *server(cmd.server_config::<ServerConf>()) = Some(value);
    }
    Ok(())
}

fn verify_client(cmd: &mut Cmd, arg: &str) -> SetResult {
    let mode = parse_verify(cmd.name(), arg)?;
    set_per_dir_or_server(
        cmd,
        mode,
        |d| &mut d.verify_client,
        |s| &mut s.verify_client,
    )
}

fn proxy_verify(cmd: &mut Cmd, arg: &str) -> SetResult {
    let verify = parse_verify(cmd.name(), arg)?;
    proxy_tls(cmd).verify = Some(verify);
    Ok(())
}

/// The SSLProxy* settings being configured: the `<Proxy>` section's or the server's.
fn proxy_tls<'a>(cmd: &'a mut Cmd) -> &'a mut crate::modules::proxy::tls::ProxyTls {
    cmd.dir_config::<crate::modules::proxy::tls::ProxyTls>()
}

fn proxy_engine(cmd: &mut Cmd, on: bool) -> SetResult {
    proxy_tls(cmd).engine = Some(on);
    Ok(())
}

fn proxy_ca_file(cmd: &mut Cmd, arg: &str) -> SetResult {
    let path = check_file(cmd, arg)?;
    proxy_tls(cmd).ca_file = Some(path);
    Ok(())
}

fn proxy_check_expire(cmd: &mut Cmd, on: bool) -> SetResult {
    proxy_tls(cmd).check_expire = Some(on);
    Ok(())
}

fn proxy_check_cn(cmd: &mut Cmd, on: bool) -> SetResult {
    proxy_tls(cmd).check_cn = Some(on);
    Ok(())
}

fn proxy_check_name(cmd: &mut Cmd, on: bool) -> SetResult {
    proxy_tls(cmd).check_name = Some(on);
    Ok(())
}

fn parse_depth(name: &str, arg: &str) -> Result<i64, String> {
    let depth = rhttpd_directives::set::atoi_int(arg) as i64;
    if depth >= 0 {
        return Ok(depth);
    }
    Err(format!("{name}: Invalid argument '{arg}'"))
}

fn verify_depth(cmd: &mut Cmd, arg: &str) -> SetResult {
    let depth = parse_depth(cmd.name(), arg)?;
    set_per_dir_or_server(cmd, depth, |d| &mut d.verify_depth, |s| &mut s.verify_depth)
}

fn checked_depth(cmd: &mut Cmd, arg: &str) -> SetResult {
    parse_depth(cmd.name(), arg).map(|_| ())
}

fn session_cache(cmd: &mut Cmd, arg: &str) -> SetResult {
    let cache = if arg.eq_ignore_ascii_case("none") {
        SessionCache::None
    } else if arg.eq_ignore_ascii_case("nonenotnull") {
        SessionCache::NoneNotNull
    } else {
        let (name, rest) = match arg.split_once(':') {
            Some((name, rest)) => (name, Some(rest)),
            None => (arg, None),
        };
        let loaded = |id: &str| cmd.cfg.read.modules.iter().any(|m| m.id == id);
        let known: Vec<&str> = [
            ("shmcb", "socache_shmcb_module"),
            ("default", "socache_shmcb_module"),
        ]
        .iter()
        .filter(|(_, id)| loaded(id))
        .map(|(n, _)| *n)
        .collect();
        if !known.iter().any(|n| n.eq_ignore_ascii_case(name)) {
            return Err(format!(
                "SSLSessionCache: '{name}' session cache not supported (known names: {}). Maybe you need to load the appropriate socache module (mod_socache_{name}?).",
                known.join(",")
            ));
        }
        let rest = rest.map(str::to_string);
        let size = match &rest {
            Some(spec) => super::socache_shmcb::check_argument(&cmd.cfg.read, spec)
                .map_err(|e| format!("SSLSessionCache: {e}"))?,
            None => super::socache_shmcb::DEFAULT_SIZE,
        };
        SessionCache::Provider(name.to_ascii_lowercase(), rest, size)
    };
    cmd.server_config::<ServerConf>().session_cache = Some(cache);
    Ok(())
}

fn session_cache_timeout(cmd: &mut Cmd, arg: &str) -> SetResult {
    let seconds = rhttpd_directives::set::atoi_int(arg) as i64;
    if seconds < 0 {
        return Err("SSLSessionCacheTimeout: Invalid argument".into());
    }
    cmd.server_config::<ServerConf>().session_cache_timeout = Some(seconds);
    Ok(())
}

fn options(cmd: &mut Cmd, raw: &str) -> SetResult {
    let mut rest = raw;
    let mut first = true;
    let dir = cmd.dir_config::<Dir>();
    while !rest.trim().is_empty() {
        let word = next_word(&mut rest);
        let (action, name) = match word.as_bytes().first() {
            Some(b'+') => (Some('+'), &word[1..]),
            Some(b'-') => (Some('-'), &word[1..]),
            _ => (None, word.as_str()),
        };
        if action.is_none() && first {
            dir.options = Some(0);
            first = false;
        }
        let flag = match name.to_ascii_lowercase().as_str() {
            "stdenvvars" => option::STD_ENV_VARS,
            "exportcertdata" => option::EXPORT_CERT_DATA,
            "fakebasicauth" => option::FAKE_BASIC_AUTH,
            "strictrequire" => option::STRICT_REQUIRE,
            "optrenegotiate" => option::OPT_RENEGOTIATE,
            "legacydnstringformat" => option::LEGACY_DN_FORMAT,
            _ => return Err(format!("SSLOptions: Illegal option '{name}'")),
        };
        match action {
            Some('-') => {
                dir.options_add &= !flag;
                dir.options_del |= flag;
                dir.options = dir.options.map(|o| o & !flag);
            }
            Some(_) => {
                dir.options_add |= flag;
                dir.options_del &= !flag;
                dir.options = dir.options.map(|o| o | flag);
            }
            None => {
                dir.options = Some(flag);
                dir.options_add = flag;
                dir.options_del = 0;
            }
        }
    }
    Ok(())
}

fn require_ssl(cmd: &mut Cmd) -> SetResult {
    cmd.dir_config::<Dir>().require_ssl = true;
    Ok(())
}

fn require(cmd: &mut Cmd, raw: &str) -> SetResult {
    let expr = cmd
        .parse_expr(raw)
        .map_err(|e| format!("SSLRequire: {e}"))?;
    cmd.dir_config::<Dir>()
        .requirements
        .push(std::sync::Arc::new(expr));
    Ok(())
}

fn reneg_buffer_size(_cmd: &mut Cmd, arg: &str) -> SetResult {
    if atoi(arg) < 0 {
        return Err(format!("Invalid size for SSLRenegBufferSize: {arg}"));
    }
    Ok(())
}

/// mod_ssl's `ssl_cmd_protocol_parse`: `[+-]name` words over an empty set; a bare name
/// replaces what came before it (with AH02532's warning).
pub fn parse_protocols(cmd: &mut Cmd, raw: &str) -> Result<u8, String> {
    let mut set = 0u8;
    let mut rest = raw;
    while !rest.trim().is_empty() {
        let word = next_word(&mut rest);
        let (action, name) = match word.as_bytes().first() {
            Some(b'+') => (Some('+'), &word[1..]),
            Some(b'-') => (Some('-'), &word[1..]),
            _ => (None, word.as_str()),
        };
        let bit = match name.to_ascii_lowercase().as_str() {
            "sslv2" if action == Some('-') => continue,
            "sslv2" => return Err("SSLProtocol: SSLv2 is no longer supported".into()),
            "sslv3" if action == Some('-') => continue,
            "sslv3" => return Err("SSLv3 not supported by this version of OpenSSL".into()),
            "tlsv1" => protocol::TLSV1,
            "tlsv1.1" => protocol::TLSV1_1,
            "tlsv1.2" => protocol::TLSV1_2,
            "tlsv1.3" => protocol::TLSV1_3,
            "all" => protocol::ALL,
            _ => return Err(format!("{}: Illegal protocol '{name}'", cmd.name())),
        };
        match action {
            Some('-') => set &= !bit,
            Some(_) => set |= bit,
            None => {
                if set != 0 {
                    let text = format!(
                        "AH02532: {}: Protocol '{name}' overrides already set parameter(s). Check if a +/- prefix is missing.",
                        cmd.name()
                    );
                    cmd.log_warning("ssl", text);
                }
                set = bit;
            }
        }
    }
    Ok(set)
}

fn protocol(cmd: &mut Cmd, raw: &str) -> SetResult {
    let set = parse_protocols(cmd, raw)?;
    cmd.server_config::<ServerConf>().protocols = Some(set);
    Ok(())
}

fn proxy_protocol(cmd: &mut Cmd, raw: &str) -> SetResult {
    parse_protocols(cmd, raw).map(|_| ())
}

/// `SSLCipherSuite [protocol] ciphers`: `SSL` (the default) for TLSv1.2 and below, with
/// mod_ssl's `:!aNULL:!eNULL:!EXP` appended; `TLSv1.3` for TLS 1.3's suites.
fn split_cipher_suite<'a>(arg1: &'a str, arg2: Option<&'a str>) -> Result<(bool, String), String> {
    let (protocol, ciphers) = match arg2 {
        Some(ciphers) => (arg1, ciphers),
        None => ("SSL", arg1),
    };
    match protocol {
        "SSL" => Ok((false, format!("{ciphers}:!aNULL:!eNULL:!EXP"))),
        "TLSv1.3" => Ok((true, ciphers.to_string())),
        _ => Err(format!("protocol '{protocol}' not supported")),
    }
}

fn cipher_suite(cmd: &mut Cmd, arg1: &str, arg2: Option<&str>) -> SetResult {
    let (tls13, ciphers) = split_cipher_suite(arg1, arg2)?;
    match (tls13, cmd.path.is_some()) {
        (true, true) => Err("TLSv1.3 ciphers cannot be set inside a directory context".into()),
        (true, false) => {
            cmd.server_config::<ServerConf>().tls13_ciphers = Some(ciphers);
            Ok(())
        }
        (false, true) => {
            cmd.dir_config::<Dir>().cipher_suite = Some(ciphers);
            Ok(())
        }
        (false, false) => {
            cmd.server_config::<ServerConf>().cipher_suite = Some(ciphers);
            Ok(())
        }
    }
}

fn proxy_cipher_suite(_cmd: &mut Cmd, arg1: &str, arg2: Option<&str>) -> SetResult {
    split_cipher_suite(arg1, arg2).map(|_| ())
}

fn honor_cipher_order(cmd: &mut Cmd, on: bool) -> SetResult {
    cmd.server_config::<ServerConf>().honor_cipher_order = Some(on);
    Ok(())
}

fn compression(cmd: &mut Cmd, on: bool) -> SetResult {
    if on {
        return Err("This version of OpenSSL does not have any compression methods available, cannot enable SSLCompression.".into());
    }
    cmd.server_config::<ServerConf>().compression = Some(false);
    Ok(())
}

fn session_tickets(cmd: &mut Cmd, on: bool) -> SetResult {
    cmd.server_config::<ServerConf>().session_tickets = Some(on);
    Ok(())
}

fn user_name(cmd: &mut Cmd, arg: &str) -> SetResult {
    cmd.dir_config::<Dir>().user_name = Some(arg.to_string());
    Ok(())
}

fn strict_sni_vhost_check(cmd: &mut Cmd, on: bool) -> SetResult {
    cmd.server_config::<ServerConf>().strict_sni = Some(on);
    Ok(())
}

fn srp_verifier_file(cmd: &mut Cmd, arg: &str) -> SetResult {
    check_file(cmd, arg)?;
    Err("SSLSRPVerifierFile: SRP is not offered by rustls, rhttpd's TLS library".into())
}

fn ocsp_enable(cmd: &mut Cmd, raw: &str) -> SetResult {
    let mut rest = raw;
    let word = next_word(&mut rest);
    match word.to_ascii_lowercase().as_str() {
        "off" => Ok(()),
        "on" | "leaf" => Err(format!(
            "{}: OCSP checking of client certificates is not implemented in rhttpd",
            cmd.name()
        )),
        _ => Err(format!("{}: Invalid argument '{word}'", cmd.name())),
    }
}

fn non_negative(cmd: &mut Cmd, arg: &str) -> SetResult {
    if atoi(arg) < 0 {
        return Err(format!("{}: invalid argument", cmd.name()));
    }
    Ok(())
}

fn stapling_cache(cmd: &mut Cmd, arg: &str) -> SetResult {
    let (name, rest) = match arg.split_once(':') {
        Some((name, rest)) => (name, Some(rest)),
        None => (arg, None),
    };
    let loaded = cmd
        .cfg
        .read
        .modules
        .iter()
        .any(|m| m.id == "socache_shmcb_module");
    if !(loaded && (name.eq_ignore_ascii_case("shmcb") || name.eq_ignore_ascii_case("default"))) {
        let known = if loaded { "default,shmcb" } else { "" };
        return Err(format!(
            "SSLStaplingCache: '{name}' stapling cache not supported (known names: {known}) Maybe you need to load the appropriate socache module (mod_socache_{name}?)"
        ));
    }
    let size = match rest {
        Some(spec) => super::socache_shmcb::check_argument(&cmd.cfg.read, spec)
            .map_err(|e| format!("SSLStaplingCache: {e}"))?,
        None => super::socache_shmcb::DEFAULT_SIZE,
    };
    cmd.server_config::<ServerConf>().stapling_cache = Some(size);
    Ok(())
}

fn use_stapling(cmd: &mut Cmd, on: bool) -> SetResult {
    cmd.server_config::<ServerConf>().use_stapling = Some(on);
    Ok(())
}

/// Sets a stapling setting in seconds (`atoi`, refused when negative).
fn stapling_seconds(
    cmd: &mut Cmd,
    arg: &str,
    field: fn(&mut stapling::Conf) -> &mut Option<i64>,
) -> SetResult {
    let seconds = atoi(arg);
    if seconds < 0 {
        return Err(format!("{}: invalid argument", cmd.name()));
    }
    *field(&mut cmd.server_config::<ServerConf>().stapling) = Some(seconds);
    Ok(())
}

fn stapling_time_skew(cmd: &mut Cmd, arg: &str) -> SetResult {
    stapling_seconds(cmd, arg, |c| &mut c.time_skew)
}

fn stapling_responder_timeout(cmd: &mut Cmd, arg: &str) -> SetResult {
    stapling_seconds(cmd, arg, |c| &mut c.responder_timeout)
}

fn stapling_max_age(cmd: &mut Cmd, arg: &str) -> SetResult {
    stapling_seconds(cmd, arg, |c| &mut c.max_age)
}

fn stapling_cache_timeout(cmd: &mut Cmd, arg: &str) -> SetResult {
    stapling_seconds(cmd, arg, |c| &mut c.cache_timeout)
}

fn stapling_error_cache_timeout(cmd: &mut Cmd, arg: &str) -> SetResult {
    stapling_seconds(cmd, arg, |c| &mut c.error_cache_timeout)
}

fn stapling_return_errors(cmd: &mut Cmd, on: bool) -> SetResult {
    cmd.server_config::<ServerConf>().stapling.return_errors = Some(on);
    Ok(())
}

fn stapling_fake_try_later(cmd: &mut Cmd, on: bool) -> SetResult {
    cmd.server_config::<ServerConf>().stapling.fake_try_later = Some(on);
    Ok(())
}

fn stapling_force_url(cmd: &mut Cmd, arg: &str) -> SetResult {
    cmd.server_config::<ServerConf>().stapling.force_url = Some(arg.to_string());
    Ok(())
}

/// The commands OpenSSL's SSL_CONF knows for a server (mod_ssl refuses others as it reads).
const OPENSSL_CONF_COMMANDS: &[&str] = &[
    "SignatureAlgorithms",
    "ClientSignatureAlgorithms",
    "Curves",
    "Groups",
    "ECDHParameters",
    "CipherString",
    "Ciphersuites",
    "Protocol",
    "MinProtocol",
    "MaxProtocol",
    "Options",
    "VerifyMode",
    "Certificate",
    "PrivateKey",
    "ServerInfoFile",
    "ChainCAPath",
    "ChainCAFile",
    "VerifyCAPath",
    "VerifyCAFile",
    "RequestCAFile",
    "ClientCAFile",
    "RequestCAPath",
    "ClientCAPath",
    "DHParameters",
    "RecordPadding",
    "NumTickets",
];

fn openssl_conf_cmd(cmd: &mut Cmd, name: &str, value: &str) -> SetResult {
    if !OPENSSL_CONF_COMMANDS
        .iter()
        .any(|c| c.eq_ignore_ascii_case(name))
    {
        return Err(format!("'{name}': invalid OpenSSL configuration command"));
    }
    cmd.server_config::<ServerConf>()
        .conf_cmds
        .push((name.to_string(), value.to_string()));
    Ok(())
}

pub fn register_hooks(hooks: &mut Hooks) {
    hooks
        .post_read_request
        .add("ssl", Order::Middle, read_request);
    hooks
        .check_user_id
        .add("ssl", Order::First, fake_basic_auth);
    hooks.access_checker.add("ssl", Order::Middle, access);
    hooks.fixups.add("ssl", Order::Middle, fixup);
}

/// mod_ssl's `ssl_hook_ReadReq`: plain HTTP on a TLS port is a 400 with its reason; with SNI,
/// a request must name a host, and one whose TLS setup the handshake's is compatible with
/// (421 otherwise); without SNI, SSLStrictSNIVHostCheck refuses name-based hosts (403).
fn read_request(req: &mut Request) -> Step<()> {
    if req.conn.plain_on_tls {
        req.error_notes = Some(
            "Reason: You're speaking plain HTTP to an SSL-enabled server port.<br />\n Instead use the HTTPS scheme to access this URL, please.<br />\n"
                .to_string(),
        );
        return Err(400);
    }
    let Some(tls) = req.conn.tls.clone() else {
        return Ok(());
    };
    let contexts = &req.rt.tls;
    let host = crate::request::request_host(&req.head);
    if let (Some(sni), None) = (&tls.sni, &host) {
        let text = format!(
            "AH02031: Hostname {sni} provided via SNI, but no hostname provided in HTTP request"
        );
        req.log_error("ssl", "error", &text);
        return Err(400);
    }
    // Apache 2.4.64 on: a request for another host than the handshake's is refused unless
    // the two are compatible under SSLVHostSNIPolicy, with SNI or without it.
    if let Some(host) = &host {
        if req.server != tls.server && !compatible(contexts, tls.server, req.server) {
            let policy = &contexts.sni_policy;
            let named = match &tls.sni {
                Some(sni) => format!("{sni} provided via SNI"),
                None => format!(
                    "{} (default host as no SNI was provided)",
                    req.rt.servers[tls.server].server_name
                ),
            };
            let text = format!(
                "AH02032: Hostname {named} and hostname {host} provided via HTTP have no compatible SSL setup for policy '{policy}'"
            );
            req.log_error("ssl", "error", &text);
            return Err(421);
        }
    }
    match &tls.sni {
        Some(_) => {}
        None => {
            let strict = |i: usize| {
                contexts
                    .servers
                    .get(i)
                    .cloned()
                    .flatten()
                    .is_some_and(|s| s.strict_sni)
            };
            if (strict(req.server) || strict(tls.server)) && req.rt.name_based(req.conn.local) {
                req.log_error(
                    "ssl",
                    "info",
                    "AH02033: No hostname was provided via SNI for a name based virtual host",
                );
                req.error_notes = Some("Reason: The client software did not provide a hostname using Server Name Indication (SNI), which is required to access this server.<br />\n".to_string());
                return Err(403);
            }
        }
    }
    Ok(())
}

/// Whether a request may go from the server the handshake chose to `to` under
/// SSLVHostSNIPolicy: `insecure` always; `authonly` when client verification is the same;
/// `secure` (the default) when the settings that shape the handshake agree too; `strict`
/// only to the same server.
fn compatible(contexts: &context::Contexts, from: usize, to: usize) -> bool {
    let setup = |i: usize| contexts.servers.get(i).cloned().flatten();
    let (Some(from), Some(to)) = (setup(from), setup(to)) else {
        return contexts.sni_policy == "insecure";
    };
    match contexts.sni_policy.as_str() {
        "insecure" => true,
        "strict" => false,
        "authonly" => from.verify == to.verify,
        _ => from.policy_key == to.policy_key,
    }
}

/// SSLOptions +FakeBasicAuth: the client certificate's subject DN stands for a user name,
/// presented to mod_auth_basic as Basic credentials with the password "password".
fn fake_basic_auth(req: &mut Request) -> Step<Option<()>> {
    let dir = req.dir.module::<Dir>();
    if !dir.has(option::FAKE_BASIC_AUTH) {
        return Ok(None);
    }
    let Some(tls) = req.conn.tls.clone() else {
        return Ok(None);
    };
    if req.head.headers.get("Authorization").is_some() {
        return Ok(None);
    }
    let legacy = dir.has(option::LEGACY_DN_FORMAT);
    let name = match &dir.user_name {
        Some(var) => vars::lookup(Some(&tls), var, legacy),
        None => vars::lookup(Some(&tls), "SSL_CLIENT_S_DN", legacy),
    };
    let Some(name) = name.filter(|n| !n.is_empty()) else {
        return Ok(None);
    };
    if name.contains(':') {
        let text =
            format!("AH02227: Failed to set r->user to '{name}': the user name contains a colon");
        req.log_error("ssl", "warn", &text);
        return Ok(None);
    }
    use base64::Engine;
    let credentials = base64::engine::general_purpose::STANDARD.encode(format!("{name}:password"));
    req.head
        .to_mut()
        .headers
        .set("Authorization", format!("Basic {credentials}"));
    Ok(None)
}

/// mod_ssl's `ssl_hook_Access`: SSLRequireSSL, a per-directory SSLVerifyClient stronger than
/// the handshake's (rustls cannot renegotiate, so it is refused), SSLUserName, SSLRequire.
fn access(req: &mut Request) -> Step<()> {
    // The merged configuration is shared: holding it apart from `req` costs a count, not a
    // copy of mod_ssl's settings on every request.
    let merged = req.dir.clone();
    let dir = merged.module::<Dir>();
    let tls = req.conn.tls.clone();
    let filename = req
        .filename
        .as_ref()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default();
    if dir.require_ssl && tls.is_none() {
        let text = format!("AH02219: access to {filename} failed, reason: SSL connection required");
        req.log_error("ssl", "error", &text);
        req.notes.push(("ssl-access-forbidden".into(), "1".into()));
        return Err(403);
    }
    let Some(tls) = tls else {
        return Ok(());
    };
    if let Some(wanted) = dir.verify_client {
        let have = tls.setup.verify;
        let verified = tls.client_verify == "SUCCESS"
            || (wanted == Verify::OptionalNoCa && !tls.peer_certificates.is_empty());
        let needs_certificate = wanted == Verify::Require && !verified;
        if wanted > have && needs_certificate {
            let text = "AH02261: Re-negotiation handshake failed: a client certificate is required here, and rhttpd's TLS (rustls) cannot ask for one after the handshake";
            req.log_error("ssl", "error", text);
            req.error_notes =
                Some("Reason: Cannot perform Post-Handshake Authentication.<br />".to_string());
            return Err(403);
        }
    }
    let legacy = dir.has(option::LEGACY_DN_FORMAT);
    if !dir.has(option::FAKE_BASIC_AUTH) {
        if let Some(var) = &dir.user_name {
            match vars::lookup(Some(&tls), var, legacy).filter(|v| !v.is_empty()) {
                Some(user) => req.user = Some(user),
                None => {
                    let text = format!("AH02227: Failed to set r->user to '{var}'");
                    req.log_error("ssl", "warn", &text);
                }
            }
        }
    }
    for expr in &dir.requirements {
        let env = crate::request::environment(req);
        let ok = expr.eval(&crate::request::expr::RequestContext::new(req, &env));
        match ok {
            Ok(true) => {}
            Ok(false) => {
                let text = format!(
                    "AH02229: access to {filename} failed, reason: SSL requirement expression not fulfilled"
                );
                req.log_error("ssl", "error", &text);
                req.notes.push(("ssl-access-forbidden".into(), "1".into()));
                return Err(403);
            }
            Err(error) => {
                let text = format!(
                    "AH02265: access to {filename} failed, reason: Failed to execute SSL requirement expression: {error}"
                );
                req.log_error("ssl", "error", &text);
                req.notes.push(("ssl-access-forbidden".into(), "1".into()));
                return Err(403);
            }
        }
    }
    Ok(())
}

/// `Require ssl` and `Require ssl-verify-client` take no arguments (mod_ssl's parsers).
pub fn check_require_line(provider: &str, rest: &str) -> SetResult {
    let provider = provider.to_ascii_lowercase();
    if (provider == "ssl" || provider == "ssl-verify-client") && !rest.trim().is_empty() {
        return Err(format!("'Require {provider}' does not take arguments"));
    }
    Ok(())
}

/// mod_ssl's authorization providers: `ssl` grants a request over TLS, `ssl-verify-client`
/// one whose client sent a certificate that verified.
pub fn authz_provider(
    provider: &str,
    conn: &crate::request::ConnInfo,
) -> Option<crate::modules::authz::Status> {
    use crate::modules::authz::Status;
    let granted = match provider {
        "ssl" => conn.tls.is_some(),
        "ssl-verify-client" => conn
            .tls
            .as_ref()
            .is_some_and(|tls| !tls.peer_certificates.is_empty() && tls.client_verify == "SUCCESS"),
        _ => return None,
    };
    Some(if granted {
        Status::Granted
    } else {
        Status::Denied
    })
}

/// mod_ssl's fixup has run for the request: its variables are part of the environment.
#[derive(Default)]
struct FixedUp;

/// mod_ssl's `ssl_hook_Fixup` (its variables join the environment from here on).
fn fixup(req: &mut Request) -> Step<Fixup> {
    if req.conn.tls.is_some() {
        req.state.get_mut::<FixedUp>();
    }
    Ok(Fixup::Continue)
}

/// What mod_ssl's fixup adds to a request's environment: HTTPS and SSL_TLS_SNI always;
/// SSLOptions +StdEnvVars the standard variables and the certificates' name parts,
/// +ExportCertData the certificates.
pub fn environment(req: &Request, env: &mut Vec<(String, String)>) {
    let Some(tls) = req.conn.tls.as_deref() else {
        return;
    };
    if req.state.get::<FixedUp>().is_none() {
        return;
    }
    let dir = req.dir.module::<Dir>();
    let legacy = dir.has(option::LEGACY_DN_FORMAT);
    let set = crate::modules::env::set;
    set(env, "HTTPS", "on");
    if let Some(sni) = &tls.sni {
        set(env, "SSL_TLS_SNI", sni);
    }
    if dir.has(option::STD_ENV_VARS) {
        for (name, value) in vars::dn_parts(tls) {
            set(env, &name, &value);
        }
        for name in vars::STD_ENV_VARS {
            if let Some(value) = vars::lookup(Some(tls), name, legacy).filter(|v| !v.is_empty()) {
                set(env, name, &value);
            }
        }
    }
    if dir.has(option::EXPORT_CERT_DATA) {
        for name in ["SSL_SERVER_CERT", "SSL_CLIENT_CERT"] {
            let value = vars::lookup(Some(tls), name, legacy).unwrap_or_default();
            set(env, name, &value);
        }
        for index in 0..tls.peer_certificates.len().saturating_sub(1) {
            let name = format!("SSL_CLIENT_CERT_CHAIN_{index}");
            if let Some(value) = vars::lookup(Some(tls), &name, legacy) {
                set(env, &name, &value);
            }
        }
    }
}
