//! The key file: how an [`Identity`] is stored on disk, in plain or passphrase-encrypted form.
//!
//! This module only turns an identity into bytes and back; the caller does the file I/O
//! (mode 0600, atomic write) and reads at most [`MAX_KEY_FILE_LEN`] bytes.
//!
//! # Format (version 1)
//!
//! All integers are little-endian.
//!
//! | offset | length | field |
//! |---|---|---|
//! | 0 | 9 | magic `b"ACCORDKEY"` |
//! | 9 | 1 | format version, `1` |
//! | 10 | 1 | kind: `0` plain, `1` Argon2id + XChaCha20-Poly1305 |
//!
//! **Kind 0 (plain)**, 75 bytes in all: then the 32-byte ed25519 seed, then the 32-byte
//! ed25519 public key. The public key is redundant; it is there so a damaged file is
//! refused instead of silently becoming a different identity.
//!
//! **Kind 1 (encrypted)**, 111 bytes in all: then
//!
//! | offset | length | field |
//! |---|---|---|
//! | 11 | 4 | Argon2id memory, KiB (`8 × parallelism` ..= 1 GiB) |
//! | 15 | 4 | Argon2id iterations (1 ..= 64) |
//! | 19 | 4 | Argon2id parallelism (1 ..= 16) |
//! | 23 | 16 | salt (random) |
//! | 39 | 24 | XChaCha20-Poly1305 nonce (random) |
//! | 63 | 48 | the 32-byte seed encrypted, then the 16-byte tag |
//!
//! The key is Argon2id (version 0x13) of the passphrase's UTF-8 bytes and the salt, 32 bytes
//! long. The associated data is the whole header (bytes 0..63), so any change to the
//! parameters, salt or nonce fails authentication just as a wrong passphrase does.
//!
//! Decoding refuses: input longer than [`MAX_KEY_FILE_LEN`], truncated input, a bad magic,
//! an unknown version or kind, trailing bytes, Argon2 parameters out of range (so a crafted
//! file cannot make us allocate or compute without bound), a wrong passphrase or tampered
//! bytes, and an encrypted file without a passphrase. A passphrase given for a plain file is
//! ignored and the file opens, as a user who typed one would expect; callers that want to
//! warn about it can ask [`is_encrypted`] first.

use std::fmt;

use argon2::{Algorithm, Argon2, Params, Version};
use chacha20poly1305::aead::AeadInOut;
use chacha20poly1305::{KeyInit, Tag, XChaCha20Poly1305, XNonce};
use rand_core::CryptoRng;
use zeroize::Zeroizing;

use crate::identity::Identity;

/// The largest key file [`decode`] accepts; read at most this many bytes from disk. It is
/// well above the current sizes (75 and 111 bytes) so later versions fit.
pub const MAX_KEY_FILE_LEN: usize = 1024;

const MAGIC: &[u8; 9] = b"ACCORDKEY";
const VERSION: u8 = 1;
const KIND_PLAIN: u8 = 0;
const KIND_ENCRYPTED: u8 = 1;
/// Magic, version and kind.
const PREFIX_LEN: usize = MAGIC.len() + 2;
const SEED_LEN: usize = 32;
const PUBLIC_LEN: usize = 32;
const SALT_LEN: usize = 16;
const NONCE_LEN: usize = 24;
const TAG_LEN: usize = 16;
const PLAIN_LEN: usize = PREFIX_LEN + SEED_LEN + PUBLIC_LEN;
const ENCRYPTED_HEADER_LEN: usize = PREFIX_LEN + 12 + SALT_LEN + NONCE_LEN;
const ENCRYPTED_LEN: usize = ENCRYPTED_HEADER_LEN + SEED_LEN + TAG_LEN;

