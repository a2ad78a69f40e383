//! `report.xlsx`: a run's CSV reports as one workbook for finance staff
//! (one sheet per report), built from the CSV bytes themselves so the two
//! never disagree.
//!
//! Each sheet: row 1 the Chinese column titles (中文列名), row 2 the English
//! ones (the CSV header) with an autofilter, both frozen; the data; then a
//! totals row (合计) summing the count and amount columns (a report's own
//! total lines, and rollforward.csv's age and category lines, left out). Amount columns are
//! numbers with a number format of two decimals (more when the column holds
//! more, e.g. WeChat's 5-decimal fees); counts are integers; everything else
//! stays text exactly as in the CSV. Content is deterministic: the document's
//! creation time is the business date, and the writer gives zip members a
//! fixed timestamp.
//!
//! Numbers in a workbook are IEEE doubles (the file format has no decimal
//! type). Each amount is converted from its exact decimal text to the nearest
//! double, which Excel shows as the same decimal (at most 15 significant
//! digits: 13 integer digits and 2 decimals). The CSV stays the exact record.

use std::collections::BTreeSet;

use chrono::{Datelike, NaiveDate};
use rust_decimal::Decimal;
use rust_xlsxwriter::{
    DocProperties, ExcelDateTime, Format, FormatAlign, Formula, Workbook, Worksheet, XlsxError,
};

use super::ReportError;

/// The workbook's file name in a run's report directory.
pub const WORKBOOK_FILE: &str = "report.xlsx";

/// English column name → Chinese title (the terms finance staff use).
const TITLES: &[(&str, &str)] = &[
    ("amount", "金额"),
    ("aged_amount", "账龄迁移金额"),
    ("aged_count", "账龄迁移笔数"),
    ("age_bucket", "账龄区间"),
    ("auto_resolved_amount", "系统销账金额"),
    ("auto_resolved_count", "系统销账笔数"),
    ("bank_credit", "银行入账"),
    ("bank_date", "入账日期"),
    ("business_date", "业务日期"),
    ("category", "差异类型"),
    ("channel", "渠道"),
    ("closing_amount", "期末金额"),
    ("closing_count", "期末笔数"),
    ("count", "笔数"),
    ("credit", "贷方"),
    ("currency", "币种"),
    ("date", "日期"),
    ("debit", "借方"),
    ("delta", "差额"),
    ("detail", "说明"),
    ("difference", "差额"),
    ("dimension", "维度"),
    ("fee_delta", "手续费差额"),
    ("file", "文件"),
    ("found_as", "原差异类型"),
    ("group", "分组"),
    ("item", "项目"),
    ("key", "匹配键"),
    ("kind", "类型"),
    ("ledger_amount", "我方金额"),
    ("ledger_count", "我方笔数"),
    ("ledger_fee", "我方手续费"),
    ("ledger_file", "我方来源"),
    ("ledger_line", "我方行号"),
    ("ledger_status", "我方状态"),
    ("ledger_time", "我方时间"),
    ("line", "行号"),
    ("manual_amount", "人工处理金额"),
    ("manual_count", "人工处理笔数"),
    ("merchant_id", "商户号"),
    ("metric", "指标"),
    ("net_amount", "净额"),
    ("new_amount", "新增金额"),
    ("new_count", "新增笔数"),
    ("off_side", "差异方"),
    ("opening_amount", "期初金额"),
    ("opening_count", "期初笔数"),
    ("order_no", "订单号"),
    ("outcome", "处理结果"),
    ("paired_amount", "今日对应金额"),
    ("paired_file", "今日对应文件"),
    ("paired_line", "今日对应行号"),
    ("paired_time", "今日对应时间"),
    ("raw", "原始内容"),
    ("reason", "原因"),
    ("reason_code", "原因代码"),
    ("result", "结果"),
    ("section", "部分"),
    ("settlement", "渠道结算"),
    ("settlement_minus_trade", "结算减交易"),
    ("bank_minus_settlement", "银行减结算"),
    ("side", "所在方"),
    ("statement_amount", "渠道金额"),
    ("statement_count", "渠道笔数"),
    ("statement_fee", "渠道手续费"),
    ("statement_file", "渠道文件"),
    ("statement_line", "渠道行号"),
    ("statement_status", "渠道状态"),
    ("statement_time", "渠道时间"),
    ("status", "状态"),
    ("tolerance", "容差"),
    ("trade_fees", "交易手续费"),
    ("trade_net", "交易净额"),
    ("trade_payments", "交易收款"),
    ("trade_refunds", "交易退款"),
];

