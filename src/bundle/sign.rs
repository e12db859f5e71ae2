//! Code signing compatible with react-native-code-push (protocol notes §5).
//!
//! The signature is an RS256 JWT with claims `{"claimVersion":"1.0.0","contentHash":<package hash>,
//! "iat":<seconds>}`, written as `CodePush/.codepushrelease`. Devices configured with the public key
//! verify the JWT and require `contentHash` to equal the package hash. The server never sees keys.

use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rsa::pkcs1::DecodeRsaPrivateKey as _;
use rsa::pkcs8::DecodePrivateKey as _;
use rsa::signature::{SignatureEncoding as _, Signer as _};
use sha2::Sha256;

use super::BundleError;

pub use crate::domain::signature::{JWT_HEADER as HEADER, ReleaseClaims};

/// An RSA private key that signs releases.
pub struct ReleaseSigner {
    key: rsa::pkcs1v15::SigningKey<Sha256>,
}

impl std::fmt::Debug for ReleaseSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ReleaseSigner(<private key>)")
    }
}

impl ReleaseSigner {
    /// Reads a PEM RSA private key (PKCS#1 `RSA PRIVATE KEY` or PKCS#8 `PRIVATE KEY`).
    ///
    /// # Errors
    /// [`BundleError::Io`] or [`BundleError::Signing`] for unreadable keys.
    pub fn from_pem_file(path: &Path) -> Result<Self, BundleError> {
        let pem = std::fs::read_to_string(path).map_err(BundleError::io(path))?;
        let key = rsa::RsaPrivateKey::from_pkcs8_pem(&pem)
            .or_else(|_| rsa::RsaPrivateKey::from_pkcs1_pem(&pem))
            .map_err(|e| BundleError::Signing(format!("{} is not a PEM RSA private key: {e}", path.display())))?;
        Ok(Self { key: rsa::pkcs1v15::SigningKey::new(key) })
    }

    /// The JWT for a package hash, issued at `iat` (seconds since the epoch).
    #[must_use]
    pub fn sign(&self, package_hash: &str, iat: u64) -> String {
        let claims = ReleaseClaims { claim_version: "1.0.0".into(), content_hash: package_hash.into(), iat };
        let claims_json = serde_json::to_string(&claims).unwrap_or_default();
        let signing_input = format!("{}.{}", URL_SAFE_NO_PAD.encode(HEADER), URL_SAFE_NO_PAD.encode(claims_json));
        let signature = self.key.sign(signing_input.as_bytes());
        format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(signature.to_bytes()))
    }
}

/// Verifies a release JWT as a device does (see [`crate::domain::signature::verify`]).
///
/// # Errors
/// [`BundleError::Signing`] for a bad key, a malformed token or a bad signature.
pub fn verify(token: &str, public_key_pem: &str) -> Result<ReleaseClaims, BundleError> {
    crate::domain::signature::verify(token, public_key_pem).map_err(|e| BundleError::Signing(e.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/keys").join(name)
    }

    #[test]
    fn signs_and_verifies_with_the_key_pair() {
        let signer = ReleaseSigner::from_pem_file(&fixture("test-only-private.pem")).expect("key");
        let token = signer.sign("abc123", 1_795_000_000);
        let public = std::fs::read_to_string(fixture("test-only-public.pem")).expect("public key");
        let claims = verify(&token, &public).expect("valid signature");
        assert_eq!(
            claims,
            ReleaseClaims { claim_version: "1.0.0".into(), content_hash: "abc123".into(), iat: 1_795_000_000 }
        );
        let header = token.split('.').next().expect("header");
        assert_eq!(URL_SAFE_NO_PAD.decode(header).expect("b64"), HEADER.as_bytes());
    }

    #[test]
    fn tampered_tokens_fail() {
        let signer = ReleaseSigner::from_pem_file(&fixture("test-only-private.pem")).expect("key");
        let public = std::fs::read_to_string(fixture("test-only-public.pem")).expect("public key");
        let token = signer.sign("abc123", 1);
        let other_claims = URL_SAFE_NO_PAD.encode(r#"{"claimVersion":"1.0.0","contentHash":"evil","iat":1}"#);
        let parts: Vec<&str> = token.split('.').collect();
        let forged = format!("{}.{other_claims}.{}", parts[0], parts[2]);
        assert!(verify(&forged, &public).is_err());
        assert!(verify("not.a.jwt", &public).is_err());
        assert!(ReleaseSigner::from_pem_file(&fixture("test-only-public.pem")).is_err(), "a public key cannot sign");
    }
}
