use super::*;
use crate::test_rng::parties;
use proptest::prelude::*;

/// A tiny valid PNG, made by the image crate.
fn tiny_png() -> Vec<u8> {
    let picture = image::RgbaImage::from_pixel(4, 4, image::Rgba([10, 20, 30, 255]));
    let mut out = Vec::new();
    image::DynamicImage::ImageRgba8(picture)
        .write_to(&mut std::io::Cursor::new(&mut out), image::ImageFormat::Png)
        .unwrap();
    out
}

#[test]
fn create_encode_decode_verify() {
    let (a, _, _) = parties(1);
    let profile = Profile::create(&a, 3, "Ada", "Analyst", Some(&tiny_png())).unwrap();
    profile.verify().unwrap();
    let bytes = profile.encode();
    assert!(bytes.len() <= Profile::MAX_LEN);
    let back = Profile::decode(&bytes).unwrap();
    assert_eq!(back, profile);
    back.verify().unwrap();
    let card = ProfileCard::decode(&profile.card.encode()).unwrap();
    assert_eq!(card, profile.card);
    card.verify().unwrap();
    assert!(profile.card.encode().len() <= ProfileCard::MAX_LEN);
}

#[test]
fn the_longest_card_fits_its_bound() {
    let (a, _, _) = parties(2);
    let card = ProfileCard::create(
        &a,
        u64::MAX,
        &"🦀".repeat(NAME_MAX_CHARS),
        &"🦀".repeat(HEADLINE_MAX_CHARS),
        Some(&[1, 2, 3]),
    )
    .unwrap();
    assert_eq!(card.encode().len(), ProfileCard::MAX_LEN);
    assert_eq!(ProfileCard::MAX_LEN, 887);
}

#[test]
fn forgeries_are_refused() {
    let (a, b, _) = parties(3);
    let profile = Profile::create(&a, 1, "Ada", "", Some(&tiny_png())).unwrap();
    // Someone else's name in Ada's card.
    let mut renamed = profile.clone();
    renamed.card.name = "Mallory".into();
    assert_eq!(renamed.verify(), Err(ProfileError::BadSignature));
    // A newer version claimed without Ada's key.
    let mut bumped = profile.card.clone();
    bumped.version = 2;
    assert_eq!(bumped.verify(), Err(ProfileError::BadSignature));
    // Bob's signature on a card naming Ada.
    let mut stolen = ProfileCard::create(&b, 1, "Ada", "", None).unwrap();
    stolen.id = a.id();
    assert_eq!(stolen.verify(), Err(ProfileError::BadSignature));
    // Another avatar under the signed card.
    let mut swapped = profile.clone();
    swapped.avatar = Some(vec![0x89, b'P', b'N', b'G']);
    assert_eq!(swapped.verify(), Err(ProfileError::AvatarMismatch));
    let mut dropped = profile;
    dropped.avatar = None;
    assert_eq!(dropped.verify(), Err(ProfileError::AvatarMismatch));
}

#[test]
fn versions_only_move_forward() {
    let (a, b, _) = parties(4);
    let old = ProfileCard::create(&a, 5, "Ada", "", None).unwrap();
    let new = ProfileCard::create(&a, 6, "Ada L.", "", None).unwrap();
    assert!(new.supersedes(&old));
    assert!(!old.supersedes(&new));
    assert!(!new.supersedes(&new));
    let other = ProfileCard::create(&b, 7, "Bob", "", None).unwrap();
    assert!(!other.supersedes(&old));
    assert_eq!(
        ProfileCard::create(&a, 0, "Ada", "", None),
        Err(ProfileError::ZeroVersion)
    );
}

#[test]
fn bad_input_is_refused_with_the_reason() {
    let (a, _, _) = parties(5);
    assert!(matches!(
        Profile::create(&a, 1, "", "", None),
        Err(ProfileError::Text(ProfileTextError::EmptyName))
    ));
    assert!(matches!(
        Profile::create(&a, 1, "Ada", "x\u{2067}y", None),
        Err(ProfileError::Text(
            ProfileTextError::DirectionalFormatting { .. }
        ))
    ));
    assert!(matches!(
        Profile::create(&a, 1, "Ada", "", Some(b"not a picture")),
        Err(ProfileError::Avatar(AvatarError::UnsupportedFormat))
    ));
}

#[test]
fn non_canonical_cards_are_refused() {
    let (a, _, _) = parties(6);
    let card = ProfileCard::create(&a, 1, "Ada", "", None).unwrap();
    let mut bytes = card.encode();
    // A digest with no avatar: the last 64 bytes are the signature, the 32 before the digest.
    let digest_at = bytes.len() - 64 - 32;
    bytes[digest_at] = 1;
    assert_eq!(
        ProfileCard::decode(&bytes),
        Err(DecodeError::InvalidField("digest without an avatar"))
    );
    let mut trailing = card.encode();
    trailing.push(0);
    assert!(ProfileCard::decode(&trailing).is_err());
}

proptest! {
    #[test]
    fn card_round_trip(
        seed in 0u64..16, version in 1u64.., name in "[a-zA-Zé ]{0,63}[a-z]",
        headline in "[^\\p{Cc}]{0,120}", avatar in proptest::option::of(proptest::collection::vec(any::<u8>(), 1..64)),
    ) {
        prop_assume!(check_headline(&headline).is_ok());
        let (a, _, _) = parties(seed);
        let card = ProfileCard::create(&a, version, &name, &headline, avatar.as_deref()).unwrap();
        let bytes = card.encode();
        let back = ProfileCard::decode(&bytes).unwrap();
        prop_assert_eq!(&back, &card);
        prop_assert_eq!(back.encode(), bytes);
        prop_assert!(back.verify().is_ok());
        let profile = Profile { card, avatar };
        prop_assert_eq!(Profile::decode(&profile.encode()).unwrap(), profile.clone());
        prop_assert!(profile.verify().is_ok());
    }

    #[test]
    fn decoders_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..1200)) {
        if let Ok(card) = ProfileCard::decode(&bytes) {
            prop_assert_eq!(card.encode(), bytes.clone());
        }
        if let Ok(profile) = Profile::decode(&bytes) {
            prop_assert_eq!(profile.encode(), bytes);
        }
    }
}
