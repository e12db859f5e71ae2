//! The one TLS crypto provider of the process (ring), shared by the HTTP clients and the server.
//!
//! rustls needs a process-wide provider when more than one could be compiled in; installing it here,
//! once, keeps every client and listener on the same one.

/// Installs ring as the process's rustls crypto provider (a no-op when one is installed already).
pub fn install_crypto_provider() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        // Losing the race to another thread that installed one first is fine: a provider is set.
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
}
