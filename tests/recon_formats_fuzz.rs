//! Fuzzing the statement readers (proptest): arbitrary bytes, and mutations
//! of the real-layout fixtures (fixtures/recon/published/): truncation, the
//! wrong encoding, extra and missing fields, huge numbers, stray quotes and
//! backticks, random byte edits, compressed containers. Properties: never a
//! panic; every outcome is records plus rejects (one per row at most, each
//! naming a line of the file) or a clear error naming the file; what a reader
//! accepts, the engine takes without failing.
//!
//! `cargo test --test recon_formats_fuzz` runs a short round (64 cases per
//! property); `RECKON_FUZZ_CASES=N` runs a longer one (README: figures).

use std::path::{Path, PathBuf};

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use reckon::jobs::recon::engine::{CompareConfig, SideBuilder, SideName, compare};
use reckon::jobs::recon::formats::{
    FormatError, FormatName, GenericMapping, ReadOptions, StatementFormat, open_bytes,
    open_bytes_limited, parse_statement, stream_opened,
};

const NAME: &str = "fuzz.csv";

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures/recon/published")
            .join(name),
    )
    .expect("fixture")
}

fn cases() -> u32 {
    std::env::var("RECKON_FUZZ_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(64)
}

fn runner() -> TestRunner {
    TestRunner::new(Config {
        cases: cases(),
        failure_persistence: None,
        ..Config::default()
    })
}

fn formats() -> Vec<(&'static str, StatementFormat)> {
    let bank = String::from_utf8(fixture("bank_export_mapping.toml")).expect("mapping text");
    let bank = GenericMapping::from_toml_str(&bank).expect("mapping");
    vec![
        ("wechat", StatementFormat::Wechat),
        ("alipay", StatementFormat::Alipay),
        (
            "ledger",
            StatementFormat::new(FormatName::Generic, None).expect("ledger"),
        ),
        (
            "bank",
            StatementFormat::new(FormatName::Generic, Some(bank)).expect("bank"),
        ),
    ]
}

/// Reads `bytes` as a file would be read (containers opened first) and
/// checks the outcome; the engine then takes what was accepted.
fn check(bytes: Vec<u8>, format: &StatementFormat) -> Result<(), TestCaseError> {
    let path = PathBuf::from(NAME);
    let lines = bytes.iter().filter(|b| **b == b'\n').count() as u64 + 1;
    let opened = match open_bytes(&path, bytes) {
        Ok(opened) => opened,
        Err(error) => {
            prop_assert!(error.to_string().contains(NAME), "{error}");
            return Ok(());
        }
    };
    let inner_lines = opened.bytes.iter().filter(|b| **b == b'\n').count() as u64 + 1;
    let mut builder = SideBuilder::new(SideName::Statement);
    let mut records = 0u64;
    let outcome = stream_opened(
        &path,
        &opened,
        format,
        ReadOptions::default(),
        &mut |record| {
            records += 1;
            builder.push_record(&record);
        },
    );
    match outcome {
        Ok(summary) => {
            let max_line = lines.max(inner_lines);
            prop_assert_eq!(summary.read.count(), records);
            prop_assert!(summary.read.rows() <= max_line, "more rows than lines");
            for reject in &summary.rejects {
                prop_assert!(reject.line >= 1 && reject.line <= max_line, "{:?}", reject);
                prop_assert!(!reject.reason.to_string().is_empty());
            }
            builder.push_rejects(summary.rejects);
            let statement = builder.finish();
            let ledger = SideBuilder::new(SideName::Ledger).finish();
            let comparison = compare(&ledger, &statement, &CompareConfig::default());
            prop_assert!(comparison.is_ok(), "{:?}", comparison.err());
        }
        Err(error) => {
            let text = error.to_string();
            prop_assert!(text.contains(NAME) || text.contains("mapping"), "{text}");
        }
    }
    Ok(())
}

#[test]
fn arbitrary_bytes_never_panic() {
    let mut runner = runner();
    for (_, format) in formats() {
        runner
            .run(&proptest::collection::vec(any::<u8>(), 0..2048), |bytes| {
                check(bytes, &format)
            })
            .unwrap();
    }
}

/// Texts that break readers: huge numbers, stray quotes and backticks,
/// separators, padding, a lone `\r`, characters outside GBK.
const NASTY: &[&str] = &[
    "99999999999999999999999999999999999",
    "1e308",
    "-0.000000000000000000000000001",
    "\"",
    "`",
    "``",
    ",",
    ",`",
    "\t",
    "\r",
    "\u{3000}",
    "#",
    "合计",
    "总交易单数",
    "#交易合计：99999999999999999999笔，商家实收共1元，商家优惠共0元",
    "😀",
    "(1,234.50)",
    "0.00006",
    "6e-05",
    "REFUND",
    "CHANGE",
    "退款",
];

/// One mutation of a fixture's bytes.
#[derive(Debug, Clone)]
enum Mutation {
    Truncate(usize),
    DeleteRange(usize, usize),
    Insert(usize, usize),
    FlipByte(usize, u8),
    DuplicateLine(usize),
    DropLine(usize),
    /// Re-encode: UTF-8 text as GBK, or GBK bytes taken as UTF-8 (wrong encoding).
    Reencode,
    /// Replace the n-th field separator (`,`) with two, or remove it.
    ExtraField(usize),
    MissingField(usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        any::<usize>().prop_map(Mutation::Truncate),
        (any::<usize>(), 0usize..64).prop_map(|(a, n)| Mutation::DeleteRange(a, n)),
        (any::<usize>(), 0..NASTY.len()).prop_map(|(a, n)| Mutation::Insert(a, n)),
        (any::<usize>(), any::<u8>()).prop_map(|(a, b)| Mutation::FlipByte(a, b)),
        any::<usize>().prop_map(Mutation::DuplicateLine),
        any::<usize>().prop_map(Mutation::DropLine),
        Just(Mutation::Reencode),
        any::<usize>().prop_map(Mutation::ExtraField),
        any::<usize>().prop_map(Mutation::MissingField),
    ]
}

fn apply(mut bytes: Vec<u8>, mutation: &Mutation) -> Vec<u8> {
    let at = |n: usize, len: usize| if len == 0 { 0 } else { n % (len + 1) };
    let line_starts = |bytes: &[u8]| -> Vec<usize> {
        std::iter::once(0)
            .chain(
                bytes
                    .iter()
                    .enumerate()
                    .filter(|(_, b)| **b == b'\n')
                    .map(|(i, _)| i + 1),
            )
            .collect()
    };
    match *mutation {
        Mutation::Truncate(n) => {
            let cut = at(n, bytes.len());
            bytes.truncate(cut);
        }
        Mutation::DeleteRange(n, len) => {
            let start = at(n, bytes.len());
            let end = (start + len).min(bytes.len());
            bytes.drain(start..end);
        }
        Mutation::Insert(n, which) => {
            let start = at(n, bytes.len());
            let text = NASTY[which].as_bytes();
            bytes.splice(start..start, text.iter().copied());
        }
        Mutation::FlipByte(n, value) => {
            if !bytes.is_empty() {
                let index = n % bytes.len();
                bytes[index] = value;
            }
        }
        Mutation::DuplicateLine(n) | Mutation::DropLine(n) => {
            let starts = line_starts(&bytes);
            let line = n % starts.len();
            let start = starts[line];
            let end = starts.get(line + 1).copied().unwrap_or(bytes.len());
            let copy = bytes[start..end].to_vec();
            if matches!(mutation, Mutation::DropLine(_)) {
                bytes.drain(start..end);
            } else {
                bytes.splice(start..start, copy);
            }
        }
        Mutation::Reencode => {
            bytes = match std::str::from_utf8(&bytes) {
                Ok(text) => encoding_rs::GBK.encode(text).0.into_owned(),
                Err(_) => encoding_rs::GBK.decode(&bytes).0.into_owned().into_bytes(),
            };
        }
        Mutation::ExtraField(n) | Mutation::MissingField(n) => {
            let commas: Vec<usize> = bytes
                .iter()
                .enumerate()
                .filter(|(_, b)| **b == b',')
                .map(|(i, _)| i)
                .collect();
            if !commas.is_empty() {
                let index = commas[n % commas.len()];
                if matches!(mutation, Mutation::ExtraField(_)) {
                    bytes.insert(index, b',');
                } else {
                    bytes.remove(index);
                }
            }
        }
    }
    bytes
}

/// The published fixtures each format reads, in every container they come in.
fn seeds() -> Vec<(&'static str, &'static str)> {
    vec![
        ("wechat", "wechat_all_20240709.csv"),
        ("wechat", "wechat_success_20240709.csv"),
        ("wechat", "wechat_refund_20240709.csv"),
        ("wechat", "wechat_success_2016_roncoo.csv"),
        ("wechat", "wechat_nobill_20240710.csv"),
        ("wechat", "wechat_all_20240709.csv.gz"),
        ("alipay", "alipay_detail_20261121.csv"),
        ("alipay", "alipay_qdingnet_20190916.csv"),
        ("alipay", "20889211234567890156_20261121.csv.zip"),
        ("bank", "bank_export_20261121.csv"),
    ]
}

#[test]
fn mutated_real_layouts_never_panic() {
    let formats = formats();
    let mut runner = runner();
    for (format_name, file) in seeds() {
        let seed = fixture(file);
        let format = &formats
            .iter()
            .find(|(name, _)| *name == format_name)
            .expect("format")
            .1;
        // The unmutated fixture reads cleanly.
        check(seed.clone(), format).unwrap();
        runner
            .run(&proptest::collection::vec(mutation(), 1..6), |mutations| {
                let bytes = mutations.iter().fold(seed.clone(), apply);
                check(bytes, format)
            })
            .unwrap_or_else(|e| panic!("{file}: {e}"));
    }
}

#[test]
fn mutated_decompressed_members_never_panic() {
    // Mutate the text inside the containers, then pack it again.
    let formats = formats();
    let wechat = &formats[0].1;
    let plain = fixture("wechat_all_20240709.csv");
    let mut runner = runner();
    runner
        .run(&proptest::collection::vec(mutation(), 1..4), |mutations| {
            let text = mutations.iter().fold(plain.clone(), apply);
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            std::io::Write::write_all(&mut gz, &text).unwrap();
            check(gz.finish().unwrap(), wechat)
        })
        .unwrap();
}

#[test]
fn a_gzip_or_zip_bomb_is_refused_at_the_bound() {
    // 8 MiB of zeros compress to a few KiB; with a 1 MiB bound, reading stops there.
    let path = PathBuf::from(NAME);
    let zeros = vec![0u8; 8 << 20];
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gz, &zeros).unwrap();
    let error = open_bytes_limited(&path, gz.finish().unwrap(), 1 << 20).unwrap_err();
    assert!(error.to_string().contains(NAME), "{error}");
    let Err(FormatError::Layout { reason, .. }) =
        open_bytes_limited(&path, fixture("20889211234567890156_20261121.csv.zip"), 100)
    else {
        panic!("a member above the bound is refused");
    };
    assert!(
        reason.contains("decompresses to more than 100 bytes"),
        "{reason}"
    );
}

#[test]
fn parse_statement_on_every_fixture_prefix_never_panics() {
    // Every cut of the WeChat bill: exhaustive truncation of a real layout.
    let bytes = fixture("wechat_all_20240709.csv");
    let path = Path::new(NAME);
    for cut in 0..=bytes.len() {
        let _ = parse_statement(
            path,
            &bytes[..cut],
            &StatementFormat::Wechat,
            ReadOptions::default(),
        );
    }
}