/// Why a key file could not be written or read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyFileError {
    /// The input is longer than any key file can be.
    #[error(
        "the key file is {0} bytes long, more than the {MAX_KEY_FILE_LEN} a key file can be; is this the right file?"
    )]
    TooLarge(usize),
    /// The input ends before the format says it should.
    #[error("the key file is truncated")]
    Truncated,
    /// The input does not start with the key file magic bytes.
    #[error("this is not an Accord key file")]
    BadMagic,
    /// The format version is not one this build can read.
    #[error(
        "the key file has format version {0}, which this version of Accord cannot read; upgrade Accord"
    )]
    UnsupportedVersion(u8),
    /// The kind byte is neither plain nor encrypted.
    #[error("the key file has unknown kind {0}; it is corrupt or from a newer Accord")]
    UnknownKind(u8),
    /// There are bytes after the end of the key.
    #[error("the key file has unexpected bytes after the key; it is corrupt")]
    TrailingBytes,
    /// The Argon2id parameters are outside the accepted bounds.
    #[error(
        "the key file's key-derivation parameters (memory {memory_kib} KiB, {iterations} iterations, parallelism {parallelism}) are out of range: memory must be 8 × parallelism to 1048576 KiB, iterations 1 to 64, parallelism 1 to 16"
    )]
    KdfParamsOutOfRange {
        /// The memory cost in KiB found.
        memory_kib: u32,
        /// The iteration count found.
        iterations: u32,
        /// The parallelism found.
        parallelism: u32,
    },
    /// The key file is encrypted and no passphrase was given.
    #[error(
        "the key file is encrypted; give the passphrase with --passphrase-file or ACCORD_PASSPHRASE"
    )]
    PassphraseRequired,
    /// An empty passphrase was given; it would protect nothing.
    #[error("the passphrase is empty; choose a non-empty passphrase, or store the key without one")]
    EmptyPassphrase,
    /// Decryption failed: the passphrase is wrong, or the file was altered. The AEAD cannot
    /// tell which.
    #[error("wrong passphrase, or the key file is corrupt")]
    WrongPassphraseOrCorrupt,
    /// A plain key file whose seed does not match its recorded public key.
    #[error("the key file is corrupt: its secret key does not match its public key")]
    Corrupt,
    /// Argon2id failed, e.g. because memory could not be allocated.
    #[error("deriving the key from the passphrase failed: {0}")]
    KeyDerivation(String),
    /// Encryption failed; this cannot happen for a 32-byte seed, but is reported, not panicked.
    #[error("encrypting the key failed")]
    Encryption,
}

/// A passphrase protecting a key file. Wiped from memory on drop; `Debug` never shows it.
///
/// It is used as its exact UTF-8 bytes: no trimming, no Unicode normalisation. Whoever reads
/// it from a file decides whether a trailing newline belongs to it.
#[derive(Clone)]
pub struct Passphrase(Zeroizing<String>);

impl Passphrase {
    /// Wraps a passphrase.
    ///
    /// # Errors
    ///
    /// [`KeyFileError::EmptyPassphrase`] if it is empty.
    pub fn new(passphrase: String) -> Result<Self, KeyFileError> {
        let passphrase = Self(Zeroizing::new(passphrase));
        if passphrase.0.is_empty() {
            return Err(KeyFileError::EmptyPassphrase);
        }
        Ok(passphrase)
    }

    fn as_bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

/// Wraps without checking; [`encode`] still refuses an empty passphrase. Prefer
/// [`Passphrase::new`], which reports it at once.
impl From<String> for Passphrase {
    fn from(passphrase: String) -> Self {
        Self(Zeroizing::new(passphrase))
    }
}

impl fmt::Debug for Passphrase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Passphrase(<redacted>)")
    }
}

/// Argon2id cost parameters for an encrypted key file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct KdfParams {
    /// Memory cost in KiB.
    pub memory_kib: u32,
    /// Number of passes over the memory.
    pub iterations: u32,
    /// Degree of parallelism (lanes).
    pub parallelism: u32,
}

impl KdfParams {
    /// The most memory a key file may ask for: 1 GiB.
    pub const MAX_MEMORY_KIB: u32 = 1024 * 1024;
    /// The most iterations a key file may ask for.
    pub const MAX_ITERATIONS: u32 = 64;
    /// The most lanes a key file may ask for.
    pub const MAX_PARALLELISM: u32 = 16;

    /// Checks the bounds that [`decode`] enforces, so [`encode`] never writes a file that
    /// cannot be read back.
    ///
    /// # Errors
    ///
    /// [`KeyFileError::KdfParamsOutOfRange`] if a value is out of range.
    pub fn validate(&self) -> Result<(), KeyFileError> {
        let parallelism_ok = (1..=Self::MAX_PARALLELISM).contains(&self.parallelism);
        // Argon2 needs at least 8 KiB per lane.
        let memory_ok = parallelism_ok
            && (8 * self.parallelism..=Self::MAX_MEMORY_KIB).contains(&self.memory_kib);
        let iterations_ok = (1..=Self::MAX_ITERATIONS).contains(&self.iterations);
        if parallelism_ok && memory_ok && iterations_ok {
            Ok(())
        } else {
            Err(KeyFileError::KdfParamsOutOfRange {
                memory_kib: self.memory_kib,
                iterations: self.iterations,
                parallelism: self.parallelism,
            })
        }
    }
}

