//! AES-256-GCM field encryption and keyed-HMAC blind indexes, both derived from one master key.
use std::path::Path;

use aes_gcm::{
    Aes256Gcm, KeyInit, Nonce,
    aead::{Aead, AeadCore, OsRng},
};
use anyhow::{Context, anyhow, bail};
use base64::{Engine, engine::general_purpose::STANDARD as B64};
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;

const VERSION: &str = "v1";

/// Encrypts and decrypts personal fields; computes their blind indexes.
pub struct FieldCipher {
    aead: Aes256Gcm,
    index_key: [u8; 32],
}

impl std::fmt::Debug for FieldCipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FieldCipher([redacted])")
    }
}

fn derive(master: &[u8; 32], label: &str) -> anyhow::Result<[u8; 32]> {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(master).map_err(|e| anyhow!("{e}"))?;
    mac.update(label.as_bytes());
    Ok(mac.finalize().into_bytes().into())
}

impl FieldCipher {
    pub fn new(master: &[u8; 32]) -> anyhow::Result<Self> {
        let enc = derive(master, "bangban/field-encryption/v1")?;
        let aead = Aes256Gcm::new_from_slice(&enc).map_err(|e| anyhow!("{e}"))?;
        Ok(Self {
            aead,
            index_key: derive(master, "bangban/blind-index/v1")?,
        })
    }

    /// Parses a base64-encoded 32-byte master key.
    pub fn from_base64(key: &str) -> anyhow::Result<Self> {
        let bytes = B64.decode(key.trim()).context("data key is not base64")?;
        let master: [u8; 32] = bytes
            .try_into()
            .map_err(|_| anyhow!("data key must be exactly 32 bytes"))?;
        Self::new(&master)
    }

    /// `v1:<base64(nonce ‖ ciphertext ‖ tag)>`; a fresh random nonce each time.
    pub fn encrypt(&self, plain: &str) -> anyhow::Result<String> {
        let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
        let sealed = self
            .aead
            .encrypt(&nonce, plain.as_bytes())
            .map_err(|_| anyhow!("encryption failed"))?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        Ok(format!("{VERSION}:{}", B64.encode(out)))
    }

    pub fn decrypt(&self, stored: &str) -> anyhow::Result<String> {
        let Some(body) = stored.strip_prefix("v1:") else {
            bail!("unknown ciphertext version");
        };
        let bytes = B64.decode(body).context("ciphertext is not base64")?;
        if bytes.len() < 12 + 16 {
            bail!("ciphertext too short");
        }
        let (nonce, sealed) = bytes.split_at(12);
        let plain = self
            .aead
            .decrypt(Nonce::from_slice(nonce), sealed)
            .map_err(|_| anyhow!("ciphertext does not authenticate"))?;
        String::from_utf8(plain).context("plain text is not UTF-8")
    }

    /// A stored resident ID number, decrypted and masked (`110105********002X`). An error when
    /// it does not decrypt with this key or is not an ID number: never "absent".
    pub fn masked_id_number(&self, stored: &str) -> anyhow::Result<String> {
        let plain = self.decrypt(stored)?;
        super::identity::ResidentIdNumber::parse(&plain, "id")
            .map(|v| v.masked())
            .map_err(|_| anyhow!("a stored ID number is not an ID number"))
    }

    /// A stored mobile number, decrypted and masked (`138****5678`); an error as above.
    pub fn masked_phone(&self, stored: &str) -> anyhow::Result<String> {
        let plain = self.decrypt(stored)?;
        super::phone::MobileNumber::parse(&plain, "phone")
            .map(|v| v.masked())
            .map_err(|_| anyhow!("a stored mobile number is not a mobile number"))
    }

    /// The key check value: a keyed hash that only this master key gives, stored with the data
    /// so that a server started with another key refuses to start. Reveals nothing of the key.
    pub fn key_check_value(&self) -> String {
        self.blind_index("key-check", "bangban/data-key-check/v1")
    }

    /// Deterministic keyed HMAC (hex) of a normalised value: equal inputs, equal indexes.
    pub fn blind_index(&self, kind: &str, normalised: &str) -> String {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.index_key)
            .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
        mac.update(kind.as_bytes());
        mac.update(b"\0");
        mac.update(normalised.as_bytes());
        mac.finalize()
            .into_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }
}

/// Reads the master key from `data_dir/data.key`, creating it (mode 0600) on first start.
/// Only for the embedded default; production passes `BANGBAN_PII_DATA_KEY`.
pub fn load_or_create_data_key(data_dir: &Path) -> anyhow::Result<String> {
    crate::secrets::load_or_create(data_dir, "data.key", || {
        let mut key = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut key);
        B64.encode(key)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cipher() -> FieldCipher {
        FieldCipher::new(&[7u8; 32]).unwrap()
    }

    #[test]
    fn encryption_round_trips_and_never_repeats() {
        let c = cipher();
        let a = c.encrypt("13812345678").unwrap();
        let b = c.encrypt("13812345678").unwrap();
        assert_ne!(a, b);
        assert!(!a.contains("13812345678"));
        assert_eq!(c.decrypt(&a).unwrap(), "13812345678");
    }

    #[test]
    fn tampered_ciphertext_is_refused() {
        let c = cipher();
        let mut stored = c.encrypt("13812345678").unwrap().into_bytes();
        let last = stored.len() - 2;
        stored[last] = if stored[last] == b'A' { b'B' } else { b'A' };
        assert!(c.decrypt(&String::from_utf8(stored).unwrap()).is_err());
        let other = FieldCipher::new(&[8u8; 32]).unwrap();
        assert!(other.decrypt(&c.encrypt("x").unwrap()).is_err());
    }

    #[test]
    fn blind_index_is_deterministic_and_keyed() {
        let c = cipher();
        assert_eq!(
            c.blind_index("phone", "13812345678"),
            c.blind_index("phone", "13812345678")
        );
        assert_ne!(
            c.blind_index("phone", "13812345678"),
            c.blind_index("phone", "13812345679")
        );
        let other = FieldCipher::new(&[8u8; 32]).unwrap();
        assert_ne!(c.blind_index("phone", "1"), other.blind_index("phone", "1"));
    }
}
