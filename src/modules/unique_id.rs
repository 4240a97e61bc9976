//! mod_unique_id, whole: the UNIQUE_ID variable every request carries, a token no other
//! request of any child, past or future, has had. Built as Apache builds it (so log tooling
//! that decodes it still can): the request's second, ten random bytes drawn once per child,
//! a 16-bit counter started at random, and the connection's worker slot, 20 bytes written in
//! network order and encoded in 27 characters of the URL-safe base64 alphabet.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;

use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use rhttpd_directives::registry::ModuleDef;

use crate::hooks::{Hooks, Order};
use crate::request::{Request, Step};

pub static MODULE: ModuleDef = ModuleDef {
    id: "unique_id_module",
    source: "mod_unique_id.c",
    builtin: false,
    has_dir_config: false,
    directives: &[],
};

pub fn register_hooks(hooks: &mut Hooks) {
    hooks
        .post_read_request
        .add("unique_id", Order::Middle, set_unique_id);
}

/// post_read_request: the request gets its id, unless it is an internal redirect of one that
/// has it already (the id then stays, as Apache copies REDIRECT_UNIQUE_ID).
fn set_unique_id(req: &mut Request) -> Step<()> {
    if !req.early_env.iter().any(|(name, _)| name == "UNIQUE_ID") {
        let second = req
            .now
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let id = generate(
            second as u32,
            crate::mpm::scoreboard::current_worker().unwrap_or(0) as u32,
        );
        req.early_env.push(("UNIQUE_ID".to_string(), id));
    }
    Ok(())
}

/// What a child draws once: its random root and the counter's random start.
struct ChildSeed {
    pid: u32,
    root: [u8; 10],
    counter: AtomicU32,
}

fn seed() -> &'static ChildSeed {
    static SEED: OnceLock<ChildSeed> = OnceLock::new();
    let seed = SEED.get_or_init(|| {
        let mut bytes = [0u8; 14];
        // The kernel's generator does not fail once the system is up; zeros would still
        // give ids unique within this child.
        let _ = SystemRandom::new().fill(&mut bytes);
        let mut root = [0u8; 10];
        root.copy_from_slice(&bytes[..10]);
        ChildSeed {
            pid: std::process::id(),
            root,
            counter: AtomicU32::new(u32::from_be_bytes([
                bytes[10], bytes[11], bytes[12], bytes[13],
            ])),
        }
    });
    // Drawn in a child, never in the parent that forks them; a process that is not the one
    // that drew it (which cannot happen today) would repeat ids, so say so loudly in tests.
    debug_assert_eq!(seed.pid, std::process::id());
    seed
}

/// One id: stamp, root, counter, connection id, encoded.
fn generate(second: u32, connection: u32) -> String {
    let seed = seed();
    let counter = seed.counter.fetch_add(1, Ordering::Relaxed);
    encode(second, &seed.root, (counter % 0xffff) as u16, connection)
}

/// The 20 bytes in network order, encoded 6 bits a character (27 characters, the last one
/// from the final 2 bits padded with zeros).
fn encode(second: u32, root: &[u8; 10], counter: u16, connection: u32) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut raw = [0u8; 22];
    raw[..4].copy_from_slice(&second.to_be_bytes());
    raw[4..14].copy_from_slice(root);
    raw[14..16].copy_from_slice(&counter.to_be_bytes());
    raw[16..20].copy_from_slice(&connection.to_be_bytes());
    const LENGTH: usize = (20 * 8usize).div_ceil(6);
    let mut out = String::with_capacity(LENGTH);
    for group in raw.chunks(3).take(7) {
        let bits = (u32::from(group[0]) << 16)
            | (u32::from(group.get(1).copied().unwrap_or(0)) << 8)
            | u32::from(group.get(2).copied().unwrap_or(0));
        for shift in [18, 12, 6, 0] {
            if out.len() == LENGTH {
                break;
            }
            out.push(ALPHABET[((bits >> shift) & 63) as usize] as char);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_encoding_is_apaches() {
        // Second 0x5f5e1000, root 00..09, counter 1, connection 3: the 20 bytes in base64url.
        let root = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9];
        let id = encode(0x5f5e_1000, &root, 1, 3);
        assert_eq!(id.len(), 27);
        assert_eq!(id, "X14QAAABAgMEBQYHCAkAAQAAAAM");
    }

    #[test]
    fn ids_of_one_second_and_connection_differ() {
        let a = generate(1, 2);
        let b = generate(1, 2);
        assert_ne!(a, b);
        assert_eq!(a[..4], b[..4]);
    }
}
