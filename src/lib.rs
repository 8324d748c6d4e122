//! mo2fa: a reverse (mobile-originated) 2FA verifier and the harness around it.
//! See ARCHITECTURE.md for the module map.
