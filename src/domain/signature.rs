//! Release signatures as react-native-code-push checks them: an RS256 JWT whose claims are
//! `{"claimVersion":"1.0.0","contentHash":<package hash>,"iat":<seconds>}`, verified with the app's
//! public key. Pure: keys and tokens come in as text.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rsa::pkcs1::DecodeRsaPublicKey as _;
use rsa::pkcs8::DecodePublicKey as _;
use rsa::signature::Verifier as _;
use serde::{Deserialize, Serialize};
use sha2::Sha256;

/// The claims of a release signature.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReleaseClaims {
    pub claim_version: String,
    pub content_hash: String,
    pub iat: u64,
}

/// The JWT header of release signatures.
pub const JWT_HEADER: &str = r#"{"alg":"RS256","typ":"JWT"}"#;

/// Why a signature was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SignatureError(pub String);

/// Verifies a release JWT with a PEM public key (SPKI `PUBLIC KEY` or PKCS#1 `RSA PUBLIC KEY`) and
/// returns its claims.
///
/// # Errors
/// A bad key, a malformed token, a wrong algorithm or a signature that does not match.
pub fn verify(token: &str, public_key_pem: &str) -> Result<ReleaseClaims, SignatureError> {
    let fail = |message: &str| SignatureError(message.to_owned());
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
