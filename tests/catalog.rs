//! Job files: every kind of error names the path, the field and the reason.

use std::path::PathBuf;

use reckon::catalog::{Catalog, CatalogError, FileProblem};

fn load(files: &[(&str, &str)]) -> Result<Catalog, Vec<FileProblem>> {
    let files: Vec<(PathBuf, String)> = files
        .iter()
        .map(|(n, t)| (PathBuf::from(format!("jobs/{n}.toml")), t.to_string()))
        .collect();
    match Catalog::from_sources(&files, &reckon::jobs::builtin()) {
        Ok(catalog) => Ok(catalog),
        Err(CatalogError::Invalid(problems)) => Err(problems),
        Err(other) => panic!("unexpected {other}"),
    }
}

const OK: &str = "name = \"a\"\nkind = \"command\"\ncron = \"0 0 2 * * *\"\nshards = 2\n[params]\nprogram = \"true\"\n";

/// `(file, field, reason fragment)` expected for each broken file.
fn check(files: &[(&str, &str)], expected: &[(&str, &str, &str)]) {
    let problems = load(files).expect_err("must be refused");
    let got: Vec<(String, String, String)> = problems
        .iter()
        .map(|p| {
            (
                p.path.display().to_string(),
                p.field.clone(),
                p.reason.clone(),
            )
        })
        .collect();
    assert_eq!(got.len(), expected.len(), "{got:#?}");
    for ((path, field, reason), (want_file, want_field, want_reason)) in got.iter().zip(expected) {
        assert_eq!(path, &format!("jobs/{want_file}.toml"));
        assert_eq!(field, want_field, "{reason}");
        assert!(
            reason.contains(want_reason),
            "{field}: `{reason}` lacks `{want_reason}`"
        );
    }
}

#[test]
fn a_valid_file_loads() {
    let catalog = load(&[("a", OK)]).unwrap();
    let job = catalog.get("a").unwrap();
    assert_eq!((job.shards, job.time_zone.name()), (2, "Asia/Shanghai"));
}

#[test]
fn each_error_names_path_field_and_reason() {
    let with = |line: &str| OK.replacen("shards = 2\n", &format!("shards = 2\n{line}\n"), 1);
    check(
        &[("a", &OK.replace("0 0 2 * * *", "0 2 * * *"))],
        &[("a", "cron", "5 fields")],
    );
    check(
        &[("a", &OK.replace("0 0 2 * * *", "0 0 25 * * *"))],
        &[("a", "cron", "not a valid cron")],
    );
    check(
        &[("a", &with("item_parameters = \"0=alipay,2=wechat\""))],
        &[("a", "item_parameters", "item 2")],
    );
    check(
        &[(
            "a",
            &OK.replace("kind = \"command\"", "kind = \"setlement\""),
        )],
        &[("a", "kind", "unknown job kind `setlement`")],
    );
    check(
        &[("a", &with("time_zone = \"Mars/Olympus\""))],
        &[("a", "time_zone", "Mars/Olympus")],
    );
    check(
        &[("a", &with("timeout = \"soon\""))],
        &[("a", "timeout", "soon")],
    );
    check(
        &[("a", &with("misfire = \"always\""))],
        &[("a", "misfire", "fire_once, skip")],
    );
    check(
        &[("a", &with("runs_per_date = \"twice\""))],
        &[("a", "runs_per_date", "once, every_fire")],
    );
    check(
        &[("a", &with("shard = 3"))],
        &[("a", "shard", "unknown field")],
    );
    check(
        &[("a", &OK.replace("shards = 2", "shards = 0"))],
        &[("a", "shards", "not between 1")],
    );
    check(
        &[("a", &OK.replace("program = \"true\"", ""))],
        &[("a", "params.program", "is required")],
    );
    check(
        &[("a", &OK.replace("name = \"a\"", "name = \"b\""))],
        &[("a", "name", "must match the file name")],
    );
    check(
        &[("a", &with("depends_on = [\"ghost\"]"))],
        &[("a", "depends_on", "unknown job `ghost`")],
    );
    check(
        &[("a", "name = \"a\"\nkind = ")],
        &[("a", "file", "line 2")],
    );
}

#[test]
fn dependency_cycles_are_refused() {
    let a = OK.replace("shards = 2", "shards = 2\ndepends_on = [\"b\"]");
    let b = OK
        .replace("name = \"a\"", "name = \"b\"")
        .replace("shards = 2", "shards = 2\ndepends_on = [\"a\"]");
    check(
        &[("a", &a), ("b", &b)],
        &[
            ("a", "depends_on", "a → b → a"),
            ("b", "depends_on", "b → a → b"),
        ],
    );
    let own = OK.replace("shards = 2", "shards = 2\ndepends_on = [\"a\"]");
    check(&[("a", &own)], &[("a", "depends_on", "a → a")]);
}

#[test]
fn dependency_order_puts_dependencies_first() {
    let a = OK.replace("shards = 2", "shards = 2\ndepends_on = [\"b\"]");
    let b = OK.replace("name = \"a\"", "name = \"b\"");
    let catalog = load(&[("a", &a), ("b", &b)]).unwrap();
    let order: Vec<&str> = catalog
        .dependency_order()
        .iter()
        .map(|j| j.name.as_str())
        .collect();
    assert_eq!(order, ["b", "a"]);
}
