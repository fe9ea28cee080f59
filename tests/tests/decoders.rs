//! Every decoder of untrusted bytes, without a fuzzer: the checks of the fuzz targets
//! (`accord-decoder-checks`) over the committed seed corpus, over arbitrary bytes and text,
//! and over mutations of valid encodings. A check panics when a decoder panics or breaks an
//! invariant (a canonical encoding that does not round-trip, a refused envelope that changed
//! the session, ...), so these tests fail on the regressions the fuzzer would find first.
//! See docs/fuzzing.md.

use std::path::{Path, PathBuf};
use std::sync::LazyLock;

use accord_decoder_checks::seeds::{self, Seed};
use accord_decoder_checks::{TARGETS, Target, target};
use proptest::prelude::*;

/// The targets whose input is text (a pasted attestation, a JSON line, a TOML file).
const TEXT_TARGETS: [&str; 3] = ["attestation", "control_request", "config_file"];

/// The seeds, generated once: the valid encodings the mutations start from.
static SEEDS: LazyLock<Vec<Seed>> = LazyLock::new(seeds::all);

fn seed_corpus(target: &Target) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../crates/fuzz/seeds")
        .join(target.name)
}

fn check(name: &str, data: &[u8]) {
    let target = target(name).unwrap_or_else(|| panic!("no target {name}"));
    (target.check)(data);
}

#[test]
fn the_committed_seed_corpus_passes_every_check() {
    for target in TARGETS {
        let dir = seed_corpus(target);
        let entries = std::fs::read_dir(&dir)
            .unwrap_or_else(|err| panic!("cannot read {}: {err}", dir.display()));
        let mut count = 0;
        for entry in entries {
            let path = entry
                .unwrap_or_else(|err| panic!("cannot list {}: {err}", dir.display()))
                .path();
            let data = std::fs::read(&path)
                .unwrap_or_else(|err| panic!("cannot read {}: {err}", path.display()));
            (target.check)(&data);
            count += 1;
        }
        assert!(count > 0, "{} has no seed corpus", target.name);
    }
}

#[test]
fn every_target_has_seeds_and_they_pass_their_check() {
    for target in TARGETS {
        let seeds: Vec<&Seed> = SEEDS.iter().filter(|s| s.target == target.name).collect();
        assert!(!seeds.is_empty(), "{} has no seeds", target.name);
        for seed in seeds {
            (target.check)(&seed.bytes);
        }
    }
    assert!(
        SEEDS.iter().all(|seed| target(seed.target).is_some()),
        "every seed belongs to a target"
    );
}

/// One change to an input, as libFuzzer's simplest mutators make them. Positions are taken
/// modulo the input's length, so every mutation applies to any input.
#[derive(Debug, Clone)]
enum Mutation {
    FlipBit {
        at: usize,
        bit: u8,
    },
    SetByte {
        at: usize,
        byte: u8,
    },
    Insert {
        at: usize,
        byte: u8,
    },
    Remove {
        at: usize,
    },
    Truncate {
        at: usize,
    },
    /// Copies a run of the input over another place (lengths and counts move with it).
    CopyRun {
        from: usize,
        to: usize,
        len: usize,
    },
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), 0u8..8).prop_map(|(at, bit)| Mutation::FlipBit { at, bit }),
        (
            any::<usize>(),
            prop_oneof![Just(0u8), Just(1), Just(0xff), any::<u8>()]
        )
            .prop_map(|(at, byte)| Mutation::SetByte { at, byte }),
        (any::<usize>(), any::<u8>()).prop_map(|(at, byte)| Mutation::Insert { at, byte }),
        any::<usize>().prop_map(|at| Mutation::Remove { at }),
        any::<usize>().prop_map(|at| Mutation::Truncate { at }),
        (any::<usize>(), any::<usize>(), 1usize..40)
            .prop_map(|(from, to, len)| Mutation::CopyRun { from, to, len }),
    ]
}

fn apply(mut data: Vec<u8>, mutations: &[Mutation]) -> Vec<u8> {
    for mutation in mutations {
        let len = data.len().max(1);
        match *mutation {
            Mutation::FlipBit { at, bit } => {
                if let Some(byte) = data.get_mut(at % len) {
                    *byte ^= 1 << bit;
                }
            }
            Mutation::SetByte { at, byte } => {
                if let Some(slot) = data.get_mut(at % len) {
                    *slot = byte;
                }
            }
            Mutation::Insert { at, byte } => data.insert(at % (data.len() + 1), byte),
            Mutation::Remove { at } => {
                if !data.is_empty() {
                    data.remove(at % len);
                }
            }
            Mutation::Truncate { at } => data.truncate(at % len),
            Mutation::CopyRun { from, to, len: run } => {
                let from = from % len;
                let to = to % len;
                let run: Vec<u8> = data.iter().skip(from).take(run).copied().collect();
                for (slot, byte) in data.iter_mut().skip(to).zip(run) {
                    *slot = byte;
                }
            }
        }
    }
    data
}

proptest! {
    // About a second each in the dev profile.
    #![proptest_config(ProptestConfig::with_cases(1024))]

    #[test]
    fn arbitrary_bytes_break_no_decoder(data in proptest::collection::vec(any::<u8>(), 0..700)) {
        for target in TARGETS {
            (target.check)(&data);
        }
    }

    #[test]
    fn arbitrary_text_breaks_no_text_decoder(text in "(?s).{0,300}") {
        for name in TEXT_TARGETS {
            check(name, text.as_bytes());
        }
    }

    #[test]
    fn valid_encodings_fed_to_the_wrong_decoder_break_nothing(index in 0..SEEDS.len()) {
        for target in TARGETS {
            (target.check)(&SEEDS[index].bytes);
        }
    }
}

proptest! {
    // Mutations are where the bugs are: many more cases, still a few seconds.
    #![proptest_config(ProptestConfig::with_cases(8192))]

    #[test]
    fn mutated_valid_encodings_break_no_decoder(
        index in 0..SEEDS.len(),
        mutations in proptest::collection::vec(mutation(), 1..6),
    ) {
        let seed = &SEEDS[index];
        let data = apply(seed.bytes.clone(), &mutations);
        check(seed.target, &data);
    }
}
