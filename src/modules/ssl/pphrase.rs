//! mod_ssl's pass phrase dialog (SSLPassPhraseDialog): an encrypted private key (PKCS#8,
//! what OpenSSL 3 writes) is opened with a pass phrase remembered from an earlier key or
//! start, else one asked of the terminal (`builtin`) or of a program (`exec:`, given the
//! server's `name:port` and the key's type as mod_ssl gives them).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rustls::pki_types::PrivateKeyDer;

/// How SSLPassPhraseDialog asks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dialog {
    Builtin,
    /// `exec:/path`: the program's first line of output is the pass phrase.
    Exec(PathBuf),
    /// `|/path`: a program spoken to as a terminal.
    Pipe(String),
}

/// The pass phrases given so far: tried first on every encrypted key, so one phrase serves
/// many keys and a graceful restart does not ask again (Apache keeps them likewise).
static REMEMBERED: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// How a refusal for a pass phrase that did not open the key begins.
pub const WRONG: &str = "bad decrypt";

/// How many times the terminal may be asked for one key (mod_ssl's BUILTIN_DIALOG_RETRIES).
const RETRIES: usize = 5;

/// Whether `text` is a PEM private key this dialog opens.
pub fn encrypted(text: &str) -> bool {
    text.contains("-----BEGIN ENCRYPTED PRIVATE KEY-----")
}

/// The key of an encrypted PKCS#8 file; `id` is mod_ssl's `name:port:index`.
pub fn open(
    path: &Path,
    text: &str,
    id: &str,
    dialog: &Dialog,
) -> Result<PrivateKeyDer<'static>, String> {
    use pkcs8::der::pem::PemLabel;
    use pkcs8::der::Decode;
    let (label, der) = pkcs8::der::pem::decode_vec(text.trim().as_bytes())
        .map_err(|e| format!("unreadable PEM: {e}"))?;
    if label != pkcs8::EncryptedPrivateKeyInfo::PEM_LABEL {
        return Err(format!("unexpected PEM label {label}"));
    }
    let info = pkcs8::EncryptedPrivateKeyInfo::from_der(&der)
        .map_err(|e| format!("not an encrypted PKCS#8 key: {e}"))?;
    let try_phrase = |phrase: &str| {
        info.decrypt(phrase)
            .ok()
            .map(|doc| PrivateKeyDer::Pkcs8(doc.as_bytes().to_vec().into()))
    };
    let remembered = REMEMBERED.lock().unwrap_or_else(|e| e.into_inner()).clone();
    if let Some(key) = remembered.iter().find_map(|p| try_phrase(p)) {
        return Ok(key);
    }
    let mut asked = 0;
    loop {
        asked += 1;
        let phrase = ask(path, id, dialog, asked)?;
        if let Some(key) = try_phrase(&phrase) {
            REMEMBERED
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(phrase);
            return Ok(key);
        }
        // Only a person at the terminal gets another try.
        if *dialog != Dialog::Builtin || asked >= RETRIES {
            return Err(format!("{WRONG} (the pass phrase does not open the key)"));
        }
        let left = RETRIES - asked;
        let _ = writeln!(
            std::io::stdout(),
            "Apache:mod_ssl:Error: Pass phrase incorrect ({left} more retr{} permitted).",
            if left == 1 { "y" } else { "ies" }
        );
    }
}

/// One pass phrase from the dialog.
fn ask(path: &Path, id: &str, dialog: &Dialog, attempt: usize) -> Result<String, String> {
    match dialog {
        Dialog::Exec(program) => {
            let text = format!(
                "AH01969: Init: Requesting pass phrase from dialog filter program ({})",
                program.display()
            );
            crate::log::error("ssl", "info", &text);
            let (server, index) = id.rsplit_once(':').unwrap_or((id, "0"));
            // mod_ssl's names for the first three keys of a server, then their index.
            let kind = match index {
                "0" => "RSA",
                "1" => "DSA",
                "2" => "ECC",
                other => other,
            };
            let out = std::process::Command::new(program)
                .args([server, kind])
                .stdin(std::process::Stdio::null())
                .stderr(std::process::Stdio::inherit())
                .output()
                .map_err(|e| format!("cannot run {}: {e}", program.display()))?;
            let text = String::from_utf8_lossy(&out.stdout);
            Ok(text.lines().next().unwrap_or("").to_string())
        }
        Dialog::Builtin => {
            crate::log::error(
                "ssl",
                "info",
                "AH01968: Init: Requesting pass phrase via builtin terminal dialog",
            );
            let mut out = std::io::stdout();
            if attempt == 1 {
                let (major, minor, patch) = crate::build_info::APACHE_VERSION;
                let _ = writeln!(
                    out,
                    "Apache/{major}.{minor}.{patch} mod_ssl (Pass Phrase Dialog)\nSome of your private key files are encrypted for security reasons.\nIn order to read them you have to provide the pass phrases.\n\nPrivate key {id} ({})",
                    path.display()
                );
            }
            loop {
                let _ = write!(out, "Enter pass phrase:");
                let _ = out.flush();
                let phrase = crate::sys::terminal::read_hidden_line()
                    .map_err(|e| format!("no terminal to ask for the pass phrase ({e})"))?;
                let _ = writeln!(out);
                if !phrase.is_empty() {
                    return Ok(phrase);
                }
                let _ = writeln!(
                    out,
                    "Apache:mod_ssl:Error: Pass phrase empty (needs to be at least 1 character)."
                );
            }
        }
        Dialog::Pipe(program) => Err(format!(
            "SSLPassPhraseDialog |{program}: the piped dialog is not implemented in rhttpd; use builtin or exec:"
        )),
    }
}