/// The Chinese title of an English column name ("" when none is known).
pub fn chinese_title(column: &str) -> &'static str {
    TITLES
        .iter()
        .find(|(english, _)| *english == column)
        .map(|(_, chinese)| *chinese)
        .unwrap_or("")
}

/// How a column is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Column {
    Text,
    /// Whole numbers, summed in the totals row.
    Count,
    /// Decimal amounts with this many decimals (at least 2), summed.
    Amount(u32),
}

/// Builds the workbook from `(name, csv bytes, rows)` report files (any
/// other file is left out). `date` is the document's creation date.
pub fn workbook(
    files: &[(String, Vec<u8>, u64)],
    date: NaiveDate,
) -> Result<(String, Vec<u8>, u64), ReportError> {
    build(files, date).map_err(|source| ReportError::Xlsx {
        name: WORKBOOK_FILE.to_string(),
        reason: source,
    })
}

fn build(
    files: &[(String, Vec<u8>, u64)],
    date: NaiveDate,
) -> Result<(String, Vec<u8>, u64), String> {
    let mut book = Workbook::new();
    let created = ExcelDateTime::from_ymd(
        u16::try_from(date.year()).map_err(|_| format!("year {} out of range", date.year()))?,
        date.month() as u8,
        date.day() as u8,
    )
    .map_err(xlsx)?;
    book.set_properties(&DocProperties::new().set_creation_datetime(&created));
    let mut names = BTreeSet::new();
    let mut rows_written = 0u64;
    for (name, bytes, _) in files {
        let Some(stem) = name.strip_suffix(".csv") else {
            continue;
        };
        let sheet_name = unique_sheet_name(stem, &mut names);
        let table = read_csv(name, bytes)?;
        let sheet = book.add_worksheet();
        sheet.set_name(&sheet_name).map_err(xlsx)?;
        rows_written += write_sheet(sheet, &table)?;
    }
    let bytes = book.save_to_buffer().map_err(xlsx)?;
    Ok((WORKBOOK_FILE.to_string(), bytes, rows_written))
}

fn xlsx(error: XlsxError) -> String {
    error.to_string()
}

/// A report's header and rows as text.
struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

fn read_csv(name: &str, bytes: &[u8]) -> Result<Table, String> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(false)
        .from_reader(bytes);
    let header = reader
        .headers()
        .map_err(|e| format!("{name}: {e}"))?
        .iter()
        .map(str::to_string)
        .collect();
    let rows = reader
        .records()
        .map(|record| {
            record
                .map(|r| r.iter().map(str::to_string).collect())
                .map_err(|e| format!("{name}: {e}"))
        })
        .collect::<Result<_, _>>()?;
    Ok(Table { header, rows })
}

/// Sheet names are at most 31 characters and unique (case-insensitively).
fn unique_sheet_name(stem: &str, taken: &mut BTreeSet<String>) -> String {
    let base: String = stem
        .chars()
        .map(|c| if "[]:*?/\\".contains(c) { '_' } else { c })
        .take(28)
        .collect();
    let mut name = base.clone();
    let mut n = 2;
    while !taken.insert(name.to_lowercase()) {
        name = format!("{base}~{n}");
        n += 1;
    }
    name
}

