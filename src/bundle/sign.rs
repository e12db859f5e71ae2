//! Code signing compatible with react-native-code-push (protocol notes §5).
//!
//! The signature is an RS256 JWT with claims `{"claimVersion":"1.0.0","contentHash":<package hash>,
//! "iat":<seconds>}`, written as `CodePush/.codepushrelease`. Devices configured with the public key
//! verify the JWT and require `contentHash` to equal the package hash. The server never sees keys.

use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rsa::pkcs1::{DecodeRsaPrivateKey as _, DecodeRsaPublicKey as _};
use rsa::pkcs8::{DecodePrivateKey as _, DecodePublicKey as _};
use rsa::signature::{SignatureEncoding as _, Signer as _, Verifier as _};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use super::BundleError;

/// The claims of a release signature.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReleaseClaims {
    pub claim_version: String,
    pub content_hash: String,
    pub iat: u64,
}

const HEADER: &str = r#"{"alg":"RS256","typ":"JWT"}"#;

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

/// Verifies a release JWT with a PEM public key (SPKI `PUBLIC KEY` or PKCS#1 `RSA PUBLIC KEY`), as a
/// device does, and returns its claims.
///
/// # Errors
/// [`BundleError::Signing`] for a bad key, a malformed token, a wrong algorithm or a bad signature.
pub fn verify(token: &str, public_key_pem: &str) -> Result<ReleaseClaims, BundleError> {
    let fail = |message: &str| BundleError::Signing(message.to_owned());
    let key = rsa::RsaPublicKey::from_public_key_pem(public_key_pem)
        .or_else(|_| rsa::RsaPublicKey::from_pkcs1_pem(public_key_pem))
        .map_err(|_| fail("not a PEM RSA public key"))?;
    let mut parts = token.trim().split('.');
    let (Some(header), Some(claims), Some(signature), None) = (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(fail("not a JWT"));
    };
    let header_json: serde_json::Value = URL_SAFE_NO_PAD
        .decode(header)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .ok_or_else(|| fail("unreadable JWT header"))?;
    if header_json["alg"] != "RS256" {
        return Err(fail("the JWT is not RS256"));
    }
    let signature_bytes = URL_SAFE_NO_PAD.decode(signature).map_err(|_| fail("unreadable signature"))?;
    let signature =
        rsa::pkcs1v15::Signature::try_from(signature_bytes.as_slice()).map_err(|_| fail("unreadable signature"))?;
    rsa::pkcs1v15::VerifyingKey::<Sha256>::new(key)
        .verify(format!("{header}.{claims}").as_bytes(), &signature)
        .map_err(|_| fail("the signature does not match the public key"))?;
    let claims_bytes = URL_SAFE_NO_PAD.decode(claims).map_err(|_| fail("unreadable claims"))?;
    serde_json::from_slice(&claims_bytes).map_err(|_| fail("unreadable claims"))
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
