//! The decoders of local files a damaged or hostile disk can hand us: the key file and the
//! config file.

use std::path::Path;

use accord_identity::keyfile::{self, KdfParams, KeyFileError, Passphrase};
use accord_node::Config;

use crate::assert_explained;
use crate::fixtures::KEY_FILE_PASSPHRASE;
use accord_identity::test_rng::TestRng;

/// The most Argon2 work (KiB of memory × passes) the `key_file` check spends on a decryption
/// attempt. The real bounds (up to 1 GiB × 64 passes) are what `kdf_params` enforces and are
/// checked on every input; paying them would make the fuzzer crawl, so only files asking for
/// at most this much are also decrypted.
const MAX_TRIED_KDF_WORK: u64 = 256;

/// A key file: the parse-only step, `is_encrypted` and `decode` without a passphrase must agree,
/// a plain file re-encodes exactly, and cheap encrypted files are also decrypted.
pub(crate) fn key_file(data: &[u8]) {
    let params = keyfile::kdf_params(data);
    let encrypted = keyfile::is_encrypted(data);
    let opened = keyfile::decode(data, None);
    match &params {
        Err(err) => {
            assert_explained(err);
            assert_eq!(encrypted.as_ref().err(), Some(err));
            assert_eq!(opened.as_ref().err(), Some(err));
        }
        Ok(None) => {
            assert_eq!(encrypted, Ok(false));
            match &opened {
                Ok(identity) => {
                    let again = keyfile::encode(identity, None, &mut TestRng::new(0))
                        .unwrap_or_else(|err| panic!("a plain key file encodes: {err}"));
                    assert_eq!(
                        again.as_slice(),
                        data,
                        "a plain key file re-encodes exactly"
                    );
                }
                Err(err) => assert_eq!(err, &KeyFileError::Corrupt),
            }
        }
        Ok(Some(params)) => {
            assert_eq!(encrypted, Ok(true));
            assert_eq!(params.validate(), Ok(()));
            assert!(params.memory_kib <= KdfParams::MAX_MEMORY_KIB);
            assert_eq!(
                opened.as_ref().err(),
                Some(&KeyFileError::PassphraseRequired)
            );
            let work = u64::from(params.memory_kib) * u64::from(params.iterations);
            if work <= MAX_TRIED_KDF_WORK {
                let passphrase = Passphrase::from(KEY_FILE_PASSPHRASE.to_owned());
                if let Err(err) = keyfile::decode(data, Some(&passphrase)) {
                    assert_explained(&err);
                }
            }
        }
    }
}

/// A config file, as `accord` reads it at start-up.
pub(crate) fn config_file(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let path = Path::new("config.toml");
    match Config::parse(text, path) {
        Ok(config) => assert_eq!(
            Config::parse(text, path).ok(),
            Some(config),
            "parsing is deterministic"
        ),
        Err(err) => assert_explained(&err),
    }
}