/// The recommended cost: 64 MiB, 3 iterations, 1 lane (a fraction of a second on a laptop,
/// in line with RFC 9106's second recommended option).
impl Default for KdfParams {
    fn default() -> Self {
        Self {
            memory_kib: 64 * 1024,
            iterations: 3,
            parallelism: 1,
        }
    }
}

/// Encodes `identity` as a key file: plain with `None`, encrypted under the passphrase with
/// `Some`. Salt and nonce come from `rng`. The result holds the secret seed (in plain or
/// encrypted form) and is wiped on drop.
///
/// # Errors
///
/// [`KeyFileError::EmptyPassphrase`], [`KeyFileError::KdfParamsOutOfRange`], or
/// [`KeyFileError::KeyDerivation`] if Argon2id cannot run (e.g. out of memory).
pub fn encode<R: CryptoRng + ?Sized>(
    identity: &Identity,
    passphrase: Option<(&Passphrase, KdfParams)>,
    rng: &mut R,
) -> Result<Zeroizing<Vec<u8>>, KeyFileError> {
    let seed = identity.seed();
    let Some((passphrase, params)) = passphrase else {
        let mut out = Zeroizing::new(Vec::with_capacity(PLAIN_LEN));
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&[VERSION, KIND_PLAIN]);
        out.extend_from_slice(seed.as_slice());
        out.extend_from_slice(&identity.id().public_key_bytes());
        return Ok(out);
    };
    if passphrase.as_bytes().is_empty() {
        return Err(KeyFileError::EmptyPassphrase);
    }
    params.validate()?;
    let mut salt = [0u8; SALT_LEN];
    rng.fill_bytes(&mut salt);
    let mut nonce = [0u8; NONCE_LEN];
    rng.fill_bytes(&mut nonce);

    // Reserve the full length up front so the buffer never reallocates and leaves an
    // unwiped copy of the seed behind.
    let mut out = Zeroizing::new(Vec::with_capacity(ENCRYPTED_LEN));
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&[VERSION, KIND_ENCRYPTED]);
    out.extend_from_slice(&params.memory_kib.to_le_bytes());
    out.extend_from_slice(&params.iterations.to_le_bytes());
    out.extend_from_slice(&params.parallelism.to_le_bytes());
    out.extend_from_slice(&salt);
    out.extend_from_slice(&nonce);
    out.extend_from_slice(seed.as_slice());

    let cipher = cipher(passphrase, &params, &salt)?;
    let (header, body) = out.split_at_mut(ENCRYPTED_HEADER_LEN);
    let tag = cipher
        .encrypt_inout_detached(&XNonce::from(nonce), header, body.into())
        .map_err(|_| KeyFileError::Encryption)?;
    out.extend_from_slice(&tag);
    Ok(out)
}

/// Decodes a key file. `passphrase` is needed for an encrypted file and ignored for a plain
/// one (see the module documentation for every refusal).
///
/// # Errors
///
/// Any [`KeyFileError`] but [`KeyFileError::EmptyPassphrase`] and
/// [`KeyFileError::Encryption`].
pub fn decode(bytes: &[u8], passphrase: Option<&Passphrase>) -> Result<Identity, KeyFileError> {
    match parse(bytes)? {
        Parsed::Plain { seed, public } => {
            let identity = Identity::from_seed(Zeroizing::new(*seed));
            if identity.id().public_key_bytes() != *public {
                return Err(KeyFileError::Corrupt);
            }
            Ok(identity)
        }
        Parsed::Encrypted {
            header,
            params,
            salt,
            nonce,
            ciphertext,
            tag,
        } => {
            let passphrase = passphrase.ok_or(KeyFileError::PassphraseRequired)?;
            let cipher = cipher(passphrase, &params, salt)?;
            let mut seed = Zeroizing::new(*ciphertext);
            cipher
                .decrypt_inout_detached(
                    &XNonce::from(*nonce),
                    header,
                    seed.as_mut_slice().into(),
                    &Tag::from(*tag),
                )
                .map_err(|_| KeyFileError::WrongPassphraseOrCorrupt)?;
            Ok(Identity::from_seed(seed))
        }
    }
}

/// Tells whether a key file is encrypted (so a passphrase must be asked for), after checking
/// that it is well-formed. Cheap: it derives no key.
///
/// # Errors
///
/// The format errors of [`decode`].
pub fn is_encrypted(bytes: &[u8]) -> Result<bool, KeyFileError> {
    Ok(matches!(parse(bytes)?, Parsed::Encrypted { .. }))
}

