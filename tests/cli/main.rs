//! Integration tests: the real csrbatch binary on real manifests, judged by the real openssl.

mod generate;
mod util;
mod validation;