/// The kind of column `index`: by its name, confirmed by every cell.
fn column_kind(table: &Table, index: usize) -> Column {
    let name = table.header[index].as_str();
    let cells = || {
        table
            .rows
            .iter()
            .filter_map(move |row| row.get(index))
            .filter(|cell| !cell.is_empty())
    };
    let is_count = name == "count" || name.ends_with("_count") || name == "rows";
    if is_count && cells().all(|cell| cell.parse::<i64>().is_ok()) {
        return Column::Count;
    }
    const AMOUNT_WORDS: [&str; 12] = [
        "amount",
        "delta",
        "fee",
        "debit",
        "credit",
        "difference",
        "balance",
        "minus",
        "net",
        "settlement",
        "tolerance",
        "payments",
    ];
    let amountish = AMOUNT_WORDS.iter().any(|word| name.contains(word))
        || name == "trade_refunds"
        || name == "bank_credit";
    if !amountish {
        return Column::Text;
    }
    let mut scale = 2;
    for cell in cells() {
        match cell.parse::<Decimal>() {
            Ok(value) => scale = scale.max(value.scale()),
            Err(_) => return Column::Text,
        }
    }
    Column::Amount(scale)
}

fn number_format(scale: u32) -> Format {
    let decimals = "0".repeat(scale as usize);
    Format::new().set_num_format(format!("#,##0.{decimals}"))
}

/// Writes one report; returns its data rows.
fn write_sheet(sheet: &mut Worksheet, table: &Table) -> Result<u64, String> {
    let bold = Format::new().set_bold();
    let title = Format::new().set_bold().set_align(FormatAlign::Center);
    let kinds: Vec<Column> = (0..table.header.len())
        .map(|i| column_kind(table, i))
        .collect();
    for (col, english) in table.header.iter().enumerate() {
        let col = col_index(col)?;
        sheet
            .write_string_with_format(0, col, chinese_title(english), &title)
            .map_err(xlsx)?;
        sheet
            .write_string_with_format(1, col, english, &bold)
            .map_err(xlsx)?;
        let width = english.chars().count().clamp(8, 40) as f64 + 2.0;
        sheet.set_column_width(col, width).map_err(xlsx)?;
    }
    let last_col = col_index(table.header.len().saturating_sub(1))?;
    let first_data = 2u32;
    for (r, row) in table.rows.iter().enumerate() {
        let excel_row = first_data + row_index(r)?;
        for (c, cell) in row.iter().enumerate() {
            let col = col_index(c)?;
            match kinds.get(c).copied().unwrap_or(Column::Text) {
                Column::Count if !cell.is_empty() => {
                    let value: i64 = cell.parse().map_err(|_| format!("count `{cell}`"))?;
                    sheet
                        .write_number_with_format(excel_row, col, value as f64, &number_format0())
                        .map_err(xlsx)?;
                }
                Column::Amount(scale) if !cell.is_empty() => {
                    sheet
                        .write_number_with_format(
                            excel_row,
                            col,
                            to_double(cell)?,
                            &number_format(scale),
                        )
                        .map_err(xlsx)?;
                }
                _ => {
                    sheet.write_string(excel_row, col, cell).map_err(xlsx)?;
                }
            }
        }
    }
    let total_row = first_data + row_index(table.rows.len())?;
    sheet
        .write_string_with_format(total_row, 0, "合计 total", &bold)
        .map_err(xlsx)?;
    for (c, kind) in kinds.iter().enumerate() {
        let col = col_index(c)?;
        let (format, total) = match kind {
            Column::Text => continue,
            Column::Count => (number_format0(), sum_column(table, c)?),
            Column::Amount(scale) => (number_format(*scale), sum_column(table, c)?),
        };
        if c == 0 {
            continue;
        }
        let letter = rust_xlsxwriter::utility::column_number_to_name(col);
        let every_row_counted = counted_rows(table).count() == table.rows.len();
        if !every_row_counted {
            // No plain SUM fits: the exact total of the counted rows, as a number.
            sheet
                .write_number_with_format(
                    total_row,
                    col,
                    to_double(&total.to_string())?,
                    &format.set_bold(),
                )
                .map_err(xlsx)?;
            continue;
        }
        let formula = if table.rows.is_empty() {
            Formula::new("=0").set_result("0")
        } else {
            Formula::new(format!(
                "=SUM({letter}{}:{letter}{})",
                first_data + 1,
                total_row
            ))
            .set_result(total.normalize().to_string())
        };
        sheet
            .write_formula_with_format(total_row, col, formula, &format.set_bold())
            .map_err(xlsx)?;
    }
    sheet.set_freeze_panes(first_data, 0).map_err(xlsx)?;
    let last_row = match table.rows.len() {
        0 => 1,
        n => first_data + row_index(n - 1)?,
    };
    sheet.autofilter(1, 0, last_row, last_col).map_err(xlsx)?;
    Ok(table.rows.len() as u64)
}