/// The Argon2id parameters an encrypted key file asks for (`None` for a plain file), after
/// checking that the file is well-formed and the parameters are within [`KdfParams`]' bounds.
/// Cheap: it derives no key, so a caller (or a fuzzer) can see what opening the file will cost
/// before paying for it.
///
/// # Errors
///
/// The format errors of [`decode`].
pub fn kdf_params(bytes: &[u8]) -> Result<Option<KdfParams>, KeyFileError> {
    Ok(match parse(bytes)? {
        Parsed::Plain { .. } => None,
        Parsed::Encrypted { params, .. } => Some(params),
    })
}

/// A key file split into its fields, before any secret is touched.
enum Parsed<'a> {
    Plain {
        seed: &'a [u8; SEED_LEN],
        public: &'a [u8; PUBLIC_LEN],
    },
    Encrypted {
        header: &'a [u8],
        params: KdfParams,
        salt: &'a [u8; SALT_LEN],
        nonce: &'a [u8; NONCE_LEN],
        ciphertext: &'a [u8; SEED_LEN],
        tag: &'a [u8; TAG_LEN],
    },
}

fn parse(bytes: &[u8]) -> Result<Parsed<'_>, KeyFileError> {
    if bytes.len() > MAX_KEY_FILE_LEN {
        return Err(KeyFileError::TooLarge(bytes.len()));
    }
    let mut reader = Reader(bytes);
    let magic = reader.take(MAGIC.len()).map_err(|_| {
        // A prefix of the magic is a cut-off key file; anything else is another file.
        if MAGIC.starts_with(bytes) {
            KeyFileError::Truncated
        } else {
            KeyFileError::BadMagic
        }
    })?;
    if magic != MAGIC {
        return Err(KeyFileError::BadMagic);
    }
    let version = reader.u8()?;
    if version != VERSION {
        return Err(KeyFileError::UnsupportedVersion(version));
    }
    let parsed = match reader.u8()? {
        KIND_PLAIN => Parsed::Plain {
            seed: reader.array()?,
            public: reader.array()?,
        },
        KIND_ENCRYPTED => {
            let params = KdfParams {
                memory_kib: reader.u32()?,
                iterations: reader.u32()?,
                parallelism: reader.u32()?,
            };
            let salt = reader.array()?;
            let nonce = reader.array()?;
            params.validate()?;
            Parsed::Encrypted {
                header: &bytes[..ENCRYPTED_HEADER_LEN.min(bytes.len())],
                params,
                salt,
                nonce,
                ciphertext: reader.array()?,
                tag: reader.array()?,
            }
        }
        kind => return Err(KeyFileError::UnknownKind(kind)),
    };
    if !reader.0.is_empty() {
        return Err(KeyFileError::TrailingBytes);
    }
    Ok(parsed)
}

/// A cursor over the input whose every read is bounds-checked.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], KeyFileError> {
        if self.0.len() < n {
            return Err(KeyFileError::Truncated);
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }

    fn array<const N: usize>(&mut self) -> Result<&'a [u8; N], KeyFileError> {
        self.take(N)?
            .try_into()
            .map_err(|_| KeyFileError::Truncated)
    }

    fn u8(&mut self) -> Result<u8, KeyFileError> {
        Ok(self.array::<1>()?[0])
    }

    fn u32(&mut self) -> Result<u32, KeyFileError> {
        Ok(u32::from_le_bytes(*self.array()?))
    }
}

/// Derives the key-file cipher from a passphrase with Argon2id.
fn cipher(
    passphrase: &Passphrase,
    params: &KdfParams,
    salt: &[u8; SALT_LEN],
) -> Result<XChaCha20Poly1305, KeyFileError> {
    let argon_params = Params::new(
        params.memory_kib,
        params.iterations,
        params.parallelism,
        Some(32),
    )
    .map_err(|e| KeyFileError::KeyDerivation(e.to_string()))?;
    let mut key = Zeroizing::new([0u8; 32]);
    Argon2::new(Algorithm::Argon2id, Version::V0x13, argon_params)
        .hash_password_into(passphrase.as_bytes(), salt, key.as_mut_slice())
        .map_err(|e| KeyFileError::KeyDerivation(e.to_string()))?;
    // Borrow the key as the cipher's key type rather than copy it into an unwiped temporary;
    // the cipher keeps its own copy, wiped on drop (the `zeroize` feature).
    let key: &chacha20poly1305::Key = (&*key).into();
    Ok(XChaCha20Poly1305::new(key))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)] // Tests should fail loudly.
mod tests;
