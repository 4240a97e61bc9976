//! Session tickets every child can open: the key is derived from one secret the parent holds
//! (SSLSessionTicketKeyFile's 48 bytes, or random bytes drawn at each start) and the current
//! period, so children rotate to the same key at the same moment without talking to each
//! other, and a ticket from the previous period still opens.

use aws_lc_rs::aead::{self, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use aws_lc_rs::hmac;
use aws_lc_rs::rand::{SecureRandom, SystemRandom};

/// How long one key seals new tickets: tickets open for up to twice this.
const PERIOD_SECS: u64 = 6 * 60 * 60;

#[derive(Debug)]
pub struct SharedTicketer {
    secret: hmac::Key,
    lifetime: u32,
}

impl SharedTicketer {
    /// From SSLSessionTicketKeyFile's bytes, or fresh random ones.
    pub fn new(secret: Option<&[u8]>, lifetime_secs: u64) -> SharedTicketer {
        let bytes = match secret {
            Some(bytes) => bytes.to_vec(),
            None => {
                let mut fresh = [0u8; 48];
                SystemRandom::new()
                    .fill(&mut fresh)
                    .expect("the kernel's random source");
                fresh.to_vec()
            }
        };
        SharedTicketer {
            secret: hmac::Key::new(hmac::HMAC_SHA256, &bytes),
            lifetime: lifetime_secs.clamp(1, u32::MAX as u64) as u32,
        }
    }

    fn key(&self, period: u64) -> LessSafeKey {
        let derived = hmac::sign(&self.secret, &period.to_be_bytes());
        let unbound =
            UnboundKey::new(&AES_256_GCM, derived.as_ref()).expect("a 32-byte AES-256 key");
        LessSafeKey::new(unbound)
    }

    fn period_now() -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
            / PERIOD_SECS
    }
}

impl rustls::server::ProducesTickets for SharedTicketer {
    fn enabled(&self) -> bool {
        true
    }

    fn lifetime(&self) -> u32 {
        self.lifetime
    }

    /// period (8 bytes) | nonce | sealed state and tag.
    fn encrypt(&self, plain: &[u8]) -> Option<Vec<u8>> {
        let period = Self::period_now();
        let mut nonce = [0u8; NONCE_LEN];
        SystemRandom::new().fill(&mut nonce).ok()?;
        let mut sealed = plain.to_vec();
        self.key(period)
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                aead::Aad::from(period.to_be_bytes()),
                &mut sealed,
            )
            .ok()?;
        let mut out = Vec::with_capacity(8 + NONCE_LEN + sealed.len());
        out.extend_from_slice(&period.to_be_bytes());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        Some(out)
    }

    fn decrypt(&self, ticket: &[u8]) -> Option<Vec<u8>> {
        if ticket.len() < 8 + NONCE_LEN {
            return None;
        }
        let period = u64::from_be_bytes(ticket[..8].try_into().ok()?);
        let now = Self::period_now();
        if period != now && period + 1 != now {
            return None;
        }
        let nonce = Nonce::try_assume_unique_for_key(&ticket[8..8 + NONCE_LEN]).ok()?;
        let mut sealed = ticket[8 + NONCE_LEN..].to_vec();
        let plain = self
            .key(period)
            .open_in_place(nonce, aead::Aad::from(period.to_be_bytes()), &mut sealed)
            .ok()?;
        Some(plain.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls::server::ProducesTickets;

    #[test]
    fn a_ticket_opens_in_another_ticketer_from_the_same_secret_only() {
        let secret = [7u8; 48];
        let sealer = SharedTicketer::new(Some(&secret), 300);
        let sibling = SharedTicketer::new(Some(&secret), 300);
        let stranger = SharedTicketer::new(None, 300);
        let ticket = sealer.encrypt(b"session state").unwrap();
        assert_eq!(sibling.decrypt(&ticket).unwrap(), b"session state");
        assert!(stranger.decrypt(&ticket).is_none());
        let mut tampered = ticket.clone();
        *tampered.last_mut().unwrap() ^= 1;
        assert!(sibling.decrypt(&tampered).is_none());
    }
}