fn number_format0() -> Format {
    Format::new().set_num_format("0")
}

/// Whether a row is part of the totals: not itself a total line
/// (`total_read`, `total`, `合计` in the first column) and, in a report with a `dimension`
/// column (rollforward.csv), a `total` line only — the age and category lines
/// break the same figures down again.
fn counted(table: &Table, row: &[String]) -> bool {
    let dimension = table.header.iter().position(|name| name == "dimension");
    let breakdown = dimension.is_some_and(|i| row.get(i).is_some_and(|d| d != "total"));
    !own_total(row) && !breakdown
}

/// The rows that make the totals: [`counted`] ones before the report's own
/// total line (summary.csv's finding and fee rows follow `total_read` and lie
/// outside it). One pass over the rows.
fn counted_rows(table: &Table) -> impl Iterator<Item = &Vec<String>> {
    table
        .rows
        .iter()
        .take_while(|row| !own_total(row))
        .filter(|row| counted(table, row))
}

/// A report's own total line: `total…` or `合计…` in the first column.
fn own_total(row: &[String]) -> bool {
    let first = row.first().map(String::as_str).unwrap_or_default();
    first.starts_with("total") || first.starts_with("合计")
}

/// The exact sum of a numeric column over the [`counted`] rows (empty cells
/// count as nothing).
fn sum_column(table: &Table, index: usize) -> Result<Decimal, String> {
    let mut total = Decimal::ZERO;
    let rows = counted_rows(table);
    for cell in rows.filter_map(|row| row.get(index)) {
        if cell.is_empty() {
            continue;
        }
        let value: Decimal = cell.parse().map_err(|_| format!("number `{cell}`"))?;
        total = total
            .checked_add(value)
            .ok_or_else(|| "column total out of range".to_string())?;
    }
    Ok(total)
}

/// The nearest double to a decimal text (the only conversion to floating
/// point, at the workbook's edge; see the module documentation).
fn to_double(cell: &str) -> Result<f64, String> {
    cell.parse::<f64>()
        .map_err(|_| format!("amount `{cell}` is not a number"))
}

fn col_index(index: usize) -> Result<u16, String> {
    u16::try_from(index).map_err(|_| format!("column {index} beyond the sheet"))
}

fn row_index(index: usize) -> Result<u32, String> {
    u32::try_from(index).map_err(|_| format!("row {index} beyond the sheet"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_reports_give_the_same_bytes() {
        let files = vec![(
            "diff.csv".to_string(),
            b"category,key,delta,ledger_count\namount_mismatch,P1,-0.50,3\n".to_vec(),
            1,
        )];
        let date = NaiveDate::from_ymd_opt(2026, 11, 21).unwrap();
        let a = workbook(&files, date).unwrap();
        let b = workbook(&files, date).unwrap();
        assert_eq!(a.1, b.1);
        assert_eq!(a.2, 1);
    }

    #[test]
    fn column_kinds_follow_names_and_cells() {
        let table = Table {
            header: vec![
                "key".into(),
                "delta".into(),
                "fee".into(),
                "ledger_count".into(),
            ],
            rows: vec![vec![
                "12".into(),
                "-0.50".into(),
                "0.00006".into(),
                "3".into(),
            ]],
        };
        assert_eq!(column_kind(&table, 0), Column::Text);
        assert_eq!(column_kind(&table, 1), Column::Amount(2));
        assert_eq!(column_kind(&table, 2), Column::Amount(5));
        assert_eq!(column_kind(&table, 3), Column::Count);
    }
}
